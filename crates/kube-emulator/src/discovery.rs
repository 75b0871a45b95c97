//! Discovery documents (`/version`, `/api`, `/apis`, resource lists).

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
