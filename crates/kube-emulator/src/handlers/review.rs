//! Access reviews (`SelfSubjectAccessReview`, `SelfSubjectRulesReview`): the emulator has no
//! authorization, so every review answers "allowed".

use serde_json::{Value, json};

use super::Target;
use crate::server::ApiRequest;
use crate::util::{Body, json_response, parse_body};

/// Answers a review POST; the request body is echoed as `spec` when it is JSON or YAML.
pub fn review(t: &Target, req: &ApiRequest) -> http::Response<Body> {
    let spec = parse_body(&req.body)
        .ok()
        .and_then(|v| v.get("spec").cloned())
        .unwrap_or_else(|| json!({}));
    let status: Value = if t.def.kind == "SelfSubjectRulesReview" {
        json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        })
    } else {
        json!({"allowed": true, "reason": "the kube emulator does not enforce authorization"})
    };
    json_response(
        201,
        &json!({
            "kind": t.def.kind,
            "apiVersion": t.def.api_version(),
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": status,
        }),
    )
}
