//! `/openapi/v3`: the index and one document per group-version (what kubectl 1.27+ reads).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::store::Shared;
use crate::util::{Body, json_response};

/// `api/v1` or `apis/<group>/<version>`.
pub fn gv_path(d: &ResourceDef) -> String {
    if d.group.is_empty() {
        format!("api/{}", d.version)
    } else {
        format!("apis/{}/{}", d.group, d.version)
    }
}

/// `/openapi/v3`: index of group-version documents.
pub fn root(shared: &Arc<Shared>) -> http::Response<Body> {
    let state = shared.state.lock();
    let mut paths = Map::new();
    let mut gvs: Vec<String> = vec![];
    for d in state.registry.all() {
        let p = gv_path(d);
        if !gvs.contains(&p) {
            gvs.push(p);
        }
    }
    for p in gvs {
        let mut h = DefaultHasher::new();
        for d in state.registry.all().filter(|d| gv_path(d) == p) {
            d.plural.hash(&mut h);
            d.kind.hash(&mut h);
            d.schema.as_ref().map(|s| s.to_string()).hash(&mut h);
        }
        let url = format!("/openapi/v3/{p}?hash={:016X}", h.finish());
        paths.insert(p, json!({"serverRelativeURL": url}));
    }
    json_response(200, &json!({"paths": paths}))
}

fn param(name: &str, ty: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "description": desc, "schema": {"type": ty, "uniqueItems": true}})
}

/// The query parameters a PATCH declares; kubectl checks for `fieldValidation` and `dryRun`.
pub fn patch_params() -> [(&'static str, &'static str, &'static str); 4] {
    [
        (
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted.",
        ),
        (
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        (
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
        ),
        (
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests.",
        ),
    ]
}

/// The item path of a kind (`/api/v1/namespaces/{namespace}/configmaps/{name}`).
pub fn item_path(d: &ResourceDef) -> String {
    let base = format!("/{}", gv_path(d));
    if d.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
    } else {
        format!("{base}/{}/{{name}}", d.plural)
    }
}

/// Media types a kind's PATCH accepts: strategic merge only for built-in kinds.
pub fn patch_types(d: &ResourceDef) -> Vec<&'static str> {
    let mut t = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !d.custom {
        t.push("application/strategic-merge-patch+json");
    }
    t
}

/// `/openapi/v3/api/v1` and `/openapi/v3/apis/<group>/<version>`.
pub fn doc(shared: &Arc<Shared>, rest: &[&str]) -> Result<http::Response<Body>, ApiError> {
    let p = rest.join("/");
    let state = shared.state.lock();
    let (defs, mut schemas) = super::served_definitions(&state.registry, Some(&p), false);
    drop(state);
    if defs.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let mut paths = Map::new();
    for d in &defs {
        let id = super::definition_name(d);
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let reference = json!({"$ref": format!("#/components/schemas/{id}")});
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}});
        let content: Map<String, Value> = patch_types(d)
            .into_iter()
            .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
            .collect();
        let params: Vec<Value> = patch_params()
            .iter()
            .map(|(n, t, desc)| param(n, t, desc))
            .collect();
        let patch = json!({
            "description": format!("partially update the specified {}", d.kind),
            "operationId": format!("patch{}", d.kind),
            "parameters": params,
            "requestBody": {"content": content, "required": true},
            "responses": ok.clone(),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk.clone(),
        });
        let get = json!({
            "description": format!("read the specified {}", d.kind),
            "operationId": format!("read{}", d.kind),
            "responses": ok,
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk,
        });
        paths.insert(item_path(d), json!({"get": get, "patch": patch}));
    }
    let mut components: Value = json!(
        schemas
            .iter_mut()
            .map(|(k, v)| (k.clone(), v.take()))
            .collect::<Map<String, Value>>()
    );
    super::rewrite_refs(&mut components, "#/components/schemas/");
    Ok(json_response(
        200,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": components},
        }),
    ))
}
