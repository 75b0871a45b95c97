//! Read handlers: get, list (with selectors and pagination) and watch.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use super::{HandlerResult, Target, object_response, present, selected};
use crate::selectors::Selectors;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::Shared;
use crate::table::{partial, table, wants_metadata, wants_table};
use crate::util::{json_response, name_of, namespace_of};

/// GET of one object.
pub fn get(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let name = t.name.as_deref().unwrap_or("");
    let state = shared.state.lock();
    let obj = state
        .store
        .get(&t.def.key(), t.ns(), name)
        .ok_or_else(|| ApiError::not_found(&t.subject(name)))?;
    if wants_table(req) {
        let rv = crate::util::get_str(obj, &["metadata", "resourceVersion"]).unwrap_or("");
        let tbl = table(
            &t.def,
            &[present(&t.def, obj)],
            json!({"resourceVersion": rv}),
            req,
        );
        return Ok(json_response(200, &tbl));
    }
    if wants_metadata(req) {
        return Ok(json_response(200, &partial(obj)));
    }
    Ok(object_response(200, &t.def, obj))
}

fn encode_continue(ns: &str, name: &str, rv: u64) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{ns}/{name}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let start = start.trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

/// LIST of a collection.
pub fn list(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let selectors = Selectors::from_query(req.q("labelSelector"), req.q("fieldSelector"))?;
    let limit: usize = match req.q("limit") {
        Some(l) if !l.is_empty() => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
            .max(0) as usize,
        _ => 0,
    };
    let after = match req.q("continue") {
        Some(c) if !c.is_empty() => Some(decode_continue(c)?),
        _ => None,
    };
    let state = shared.state.lock();
    let rv = state.store.rv();
    // A name pinned by the field selector in a known namespace (what a watcher of one object
    // lists first) is one lookup, not a scan of the kind.
    let candidates: Vec<&Value> = match (selectors.fields.exact_name(), &t.namespace) {
        (Some(name), Some(ns)) => state
            .store
            .get(&t.def.key(), ns, name)
            .into_iter()
            .collect(),
        (Some(name), None) if !t.def.namespaced => state
            .store
            .get(&t.def.key(), "", name)
            .into_iter()
            .collect(),
        _ => state.store.list(&t.def.key(), t.namespace.as_deref()),
    };
    let matching: Vec<&Value> = candidates
        .into_iter()
        .filter(|o| {
            after.as_ref().is_none_or(|(ns, name)| {
                (namespace_of(o), name_of(o)) > (ns.as_str(), name.as_str())
            })
        })
        .filter(|o| selected(&selectors, &t.def, o))
        .collect();
    let total = matching.len();
    let take = if limit == 0 { total } else { limit.min(total) };
    let items: Vec<Value> = matching[..take]
        .iter()
        .map(|o| present(&t.def, o))
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if take < total
        && let Some(last) = items.last()
    {
        meta["continue"] = json!(encode_continue(namespace_of(last), name_of(last), rv));
        meta["remainingItemCount"] = json!(total - take);
    }
    drop(state);
    if wants_table(req) {
        return Ok(json_response(200, &table(&t.def, &items, meta, req)));
    }
    if wants_metadata(req) {
        let items: Vec<Value> = items.iter().map(partial).collect();
        return Ok(json_response(
            200,
            &json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": items,
            }),
        ));
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", t.def.kind),
            "apiVersion": t.def.api_version(),
            "metadata": meta,
            "items": items,
        }),
    ))
}

/// WATCH of a collection (or of one object through the legacy `/watch/` path).
pub fn watch(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    crate::watch::start(shared, t, req)
}
