//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) and OpenAPI v3.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::Shared;
use crate::util::{Body, json_response};

const AGGREGATED_CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "ferry-kube-emulator",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn wants_aggregated(req: &ApiRequest) -> bool {
    req.header("accept").split(',').any(|part| {
        let p = part.replace(' ', "");
        p.contains("as=APIGroupDiscoveryList") && p.contains("v=v2;")
            || p.ends_with("v=v2;as=APIGroupDiscoveryList")
    })
}

fn aggregated_response(value: &Value) -> http::Response<Body> {
    let mut r = json_response(200, value);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(AGGREGATED_CT),
    );
    r
}

/// `/api`.
pub fn core_api(shared: &Arc<Shared>, req: &ApiRequest) -> http::Response<Body> {
    if wants_aggregated(req) {
        let state = shared.state.lock();
        let resources: Vec<Value> = state
            .registry
            .all()
            .filter(|d| d.group.is_empty())
            .map(aggregated_resource)
            .collect();
        return aggregated_response(&json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": [{
                "metadata": {"creationTimestamp": null},
                "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
            }],
        }));
    }
    let host = req.header("host").to_string();
    json_response(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }),
    )
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub fn apis(shared: &Arc<Shared>, req: &ApiRequest) -> http::Response<Body> {
    let state = shared.state.lock();
    if wants_aggregated(req) {
        let mut items = vec![];
        for (g, versions) in state.registry.group_versions() {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = state
                        .registry
                        .all()
                        .filter(|d| d.group == g && &d.version == v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            items.push(json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs}));
        }
        return aggregated_response(&json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }));
    }
    let groups: Vec<Value> = state
        .registry
        .group_versions()
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json_response(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

fn aggregated_resource(d: &ResourceDef) -> Value {
    let kind = json!({"group": d.group, "version": d.version, "kind": d.kind});
    let mut r = json!({
        "resource": d.plural,
        "responseKind": kind,
        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": d.singular,
        "verbs": d.verbs(),
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    let mut subs = vec![];
    if d.has_status {
        subs.push(json!({
            "subresource": "status",
            "responseKind": kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    if crate::handlers::scale::serves_scale(d) {
        subs.push(json!({
            "subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": ["get", "patch", "update"],
        }));
    }
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

/// `/apis/<group>`.
pub fn group(shared: &Arc<Shared>, g: &str) -> Result<http::Response<Body>, ApiError> {
    let state = shared.state.lock();
    let gvs = state.registry.group_versions();
    let (_, versions) = gvs
        .iter()
        .find(|(name, _)| name == g)
        .ok_or_else(ApiError::path_not_found)?;
    let mut v = group_json(g, versions);
    if let Some(m) = v.as_object_mut() {
        let mut out = Map::new();
        out.insert("kind".into(), json!("APIGroup"));
        out.insert("apiVersion".into(), json!("v1"));
        out.extend(m.clone());
        return Ok(json_response(200, &Value::Object(out)));
    }
    Ok(json_response(200, &v))
}

/// `/api/v1` and `/apis/<group>/<version>`.
pub fn resource_list(
    shared: &Arc<Shared>,
    g: &str,
    v: &str,
) -> Result<http::Response<Body>, ApiError> {
    let state = shared.state.lock();
    let defs: Vec<&ResourceDef> = state
        .registry
        .all()
        .filter(|d| d.group == g && d.version == v)
        .collect();
    if defs.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let mut resources = vec![];
    for d in defs {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs(),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.has_status {
            resources.push(json!({
                "name": format!("{}/status", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if crate::handlers::scale::serves_scale(d) {
            resources.push(json!({
                "name": format!("{}/scale", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if d.plural == "namespaces" {
            resources.push(json!({
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": false,
                "kind": "Namespace",
                "verbs": ["update"],
            }));
        }
    }
    let gv = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    Ok(json_response(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}

/// `/openapi/v2`: only the protobuf form is used by clients; not served.
pub fn openapi_v2(_shared: &Arc<Shared>) -> http::Response<Body> {
    ApiError::path_not_found().into_response()
}

fn gv_path(d: &ResourceDef) -> String {
    if d.group.is_empty() {
        format!("api/{}", d.version)
    } else {
        format!("apis/{}/{}", d.group, d.version)
    }
}

/// `/openapi/v3`: index of group-version documents.
pub fn openapi_v3_root(shared: &Arc<Shared>) -> http::Response<Body> {
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

fn schema_id(d: &ResourceDef) -> String {
    if d.custom {
        let rev: Vec<&str> = d.group.split('.').rev().collect();
        format!("{}.{}.{}", rev.join("."), d.version, d.kind)
    } else {
        let g = if d.group.is_empty() {
            "core".to_string()
        } else {
            d.group
                .trim_end_matches(".k8s.io")
                .split('.')
                .next()
                .unwrap_or("")
                .to_string()
        };
        if d.group == "apiextensions.k8s.io" {
            format!(
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
                d.version, d.kind
            )
        } else {
            format!("io.k8s.api.{g}.{}.{}", d.version, d.kind)
        }
    }
}

fn object_meta_schema() -> Value {
    json!({
        "description": "Standard object's metadata.",
        "type": "object",
        "properties": {
            "name": {"description": "Name must be unique within a namespace.", "type": "string"},
            "generateName": {"description": "Optional prefix used to generate a unique name.", "type": "string"},
            "namespace": {"description": "Namespace defines the space within which each name must be unique.", "type": "string"},
            "uid": {"description": "UID is the unique in time and space value for this object.", "type": "string"},
            "resourceVersion": {"description": "An opaque value that represents the internal version of this object.", "type": "string"},
            "generation": {"description": "A sequence number representing a specific generation of the desired state.", "type": "integer", "format": "int64"},
            "creationTimestamp": {"description": "Time when this object was created.", "type": "string", "format": "date-time"},
            "deletionTimestamp": {"description": "Time at which this resource will be deleted.", "type": "string", "format": "date-time"},
            "labels": {"description": "Map of string keys and values for organizing objects.", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
            "annotations": {"description": "Unstructured key value map stored with a resource.", "type": "object", "additionalProperties": {"type": "string", "default": ""}},
            "finalizers": {"description": "Must be empty before the object is deleted from the registry.", "type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set"},
            "ownerReferences": {"description": "List of objects depended by this object.", "type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"]},
            "managedFields": {"description": "Maps workflow-id and version to the set of fields that are managed by that workflow.", "type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "x-kubernetes-list-type": "atomic"},
        },
    })
}

fn kind_schema(d: &ResourceDef) -> Value {
    let gvk = json!([{"group": d.group, "kind": d.kind, "version": d.version}]);
    let mut schema = match &d.schema {
        Some(s) => s.clone(),
        None => json!({
            "description": format!("{} is a Kubernetes {} object (served by the Ferry kube emulator).", d.kind, d.api_version()),
            "type": "object",
            "properties": {
                "spec": {"description": format!("Spec of the {}.", d.kind), "type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"description": format!("Most recently observed status of the {}.", d.kind), "type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        }),
    };
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("type").or_insert(json!("object"));
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(props) = props.as_object_mut() {
            props.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"}));
            props.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"}));
            props.insert("metadata".into(), object_meta_schema());
        }
        obj.insert("x-kubernetes-group-version-kind".into(), gvk);
    }
    schema
}

fn param(name: &str, ty: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "description": desc, "schema": {"type": ty, "uniqueItems": true}})
}

/// `/openapi/v3/api/v1` and `/openapi/v3/apis/<group>/<version>`.
pub fn openapi_v3_doc(
    shared: &Arc<Shared>,
    rest: &[&str],
) -> Result<http::Response<Body>, ApiError> {
    let p = rest.join("/");
    let state = shared.state.lock();
    let defs: Vec<&ResourceDef> = state.registry.all().filter(|d| gv_path(d) == p).collect();
    if defs.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for d in defs {
        let id = schema_id(d);
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let reference = json!({"$ref": format!("#/components/schemas/{id}")});
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}});
        let patch = json!({
            "description": format!("partially update the specified {}", d.kind),
            "operationId": format!("patch{}", d.kind),
            "parameters": [
                param("dryRun", "string", "When present, indicates that modifications should not be persisted."),
                param("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
                param("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."),
                param("force", "boolean", "Force is going to \"force\" Apply requests."),
            ],
            "requestBody": {"content": {
                "application/apply-patch+yaml": {"schema": {"type": "object"}},
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
            }, "required": true},
            "responses": ok.clone(),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk.clone(),
        });
        let get = json!({
            "description": format!("read the specified {}", d.kind),
            "operationId": format!("read{}", d.kind),
            "responses": ok,
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk.clone(),
        });
        let base = if d.group.is_empty() {
            format!("/api/{}", d.version)
        } else {
            format!("/apis/{}/{}", d.group, d.version)
        };
        let item = if d.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
        } else {
            format!("{base}/{}/{{name}}", d.plural)
        };
        paths.insert(item, json!({"get": get, "patch": patch}));
        schemas.insert(id, kind_schema(d));
    }
    Ok(json_response(
        200,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": schemas},
        }),
    ))
}
