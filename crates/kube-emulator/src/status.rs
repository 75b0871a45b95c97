//! `Status` error bodies with the reasons and codes of the real API server.

use serde_json::{Value, json};

use crate::util::{Body, json_response};

/// An API error rendered as a `metav1.Status` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason, e.g. `NotFound`.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Optional `details` object.
    pub details: Option<Box<Value>>,
    /// Optional `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

/// Identifies the object an error is about (for `details`).
pub struct Subject<'a> {
    /// API group.
    pub group: &'a str,
    /// Resource (plural), used as `details.kind` like the real server.
    pub resource: &'a str,
    /// Object name.
    pub name: &'a str,
}

impl Subject<'_> {
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({"name": self.name});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d["kind"] = json!(self.resource);
        d
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 NotFound for an object.
    pub fn not_found(s: &Subject<'_>) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", s.qualified(), s.name),
        );
        e.details = Some(Box::new(s.details()));
        e
    }

    /// 404 NotFound for a path that serves nothing.
    pub fn path_not_found() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(Box::new(json!({})));
        e
    }

    /// 409 AlreadyExists.
    pub fn already_exists(s: &Subject<'_>) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", s.qualified(), s.name),
        );
        e.details = Some(Box::new(s.details()));
        e
    }

    /// 409 Conflict for a stale resourceVersion or failed precondition.
    pub fn conflict(s: &Subject<'_>, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                s.qualified(),
                s.name,
                why
            ),
        );
        e.details = Some(Box::new(s.details()));
        e
    }

    /// 409 Conflict for server-side apply field conflicts.
    pub fn apply_conflict(message: String, causes: Vec<Value>) -> Self {
        let mut e = Self::new(409, "Conflict", message);
        e.details = Some(Box::new(json!({"causes": causes})));
        e
    }

    /// 422 Invalid with field causes `(type, message, field)`.
    pub fn invalid(
        kind: &str,
        group: &str,
        name: &str,
        causes: Vec<(String, String, String)>,
    ) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|(_, msg, field)| format!("{field}: {msg}"))
            .collect();
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let message = if summary.len() == 1 {
            format!("{qualified} \"{name}\" is invalid: {}", summary[0])
        } else {
            format!(
                "{qualified} \"{name}\" is invalid: [{}]",
                summary.join(", ")
            )
        };
        let mut e = Self::new(422, "Invalid", message);
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(t, m, f)| json!({"reason": t, "message": m, "field": f}))
            .collect();
        let mut d = json!({"name": name});
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d["kind"] = json!(kind);
        d["causes"] = json!(causes);
        e.details = Some(Box::new(d));
        e
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> Self {
        let mut e = Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        );
        e.details = Some(Box::new(json!({})));
        e
    }

    /// 410 Gone / Expired for a compacted resourceVersion.
    pub fn gone(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {ct})"
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 429 TooManyRequests with a Retry-After.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        e.retry_after = Some(retry_after);
        e.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        e
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            v["details"] = (**d).clone();
        }
        v["code"] = json!(self.code);
        v
    }

    /// Renders the error as an HTTP response.
    pub fn into_response(self) -> http::Response<Body> {
        let mut resp = json_response(self.code, &self.to_status());
        if let Some(secs) = self.retry_after
            && let Ok(v) = http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        resp
    }
}

impl ApiError {
    /// 422 Invalid with a free-form message (patch application failures).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 406 NotAcceptable for an Accept header the endpoint cannot serve.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/com.github.proto-openapi.spec.v2.v1.0+protobuf (got {accept})"
            ),
        )
    }
}
