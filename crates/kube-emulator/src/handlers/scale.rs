//! The `scale` subresource (`autoscaling/v1` Scale) of Deployments, StatefulSets and ReplicaSets.

use std::sync::Arc;

use serde_json::{Value, json};

use super::write::{Source, check_rv, commit, finish_update, manager};
use super::{HandlerResult, Target};
use crate::patch;
use crate::resources::ResourceDef;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::Shared;
use crate::util::{get_path, json_response, parse_body};

fn has_scale(def: &ResourceDef) -> bool {
    !def.custom
        && matches!(
            def.kind.as_str(),
            "Deployment" | "StatefulSet" | "ReplicaSet"
        )
}

/// Whether `def` serves the `scale` subresource.
pub fn serves_scale(def: &ResourceDef) -> bool {
    has_scale(def)
}

/// The `autoscaling/v1` Scale view of a workload.
fn scale_view(obj: &Value) -> Value {
    let selector = get_path(obj, &["spec", "selector", "matchLabels"])
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut meta = serde_json::Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = get_path(obj, &["metadata", k]) {
            meta.insert(k.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": get_path(obj, &["spec", "replicas"]).cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": get_path(obj, &["status", "replicas"]).cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// GET of the `scale` subresource.
pub fn get_scale(shared: &Arc<Shared>, t: &Target) -> HandlerResult {
    let name = t.name.clone().unwrap_or_default();
    let state = shared.state.lock();
    let obj = state
        .store
        .get(&t.def.key(), t.ns(), &name)
        .ok_or_else(|| ApiError::not_found(&t.subject(&name)))?;
    Ok(json_response(200, &scale_view(obj)))
}

/// PUT or PATCH of the `scale` subresource: changes `spec.replicas` of the workload.
pub fn write_scale(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let name = t.name.clone().unwrap_or_default();
    if req.body.is_empty() {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    let doc = parse_body(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding body: {e}")))?;
    let mut state = shared.state.lock();
    let old = state
        .store
        .get(&t.def.key(), t.ns(), &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.subject(&name)))?;
    let view = scale_view(&old);
    let candidate = if req.method == http::Method::PUT {
        doc
    } else {
        let ct = req
            .header("content-type")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        match ct {
            "application/json-patch+json" => patch::json_patch(&view, &doc)?,
            "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/apply-patch+yaml" => patch::merge_patch(&view, &doc),
            other => return Err(ApiError::unsupported_media_type(other)),
        }
    };
    check_rv(t, &old, &candidate)?;
    let replicas = get_path(&candidate, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "Scale",
                "autoscaling",
                &name,
                vec![(
                    "FieldValueInvalid".into(),
                    "Invalid value: must be greater than or equal to 0".into(),
                    "spec.replicas".into(),
                )],
            )
        })?;
    let mut new = old.clone();
    if let Some(spec) = crate::util::ensure_obj(&mut new, &["spec"]) {
        spec.insert("replicas".into(), json!(replicas));
    }
    let main = Target {
        def: t.def.clone(),
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        sub: None,
    };
    let new = finish_update(&mut state, &main, &old, new, &manager(req), Source::Patch)?;
    let stored = commit(&mut state, &main, &old, new, req.dry_run());
    Ok(json_response(200, &scale_view(&stored)))
}
