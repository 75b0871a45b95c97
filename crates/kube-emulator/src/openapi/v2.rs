//! `/openapi/v2`: one Swagger 2.0 document with every served kind, as JSON or as gnostic
//! protobuf (kubectl < 1.27 reads the protobuf form for `explain` and client-side validation).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::Shared;
use crate::util::{Body, json_response};

/// The media types kubectl and client-go ask the protobuf form with (old and new spelling).
const PROTO_TYPES: [&str; 2] = [
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
];

/// `/openapi/v2`.
pub fn serve(shared: &Arc<Shared>, req: &ApiRequest) -> Result<http::Response<Body>, ApiError> {
    let accept = req.header("accept");
    // The first acceptable range wins, as in the real handler.
    let proto = accept
        .split(',')
        .map(|p| p.split(';').next().unwrap_or("").trim())
        .find_map(|range| {
            if PROTO_TYPES.contains(&range) {
                Some(true)
            } else if range.is_empty()
                || ["application/json", "application/*", "*/*"].contains(&range)
            {
                Some(false)
            } else {
                None
            }
        })
        .ok_or_else(|| ApiError::not_acceptable(accept))?;
    let doc = document(shared);
    if !proto {
        return Ok(json_response(200, &doc));
    }
    let mut r = http::Response::new(crate::util::full(super::proto::document(&doc)));
    // Go's mime parser rejects the `@` spelling, so answer with the dotted one.
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(PROTO_TYPES[1]),
    );
    Ok(r)
}

fn document(shared: &Arc<Shared>) -> Value {
    let state = shared.state.lock();
    let (defs, schemas) = super::served_definitions(&state.registry, None, true);
    drop(state);
    let mut paths = Map::new();
    for d in &defs {
        paths.insert(super::v3::item_path(d), path_item(d));
    }
    let definitions: Map<String, Value> = schemas.into_iter().collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "definitions": definitions,
    })
}

fn path_item(d: &ResourceDef) -> Value {
    let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
    let reference = json!({"$ref": format!("#/definitions/{}", super::definition_name(d))});
    let ok = json!({"200": {"description": "OK", "schema": reference}});
    let mut params =
        vec![json!({"name": "body", "in": "body", "required": true, "schema": {"type": "object"}})];
    params.extend(super::v3::patch_params().iter().map(|(n, t, desc)| {
        json!({"name": n, "in": "query", "type": t, "description": desc, "uniqueItems": true})
    }));
    let mut path_params = vec![
        json!({"name": "name", "in": "path", "required": true, "type": "string", "uniqueItems": true, "description": format!("name of the {}", d.kind)}),
    ];
    if d.namespaced {
        path_params.push(json!({"name": "namespace", "in": "path", "required": true, "type": "string", "uniqueItems": true, "description": "object name and auth scope, such as for teams and projects"}));
    }
    json!({
        "get": {
            "description": format!("read the specified {}", d.kind),
            "operationId": format!("read{}", d.kind),
            "produces": ["application/json", "application/yaml"],
            "responses": ok,
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk,
        },
        "patch": {
            "description": format!("partially update the specified {}", d.kind),
            "operationId": format!("patch{}", d.kind),
            "consumes": super::v3::patch_types(d),
            "produces": ["application/json", "application/yaml"],
            "parameters": params,
            "responses": ok,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        },
        "parameters": path_params,
    })
}
