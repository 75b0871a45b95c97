//! Maps request paths and methods to discovery, OpenAPI and resource handlers.

use std::sync::Arc;

use http::Method;
use serde_json::json;

use crate::discovery;
use crate::faults::FaultRule;
use crate::handlers::{self, Target};
use crate::resources::ResourceDef;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::Shared;
use crate::util::{Body, json_response};

/// Routes one request.
pub async fn route(shared: &Arc<Shared>, req: ApiRequest) -> http::Response<Body> {
    match route_inner(shared, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route_inner(
    shared: &Arc<Shared>,
    req: ApiRequest,
) -> Result<http::Response<Body>, ApiError> {
    let path = req.path.trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["emulator", "faults"] => return faults_endpoint(shared, &req),
        ["version"] => return Ok(json_response(200, &discovery::version())),
        ["healthz"] | ["livez"] | ["readyz"] => {
            let mut r = http::Response::new(crate::util::full("ok"));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return Ok(r);
        }
        ["openapi", "v2"] => return crate::openapi::v2::serve(shared, &req),
        ["openapi", "v3"] => return Ok(crate::openapi::v3::root(shared)),
        ["openapi", "v3", rest @ ..] => return crate::openapi::v3::doc(shared, rest),
        ["api"] => return Ok(discovery::core_api(shared, &req)),
        ["apis"] => return Ok(discovery::apis(shared, &req)),
        ["api", "v1"] => return discovery::resource_list(shared, "", "v1"),
        ["apis", g] => return discovery::group(shared, g),
        ["apis", g, v] => return discovery::resource_list(shared, g, v),
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    let mut rest = rest;
    let mut watch_path = false;
    if rest.first() == Some(&"watch") {
        watch_path = true;
        rest = &rest[1..];
    }
    let (namespace, resource, name, sub) = match rest {
        ["namespaces", ns, r, tail @ ..]
            if !(group.is_empty() && tail.is_empty() && (*r == "status" || *r == "finalize")) =>
        {
            if tail.len() > 2 {
                return Err(ApiError::path_not_found());
            }
            (Some(*ns), *r, tail.first().copied(), tail.get(1).copied())
        }
        [r, tail @ ..] => {
            if tail.len() > 2 {
                return Err(ApiError::path_not_found());
            }
            (None, *r, tail.first().copied(), tail.get(1).copied())
        }
        [] => return Err(ApiError::path_not_found()),
    };
    let def: ResourceDef = {
        let state = shared.state.lock();
        state
            .registry
            .find(group, version, resource)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?
    };
    if namespace.is_some() && !def.namespaced {
        return Err(ApiError::path_not_found());
    }
    if namespace.is_none() && def.namespaced && name.is_some() {
        return Err(ApiError::path_not_found());
    }
    if let Some(s) = sub {
        let ok = (s == "status" && def.has_status)
            || (s == "finalize" && def.plural == "namespaces")
            || (s == "scale" && handlers::scale::serves_scale(&def));
        if !ok {
            return Err(ApiError::path_not_found());
        }
    }
    let target = Target {
        def,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
    };
    let is_watch = watch_path || req.q("watch").is_some_and(|w| w == "true" || w == "1");
    if target.def.is_review() {
        return match (&req.method, target.name.is_some()) {
            (&Method::POST, false) => Ok(handlers::review::review(&target, &req)),
            (m, _) => Err(ApiError::method_not_allowed(m.as_str())),
        };
    }
    if target.sub.as_deref() == Some("scale") {
        return match req.method {
            Method::GET => handlers::scale::get_scale(shared, &target),
            Method::PUT | Method::PATCH => handlers::scale::write_scale(shared, &target, &req),
            ref m => Err(ApiError::method_not_allowed(m.as_str())),
        };
    }
    match (&req.method, target.name.is_some()) {
        (&Method::GET, true) if watch_path => handlers::read::watch(shared, &target, &req),
        (&Method::GET, true) => handlers::read::get(shared, &target, &req),
        (&Method::GET, false) if is_watch => handlers::read::watch(shared, &target, &req),
        (&Method::GET, false) => handlers::read::list(shared, &target, &req),
        (&Method::POST, false) => handlers::write::create(shared, &target, &req),
        (&Method::PUT, true) => handlers::write::update(shared, &target, &req),
        (&Method::PATCH, true) => handlers::write::patch(shared, &target, &req),
        (&Method::DELETE, true) => handlers::write::delete(shared, &target, &req),
        (&Method::DELETE, false) => handlers::write::delete_collection(shared, &target, &req),
        (m, _) => Err(ApiError::method_not_allowed(m.as_str())),
    }
}

fn faults_endpoint(
    shared: &Arc<Shared>,
    req: &ApiRequest,
) -> Result<http::Response<Body>, ApiError> {
    match req.method {
        Method::GET => Ok(json_response(200, &json!({"rules": shared.faults.rules()}))),
        Method::DELETE => {
            shared.faults.clear();
            Ok(json_response(200, &json!({"rules": []})))
        }
        Method::POST => {
            let value = crate::util::parse_body(&req.body).map_err(ApiError::bad_request)?;
            if let Some(ms) = value.get("latencyMs").and_then(|v| v.as_u64()) {
                shared
                    .faults
                    .set_latency(std::time::Duration::from_millis(ms));
            }
            if let Some(rate) = value.get("errorRate").and_then(|v| v.as_f64()) {
                shared.faults.set_error_rate(rate);
            }
            if value.get("path").is_some() {
                let rule: FaultRule = serde_json::from_value(value)
                    .map_err(|e| ApiError::bad_request(format!("invalid fault rule: {e}")))?;
                shared.faults.add(rule);
            }
            Ok(json_response(201, &json!({"rules": shared.faults.rules()})))
        }
        ref m => Err(ApiError::method_not_allowed(m.as_str())),
    }
}
