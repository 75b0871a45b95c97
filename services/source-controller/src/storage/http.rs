//! Serves artifacts over HTTP at Flux's URL layout (`/<kind>/<ns>/<name>/<file>`), so a Flux
//! kustomize-controller, or `curl`, can download them from any replica.

use super::{ArtifactIndex, ArtifactObjects};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// What the handler needs.
#[derive(Clone)]
pub struct ArtifactServer {
    /// Per-source index (path to digest).
    pub index: ArtifactIndex,
    /// The bytes.
    pub objects: ArtifactObjects,
}

/// The router serving every stored artifact path.
pub fn router(server: ArtifactServer) -> Router {
    Router::new()
        .route("/{*path}", get(serve))
        .with_state(server)
}

async fn serve(State(server): State<ArtifactServer>, Path(path): Path<String>) -> Response {
    let record = match server.index.find_path(&path).await {
        Ok(Some(record)) => record,
        Ok(None) => return (StatusCode::NOT_FOUND, "artifact not found\n").into_response(),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    let Ok(digest) = record.digest.parse() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "malformed digest in index\n",
        )
            .into_response();
    };
    match server.objects.get(&digest).await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/x-gzip".to_string()),
                (header::ETAG, format!("\"{}\"", record.digest)),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
