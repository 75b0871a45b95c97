//! HTTP server: connection handling, body limits and fault injection.

pub mod router;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::faults::FaultAction;
use crate::status::ApiError;
use crate::store::Shared;
use crate::util::{Body, parse_query};

/// A parsed API request with its body read.
pub struct ApiRequest {
    /// HTTP method.
    pub method: http::Method,
    /// Request path.
    pub path: String,
    /// Decoded query parameters.
    pub query: HashMap<String, String>,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Request body.
    pub body: Bytes,
}

impl ApiRequest {
    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// A query parameter.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// True when `dryRun=All` was requested.
    pub fn dry_run(&self) -> bool {
        self.q("dryRun").is_some_and(|v| v == "All")
    }
}

/// Returned from the service to make hyper close the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub struct Dropped;

/// Accepts connections until shutdown.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let shared = shared.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let shared = shared.clone();
                async move { handle(shared, req).await }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {},
                _ = conn_shutdown.changed() => {},
            }
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Body>, Dropped> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    tracing::debug!(%method, uri = %req.uri(), "request");
    if !path.starts_with("/emulator/") {
        let (latency, action) = shared.faults.decide(method.as_str(), &path);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match action {
            FaultAction::None => {}
            FaultAction::InternalError => {
                return Ok(ApiError::internal("injected fault").into_response());
            }
            FaultAction::TooManyRequests(secs) => {
                return Ok(ApiError::too_many_requests(secs).into_response());
            }
            FaultAction::Drop => return Err(Dropped),
        }
    }
    let query = parse_query(req.uri().query());
    let (parts, body) = req.into_parts();
    let limit = shared.config.max_body_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Ok(ApiError::too_large(limit).into_response());
            }
            return Ok(
                ApiError::bad_request(format!("cannot read request body: {e}")).into_response(),
            );
        }
    };
    let ct = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut body = body;
    let review = path.contains("/authorization.k8s.io/");
    if ct.contains("protobuf") && !review {
        match crate::protobuf::decode(&body) {
            Ok(v) => body = Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            Err(e) => {
                return Ok(ApiError::unsupported_media_type(&e.to_string()).into_response());
            }
        }
    } else if ct.contains("cbor") {
        return Ok(ApiError::unsupported_media_type(ct).into_response());
    }
    let api = ApiRequest {
        method,
        path,
        query,
        headers: parts.headers,
        body,
    };
    Ok(router::route(&shared, api).await)
}
