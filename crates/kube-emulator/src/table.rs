//! Server-side printing: `meta.k8s.io/v1` Table responses for `kubectl get`.

use serde_json::{Value, json};

use crate::resources::ResourceDef;
use crate::server::ApiRequest;
use crate::util::{get_path, get_str, human_age};

/// Whether the client asked for a Table.
pub fn wants_table(req: &ApiRequest) -> bool {
    req.header("accept")
        .split(',')
        .next()
        .is_some_and(|first| first.replace(' ', "").contains("as=Table"))
}

fn col(name: &str, ty: &str, format: &str, desc: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

fn columns(def: &ResourceDef) -> Vec<Value> {
    let mut cols = vec![col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
        0,
    )];
    match def.kind.as_str() {
        "Deployment" => {
            cols.push(col(
                "Ready",
                "string",
                "",
                "Number of the pod with ready state",
                0,
            ));
            cols.push(col("Up-to-date", "string", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0));
            cols.push(col("Available", "string", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0));
        }
        "StatefulSet" => cols.push(col(
            "Ready",
            "string",
            "",
            "Number of the pod with ready state",
            0,
        )),
        "ConfigMap" => cols.push(col(
            "Data",
            "integer",
            "",
            "Number of user provided data entries",
            0,
        )),
        "Secret" => {
            cols.push(col("Type", "string", "", "The type of the secret", 0));
            cols.push(col("Data", "integer", "", "Number of data entries", 0));
        }
        "Namespace" => cols.push(col(
            "Status",
            "string",
            "",
            "The status of the namespace",
            0,
        )),
        "Job" => cols.push(col("Status", "string", "", "Status of the job", 0)),
        "Service" => {
            cols.push(col("Type", "string", "", "The type of the service", 0));
            cols.push(col(
                "Cluster-IP",
                "string",
                "",
                "The cluster IP of the service",
                0,
            ));
        }
        _ => {}
    }
    for pc in &def.printer_columns {
        let name = pc.get("name").and_then(Value::as_str).unwrap_or("");
        if name.eq_ignore_ascii_case("age") {
            continue;
        }
        cols.push(col(
            name,
            pc.get("type").and_then(Value::as_str).unwrap_or("string"),
            pc.get("format").and_then(Value::as_str).unwrap_or(""),
            pc.get("description").and_then(Value::as_str).unwrap_or(""),
            pc.get("priority").and_then(Value::as_i64).unwrap_or(0),
        ));
    }
    cols.push(col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0));
    cols
}

fn json_path(obj: &Value, path: &str) -> Value {
    let path = path.trim_start_matches('.');
    let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    match get_path(obj, &segs) {
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn cells(def: &ResourceDef, obj: &Value) -> Vec<Value> {
    let n = |p: &[&str]| get_path(obj, p).and_then(Value::as_i64).unwrap_or(0);
    let mut cells = vec![json!(get_str(obj, &["metadata", "name"]).unwrap_or(""))];
    match def.kind.as_str() {
        "Deployment" => {
            cells.push(json!(format!(
                "{}/{}",
                n(&["status", "readyReplicas"]),
                n(&["spec", "replicas"])
            )));
            cells.push(json!(n(&["status", "updatedReplicas"])));
            cells.push(json!(n(&["status", "availableReplicas"])));
        }
        "StatefulSet" => cells.push(json!(format!(
            "{}/{}",
            n(&["status", "readyReplicas"]),
            n(&["spec", "replicas"])
        ))),
        "ConfigMap" => {
            let count = ["data", "binaryData"]
                .iter()
                .filter_map(|k| obj.get(*k).and_then(Value::as_object))
                .map(|m| m.len())
                .sum::<usize>();
            cells.push(json!(count));
        }
        "Secret" => {
            cells.push(json!(get_str(obj, &["type"]).unwrap_or("Opaque")));
            cells.push(json!(
                obj.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
            ));
        }
        "Namespace" => cells.push(json!(
            get_str(obj, &["status", "phase"]).unwrap_or("Active")
        )),
        "Job" => {
            let conds = get_path(obj, &["status", "conditions"]).and_then(Value::as_array);
            let has = |t: &str| {
                conds.is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some(t)
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else {
                "Running"
            };
            cells.push(json!(status));
        }
        "Service" => {
            cells.push(json!(
                get_str(obj, &["spec", "type"]).unwrap_or("ClusterIP")
            ));
            cells.push(json!(
                get_str(obj, &["spec", "clusterIP"]).unwrap_or("<none>")
            ));
        }
        _ => {}
    }
    for pc in &def.printer_columns {
        let name = pc.get("name").and_then(Value::as_str).unwrap_or("");
        if name.eq_ignore_ascii_case("age") {
            continue;
        }
        let path = pc.get("jsonPath").and_then(Value::as_str).unwrap_or("");
        cells.push(json_path(obj, path));
    }
    cells.push(json!(human_age(get_str(
        obj,
        &["metadata", "creationTimestamp"]
    ))));
    cells
}

fn row_object(obj: &Value, req: &ApiRequest) -> Value {
    match req.q("includeObject") {
        Some("None") => Value::Null,
        Some("Object") => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
    }
}

/// Renders objects as a Table.
pub fn table(def: &ResourceDef, objs: &[Value], list_meta: Value, req: &ApiRequest) -> Value {
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| json!({"cells": cells(def, o), "object": row_object(o, req)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(def),
        "rows": rows,
    })
}

/// Whether the client asked for `PartialObjectMetadata` (metadata-only) responses.
pub fn wants_metadata(req: &ApiRequest) -> bool {
    req.header("accept")
        .split(',')
        .next()
        .is_some_and(|first| first.replace(' ', "").contains("as=PartialObjectMetadata"))
}

/// The `PartialObjectMetadata` form of an object.
pub fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}
