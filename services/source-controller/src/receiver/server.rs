//! The webhook endpoint: `POST /hook/<sha256>` validates the call for the Receiver with that
//! path and patches `requestedAt` on its resources. A rejected call changes nothing.

use super::targets::request_reconcile;
use super::token::read_token;
use super::verify::{HookRequest, ReceiverKind, Verdict, verify};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use flux_api::notification::Receiver;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

/// What the handler needs.
#[derive(Clone)]
pub struct ReceiverState {
    /// Kubernetes client for secrets and patches.
    pub kube: kube::Client,
    /// Every Receiver, kept current by a reflector.
    pub receivers: Store<Receiver>,
}

/// The router serving `/hook/{id}`.
pub fn router(state: ReceiverState) -> Router {
    Router::new()
        .route("/hook/{id}", post(hook))
        .with_state(state)
}

async fn hook(
    State(state): State<ReceiverState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = format!("/hook/{id}");
    let found =
        state.receivers.state().into_iter().find(|r| {
            r.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path.as_str())
        });
    let Some(receiver) = found else {
        return (StatusCode::NOT_FOUND, "no receiver for this path\n".into());
    };
    let who = format!(
        "{}/{}",
        receiver.namespace().unwrap_or_default(),
        receiver.name_any()
    );
    if receiver.spec.suspend == Some(true) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("receiver {who} is suspended\n"),
        );
    }
    let kind = match receiver_kind(&receiver) {
        Ok(kind) => kind,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")),
    };
    let token = match read_token(&state.kube, &receiver).await {
        Ok(token) => token,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("receiver {who}: {e}\n"),
            );
        }
    };
    let events = receiver.spec.events.clone().unwrap_or_default();
    let request = HookRequest {
        headers: &headers,
        body: &body,
    };
    match verify(kind, &token, &events, &request) {
        Err(e) => {
            tracing::info!(receiver = %who, error = %e, "Rejected webhook call.");
            (e.status(), format!("{e}\n"))
        }
        Ok(Verdict::Acknowledge(what)) => (StatusCode::OK, format!("{what} acknowledged\n")),
        Ok(Verdict::Trigger) => trigger(&state, &receiver, &who).await,
    }
}

async fn trigger(state: &ReceiverState, receiver: &Receiver, who: &str) -> (StatusCode, String) {
    let token = k8s_openapi::jiff::Timestamp::now().to_string();
    match request_reconcile(&state.kube, receiver, &token).await {
        Ok(count) => {
            tracing::info!(receiver = %who, objects = count, "Webhook requested reconciles.");
            (
                StatusCode::OK,
                format!("requested reconcile of {count} object(s)\n"),
            )
        }
        Err(e) => {
            tracing::warn!(receiver = %who, error = %e, "Webhook could not request reconciles.");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

/// The verification for `spec.type`; types Ferry does not verify are refused, never waved through.
pub fn receiver_kind(receiver: &Receiver) -> Result<ReceiverKind, String> {
    let name = serde_json::to_value(receiver.spec.type_)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    name.parse::<ReceiverKind>().map_err(|e| e.to_string())
}
