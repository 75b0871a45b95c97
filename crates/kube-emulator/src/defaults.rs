//! Defaults the real API server fills into built-in kinds, and immutable-field checks.

use serde_json::{Value, json};

use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::store::State;
use crate::util::{get_path, get_str, set_default};

/// Applies defaults for `def.kind` to `obj`; `old` is the stored object on updates.
pub fn apply(def: &ResourceDef, obj: &mut Value, old: Option<&Value>, state: &mut State) {
    match def.kind.as_str() {
        "Deployment" => {
            set_default(obj, &["spec"], "replicas", json!(1));
            set_default(obj, &["spec"], "revisionHistoryLimit", json!(10));
            set_default(obj, &["spec"], "progressDeadlineSeconds", json!(600));
            set_default(obj, &["spec", "strategy"], "type", json!("RollingUpdate"));
            if get_str(obj, &["spec", "strategy", "type"]) == Some("RollingUpdate") {
                set_default(
                    obj,
                    &["spec", "strategy", "rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                set_default(
                    obj,
                    &["spec", "strategy", "rollingUpdate"],
                    "maxSurge",
                    json!("25%"),
                );
            }
            pod_template(obj, &["spec", "template"]);
        }
        "StatefulSet" => {
            set_default(obj, &["spec"], "replicas", json!(1));
            set_default(obj, &["spec"], "revisionHistoryLimit", json!(10));
            set_default(obj, &["spec"], "podManagementPolicy", json!("OrderedReady"));
            set_default(
                obj,
                &["spec", "updateStrategy"],
                "type",
                json!("RollingUpdate"),
            );
            if get_str(obj, &["spec", "updateStrategy", "type"]) == Some("RollingUpdate") {
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate"],
                    "partition",
                    json!(0),
                );
            }
            set_default(
                obj,
                &["spec", "persistentVolumeClaimRetentionPolicy"],
                "whenDeleted",
                json!("Retain"),
            );
            set_default(
                obj,
                &["spec", "persistentVolumeClaimRetentionPolicy"],
                "whenScaled",
                json!("Retain"),
            );
            pod_template(obj, &["spec", "template"]);
        }
        "DaemonSet" => {
            set_default(obj, &["spec"], "revisionHistoryLimit", json!(10));
            set_default(
                obj,
                &["spec", "updateStrategy"],
                "type",
                json!("RollingUpdate"),
            );
            if get_str(obj, &["spec", "updateStrategy", "type"]) == Some("RollingUpdate") {
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate"],
                    "maxUnavailable",
                    json!(1),
                );
                set_default(
                    obj,
                    &["spec", "updateStrategy", "rollingUpdate"],
                    "maxSurge",
                    json!(0),
                );
            }
            pod_template(obj, &["spec", "template"]);
        }
        "ReplicaSet" => {
            set_default(obj, &["spec"], "replicas", json!(1));
            pod_template(obj, &["spec", "template"]);
        }
        "Job" => {
            job_spec(obj, &["spec"], old);
            set_default(
                obj,
                &["spec", "template", "spec"],
                "restartPolicy",
                json!("Never"),
            );
            pod_template(obj, &["spec", "template"]);
        }
        "CronJob" => {
            set_default(obj, &["spec"], "concurrencyPolicy", json!("Allow"));
            set_default(obj, &["spec"], "suspend", json!(false));
            set_default(obj, &["spec"], "successfulJobsHistoryLimit", json!(3));
            set_default(obj, &["spec"], "failedJobsHistoryLimit", json!(1));
            for (k, v) in [
                ("backoffLimit", json!(6)),
                ("completionMode", json!("NonIndexed")),
                ("suspend", json!(false)),
                ("podReplacementPolicy", json!("TerminatingOrFailed")),
            ] {
                set_default(obj, &["spec", "jobTemplate", "spec"], k, v);
            }
            set_default(
                obj,
                &["spec", "jobTemplate", "spec", "template", "spec"],
                "restartPolicy",
                json!("Never"),
            );
            pod_template(obj, &["spec", "jobTemplate", "spec", "template"]);
        }
        "Pod" => {
            pod_spec(obj, &["spec"]);
            set_default(obj, &["spec"], "serviceAccountName", json!("default"));
            set_default(obj, &["spec"], "serviceAccount", json!("default"));
            set_default(obj, &["spec"], "enableServiceLinks", json!(true));
            set_default(
                obj,
                &["spec"],
                "preemptionPolicy",
                json!("PreemptLowerPriority"),
            );
            set_default(obj, &["spec"], "priority", json!(0));
            if old.is_none() {
                set_default(obj, &["status"], "phase", json!("Pending"));
                set_default(obj, &["status"], "qosClass", json!("BestEffort"));
            }
        }
        "Service" => service(obj, old, state),
        "Namespace" => {
            let name = get_str(obj, &["metadata", "name"])
                .unwrap_or("")
                .to_string();
            set_default(
                obj,
                &["metadata", "labels"],
                "kubernetes.io/metadata.name",
                json!(name),
            );
            set_default(obj, &["spec"], "finalizers", json!(["kubernetes"]));
            if old.is_none()
                && let Some(m) = obj.as_object_mut()
            {
                m.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        "Secret" => set_default(obj, &[], "type", json!("Opaque")),
        "PersistentVolumeClaim" => {
            set_default(obj, &["spec"], "volumeMode", json!("Filesystem"));
            if old.is_none()
                && let Some(m) = obj.as_object_mut()
            {
                m.insert("status".into(), json!({"phase": "Pending"}));
            }
        }
        "Ingress" => {
            if old.is_none()
                && let Some(m) = obj.as_object_mut()
            {
                m.insert("status".into(), json!({"loadBalancer": {}}));
            }
        }
        "NetworkPolicy" => {
            if get_path(obj, &["spec", "policyTypes"]).is_none() {
                let mut types = vec![json!("Ingress")];
                if get_path(obj, &["spec", "egress"]).is_some() {
                    types.push(json!("Egress"));
                }
                set_default(obj, &["spec"], "policyTypes", json!(types));
            }
            for dir in ["ingress", "egress"] {
                if let Some(rules) = obj
                    .get_mut("spec")
                    .and_then(|s| s.get_mut(dir))
                    .and_then(Value::as_array_mut)
                {
                    for r in rules {
                        if let Some(ports) = r.get_mut("ports").and_then(Value::as_array_mut) {
                            for p in ports {
                                set_default(p, &[], "protocol", json!("TCP"));
                            }
                        }
                    }
                }
            }
        }
        "CustomResourceDefinition" => {
            set_default(obj, &["spec", "conversion"], "strategy", json!("None"));
            if let Some(names) = obj.get_mut("spec").and_then(|s| s.get_mut("names")) {
                let kind = get_str(names, &["kind"]).unwrap_or("").to_lowercase();
                set_default(names, &[], "singular", json!(kind));
                let kind = get_str(names, &["kind"]).unwrap_or("").to_string();
                set_default(names, &[], "listKind", json!(format!("{kind}List")));
            }
        }
        _ => {}
    }
}

fn job_spec(obj: &mut Value, path: &[&str], old: Option<&Value>) {
    let parallel_unset = get_path(obj, &[path, &["parallelism"]].concat()).is_none();
    let completions_unset = get_path(obj, &[path, &["completions"]].concat()).is_none();
    if completions_unset && parallel_unset {
        set_default(obj, path, "completions", json!(1));
    }
    set_default(obj, path, "parallelism", json!(1));
    set_default(obj, path, "backoffLimit", json!(6));
    set_default(obj, path, "completionMode", json!("NonIndexed"));
    set_default(obj, path, "suspend", json!(false));
    set_default(
        obj,
        path,
        "podReplacementPolicy",
        json!("TerminatingOrFailed"),
    );
    let uid = old
        .and_then(|o| get_str(o, &["metadata", "uid"]))
        .or_else(|| get_str(obj, &["metadata", "uid"]))
        .unwrap_or("")
        .to_string();
    let name = get_str(obj, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    if get_path(obj, &["spec", "selector"]).is_none() {
        set_default(
            obj,
            &["spec"],
            "selector",
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        set_default(
            obj,
            &["spec", "template", "metadata", "labels"],
            k,
            json!(v),
        );
    }
}

fn pod_template(obj: &mut Value, path: &[&str]) {
    if get_path(obj, path).is_none() {
        return;
    }
    let spec_path: Vec<&str> = path.iter().copied().chain(["spec"]).collect();
    pod_spec(obj, &spec_path);
}

fn pod_spec(obj: &mut Value, path: &[&str]) {
    set_default(obj, path, "restartPolicy", json!("Always"));
    set_default(obj, path, "dnsPolicy", json!("ClusterFirst"));
    set_default(obj, path, "terminationGracePeriodSeconds", json!(30));
    set_default(obj, path, "securityContext", json!({}));
    set_default(obj, path, "schedulerName", json!("default-scheduler"));
    let Some(spec) = crate::util::ensure_obj(obj, path) else {
        return;
    };
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                container(c);
            }
        }
    }
}

fn container(c: &mut Value) {
    set_default(
        c,
        &[],
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_default(c, &[], "terminationMessagePolicy", json!("File"));
    set_default(c, &[], "resources", json!({}));
    let image = get_str(c, &["image"]).unwrap_or("").to_string();
    let last = image.rsplit('/').next().unwrap_or("");
    let tagged = last.contains(':') && !last.ends_with(":latest");
    let digest = image.contains('@');
    let policy = if tagged || digest {
        "IfNotPresent"
    } else {
        "Always"
    };
    set_default(c, &[], "imagePullPolicy", json!(policy));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, &[], "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            set_default(p, &[], "timeoutSeconds", json!(1));
            set_default(p, &[], "periodSeconds", json!(10));
            set_default(p, &[], "successThreshold", json!(1));
            set_default(p, &[], "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").filter(|h| h.is_object()) {
                set_default(h, &[], "path", json!("/"));
                set_default(h, &[], "scheme", json!("HTTP"));
            }
        }
    }
}

fn service(obj: &mut Value, old: Option<&Value>, state: &mut State) {
    set_default(obj, &["spec"], "type", json!("ClusterIP"));
    set_default(obj, &["spec"], "sessionAffinity", json!("None"));
    let ty = get_str(obj, &["spec", "type"])
        .unwrap_or("ClusterIP")
        .to_string();
    if ty != "ExternalName" {
        let old_ip = old
            .and_then(|o| get_str(o, &["spec", "clusterIP"]))
            .map(str::to_string);
        let ip = match get_str(obj, &["spec", "clusterIP"]) {
            Some(ip) if !ip.is_empty() => ip.to_string(),
            _ => match old_ip {
                Some(ip) => ip,
                None => {
                    let n = state.next_ip;
                    state.next_ip += 1;
                    format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 2)
                }
            },
        };
        if let Some(spec) = crate::util::ensure_obj(obj, &["spec"]) {
            spec.insert("clusterIP".into(), json!(ip));
            if !spec.contains_key("clusterIPs") {
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
        set_default(obj, &["spec"], "ipFamilies", json!(["IPv4"]));
        set_default(obj, &["spec"], "ipFamilyPolicy", json!("SingleStack"));
        set_default(obj, &["spec"], "internalTrafficPolicy", json!("Cluster"));
    }
    let node_ports = ty == "NodePort" || ty == "LoadBalancer";
    if node_ports {
        set_default(obj, &["spec"], "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(obj, &["spec"], "allocateLoadBalancerNodePorts", json!(true));
    }
    let old_ports: Vec<Value> = old
        .and_then(|o| get_path(o, &["spec", "ports"]))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ports) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("ports"))
        .and_then(Value::as_array_mut)
    {
        for p in ports {
            set_default(p, &[], "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set_default(p, &[], "targetPort", port);
            }
            if node_ports && p.get("nodePort").is_none() {
                let reuse = old_ports
                    .iter()
                    .find(|o| o.get("port") == p.get("port"))
                    .and_then(|o| o.get("nodePort"))
                    .cloned();
                let np = reuse.unwrap_or_else(|| {
                    let n = state.next_node_port;
                    state.next_node_port = if n >= 32767 { 30000 } else { n + 1 };
                    json!(n)
                });
                if let Some(m) = p.as_object_mut() {
                    m.insert("nodePort".into(), np);
                }
            }
        }
    }
    if old.is_none()
        && let Some(m) = obj.as_object_mut()
    {
        m.insert("status".into(), json!({"loadBalancer": {}}));
    }
}

/// Merges a core/v1 Secret's `stringData` into `data` (base64-encoded, overriding keys already
/// in `data`) and drops `stringData`, as the real server's conversion does on every write: it
/// is write-only and never stored or returned. A non-string value is a decoding error (400).
pub fn fold_secret_string_data(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    use base64::Engine;
    if def.kind != "Secret" || !def.group.is_empty() {
        return Ok(());
    }
    let Some(root) = obj.as_object_mut() else {
        return Ok(());
    };
    let Some(string_data) = root.remove("stringData") else {
        return Ok(());
    };
    let entries = match string_data {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        other => {
            return Err(ApiError::bad_request(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal {} into Go struct field Secret.stringData of type map[string]string",
                json_type(&other)
            )));
        }
    };
    let mut encoded = serde_json::Map::new();
    for (k, v) in entries {
        let Some(text) = v.as_str() else {
            return Err(ApiError::bad_request(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal {} into Go struct field Secret.stringData of type string",
                json_type(&v)
            )));
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        encoded.insert(k, json!(b64));
    }
    if encoded.is_empty() {
        return Ok(());
    }
    let data = root
        .entry("data")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !data.is_object() {
        *data = Value::Object(serde_json::Map::new());
    }
    if let Some(d) = data.as_object_mut() {
        d.extend(encoded);
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Rejects changes to fields the real server treats as immutable.
pub fn check_immutable(def: &ResourceDef, old: &Value, new: &Value) -> Result<(), ApiError> {
    let fields: &[&[&str]] = match def.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => &[&["spec", "selector"]],
        "Job" => &[
            &["spec", "selector"],
            &["spec", "template"],
            &["spec", "completionMode"],
        ],
        "Service" => &[&["spec", "clusterIP"]],
        "ConfigMap" | "Secret" => {
            if get_path(old, &["immutable"]) == Some(&json!(true)) {
                &[&["data"], &["binaryData"], &["immutable"], &["stringData"]]
            } else {
                &[]
            }
        }
        _ => &[],
    };
    let name = crate::util::name_of(old);
    let mut causes = vec![];
    for f in fields {
        let a = get_path(old, f);
        let b = get_path(new, f);
        if a.is_some() && a != b {
            let shown = b.map(|v| v.to_string()).unwrap_or_else(|| "null".into());
            causes.push((
                "FieldValueInvalid".to_string(),
                format!("Invalid value: {shown}: field is immutable"),
                f.join("."),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&def.kind, &def.group, name, causes))
    }
}
