//! Small helpers: HTTP bodies, query strings, timestamps, JSON paths.

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::Value;

/// Response body type used everywhere.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A complete (non-streaming) body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A JSON response with the given status code.
pub fn json_response(code: u16, value: &Value) -> http::Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = http::Response::new(full(bytes));
    *resp.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Decodes a `application/x-www-form-urlencoded` component.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into a map (last value wins).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(q) = q {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(url_decode(k), url_decode(v));
        }
    }
    map
}

/// Current time as RFC 3339 with second precision (`2024-01-02T03:04:05Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Reads a nested field by path.
pub fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

/// Reads a nested string field by path.
pub fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get_path(v, path).and_then(Value::as_str)
}

/// Returns a mutable object at `path`, creating empty objects on the way.
/// Returns `None` when a non-object value is in the way.
pub fn ensure_obj<'a>(
    v: &'a mut Value,
    path: &[&str],
) -> Option<&'a mut serde_json::Map<String, Value>> {
    let mut cur = v;
    for p in path {
        let map = cur.as_object_mut()?;
        cur = map
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    cur.as_object_mut()
}

/// Sets `key` in the object at `path` unless it is already present.
pub fn set_default(v: &mut Value, path: &[&str], key: &str, value: Value) {
    if let Some(map) = ensure_obj(v, path)
        && !map.contains_key(key)
    {
        map.insert(key.to_string(), value);
    }
}

/// `metadata.name` or empty.
pub fn name_of(v: &Value) -> &str {
    get_str(v, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.namespace` or empty.
pub fn namespace_of(v: &Value) -> &str {
    get_str(v, &["metadata", "namespace"]).unwrap_or("")
}

/// Parses a YAML or JSON request body into a value.
pub fn parse_body(bytes: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let trimmed = text.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                return Err(json_err.to_string());
            }
            serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
        }
    }
}

/// Human-readable age like kubectl prints (`5s`, `3m2s`, `4h`, `2d`).
pub fn human_age(created: Option<&str>) -> String {
    let Some(ts) = created else {
        return "<unknown>".into();
    };
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    if secs < 120 {
        format!("{secs}s")
    } else if secs < 600 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else if secs < 3 * 3600 {
        format!("{}m", secs / 60)
    } else if secs < 8 * 3600 {
        format!("{}h{}m", secs / 3600, (secs % 3600) / 60)
    } else if secs < 48 * 3600 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86400)
    }
}

/// A never-failing error type marker for streams.
pub type NoError = Infallible;
