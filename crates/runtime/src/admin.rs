//! The HTTP admin server: `/metrics`, `/healthz` and `/readyz`.

use std::future::Future;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;

use crate::{metrics::Metrics, readiness::Readiness};

/// Content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the admin handlers read.
#[derive(Debug, Clone)]
pub(crate) struct AdminState {
    /// Readiness inputs.
    pub(crate) readiness: Readiness,
    /// The metrics registry.
    pub(crate) metrics: Metrics,
}

/// The admin routes.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<AdminState>) -> Response {
    match state.metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding metrics failed\n",
        )
            .into_response(),
    }
}

/// Liveness: the process runs and its runtime answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: 200 when NATS and the Kubernetes API answer, else 503 naming what does not.
async fn readyz(State(state): State<AdminState>) -> Response {
    let status = state.readiness.status();
    let code = if status.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(status.to_json())).into_response()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::readiness::Dependency;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn endpoints_report_liveness_readiness_and_metrics() {
        let readiness = Readiness::new();
        let metrics = Metrics::new(
            "test-svc",
            "0.0.0",
            readiness.clone(),
            tokio::runtime::Handle::current(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            AdminState {
                readiness: readiness.clone(),
                metrics,
            },
            stop.clone().cancelled_owned(),
        ));

        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        readiness.set(Dependency::Kubernetes, true, "v1.33.0");
        let not_ready = get(addr, "/readyz").await;
        assert!(not_ready.starts_with("HTTP/1.1 503"), "{not_ready}");
        assert!(not_ready.contains(r#""not_ready":["nats"]"#), "{not_ready}");
        readiness.set(Dependency::Nats, true, "connected");
        let ready = get(addr, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
        let scrape = get(addr, "/metrics").await;
        assert!(scrape.contains("application/openmetrics-text"), "{scrape}");
        assert!(
            scrape.contains(r#"ferry_ready{dependency="service"} 1"#),
            "{scrape}"
        );

        stop.cancel();
        server
            .await
            .expect("join")
            .expect("admin server stops cleanly");
    }
}
