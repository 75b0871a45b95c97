//! Watch streams: resume from a resourceVersion, bookmarks, 410 Gone for expired versions.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::handlers::{HandlerResult, Target, present, selected};
use crate::resources::ResourceDef;
use crate::selectors::Selectors;
use crate::server::ApiRequest;
use crate::status::ApiError;
use crate::store::{EventType, Shared, WatchEvent};
use crate::table::{partial, table, wants_metadata, wants_table};
use crate::util::NoError;

struct Filter {
    def: ResourceDef,
    namespace: Option<String>,
    selectors: Selectors,
    table: bool,
    metadata_only: bool,
    include_object: Option<String>,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        selected(&self.selectors, &self.def, obj)
    }

    fn render(&self, kind: &str, obj: &Value) -> Bytes {
        let object = if self.table {
            let rv = crate::util::get_str(obj, &["metadata", "resourceVersion"]).unwrap_or("");
            let req = TableReq(self.include_object.clone());
            table(
                &self.def,
                &[present(&self.def, obj)],
                json!({"resourceVersion": rv}),
                &req.as_api(),
            )
        } else if self.metadata_only {
            partial(obj)
        } else {
            present(&self.def, obj)
        };
        line(&json!({"type": kind, "object": object}))
    }

    /// Converts a store event into the event this watcher sees, if any.
    fn convert(&self, ev: &WatchEvent) -> Option<Bytes> {
        if ev.gr != self.def.key() {
            return None;
        }
        if let Some(ns) = &self.namespace
            && &ev.namespace != ns
        {
            return None;
        }
        let now = self.matches(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.matches(p));
        let kind = match ev.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now => "DELETED",
            _ => return None,
        };
        Some(self.render(kind, &ev.object))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(&json!({
            "type": "BOOKMARK",
            "object": {"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta},
        }))
    }
}

struct TableReq(Option<String>);

impl TableReq {
    fn as_api(&self) -> ApiRequest {
        let mut query = std::collections::HashMap::new();
        if let Some(v) = &self.0 {
            query.insert("includeObject".to_string(), v.clone());
        }
        ApiRequest {
            method: http::Method::GET,
            path: String::new(),
            query,
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

fn line(v: &Value) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

fn error_line(e: &ApiError) -> Bytes {
    line(&json!({"type": "ERROR", "object": e.to_status()}))
}

/// Starts a watch and returns the streaming response.
pub fn start(shared: &Arc<Shared>, t: &Target, req: &ApiRequest) -> HandlerResult {
    let mut field = req.q("fieldSelector").unwrap_or("").to_string();
    if let Some(name) = &t.name {
        if !field.is_empty() {
            field.push(',');
        }
        field.push_str(&format!("metadata.name={name}"));
    }
    let selectors = Selectors::from_query(req.q("labelSelector"), Some(&field))?;
    let since: Option<u64> = match req.q("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
        ),
    };
    let send_initial = req.q("sendInitialEvents") == Some("true");
    let bookmarks = req.q("allowWatchBookmarks") == Some("true");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let filter = Filter {
        def: t.def.clone(),
        namespace: t.namespace.clone(),
        selectors,
        table: wants_table(req),
        metadata_only: wants_metadata(req),
        include_object: req.q("includeObject").map(str::to_string),
    };
    let bookmark_every = shared.config.bookmark_interval;

    let mut initial: Vec<Bytes> = vec![];
    let mut error: Option<ApiError> = None;
    let (mut rx, start_rv) = {
        let state = shared.state.lock();
        let rx = state.store.subscribe();
        let rv = state.store.rv();
        match since {
            Some(since) if !send_initial => {
                if since < state.store.compacted() {
                    error = Some(ApiError::gone(since, state.store.compacted() + 1));
                } else {
                    for ev in state.store.events_since(since) {
                        if let Some(b) = filter.convert(&ev) {
                            initial.push(b);
                        }
                    }
                }
            }
            _ => {
                for obj in state
                    .store
                    .list(&filter.def.key(), filter.namespace.as_deref())
                {
                    if filter.matches(obj) {
                        initial.push(filter.render("ADDED", obj));
                    }
                }
            }
        }
        (rx, rv)
    };

    let stream = async_stream::stream! {
        for b in initial {
            yield Ok::<_, NoError>(Frame::data(b));
        }
        if let Some(e) = error {
            yield Ok(Frame::data(error_line(&e)));
            return;
        }
        if send_initial {
            yield Ok(Frame::data(filter.bookmark(start_rv, true)));
        }
        let mut last_rv = start_rv;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every.max(Duration::from_millis(50)));
        ticker.tick().await;
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= last_rv {
                            continue;
                        }
                        last_rv = ev.rv;
                        if let Some(b) = filter.convert(&ev) {
                            yield Ok(Frame::data(b));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        yield Ok(Frame::data(error_line(&ApiError::gone(last_rv, last_rv + 1))));
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    yield Ok(Frame::data(filter.bookmark(last_rv, false)));
                }
                _ = &mut deadline => return,
            }
        }
    };
    let body = StreamBody::new(stream).boxed_unsync();
    let mut resp = http::Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
