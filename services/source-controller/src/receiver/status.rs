//! Keeps every Receiver's `status.webhookPath` and Ready condition current (Flux's
//! notification-controller job), and feeds the reflector the webhook server reads.

use super::path::webhook_path;
use super::server::receiver_kind;
use super::token::read_token;
use flux_api::conditions::{self, reasons, types};
use flux_api::meta::ConditionStatus;
use flux_api::notification::{Receiver, ReceiverStatus};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

/// Starts the reflector; returns its store and the task that drives it and writes status.
pub fn start(
    kube: kube::Client,
    shutdown: CancellationToken,
) -> (Store<Receiver>, tokio::task::JoinHandle<()>) {
    let (reader, writer) = reflector::store();
    let api: Api<Receiver> = Api::all(kube.clone());
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .boxed();
    let task = tokio::spawn(async move {
        let mut stream = stream;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                next = stream.next() => match next {
                    Some(Ok(receiver)) => reconcile(&kube, &receiver).await,
                    Some(Err(e)) => tracing::warn!(error = %e, "Receiver watch failed; retrying."),
                    None => return,
                },
            }
        }
    });
    (reader, task)
}

/// Computes the status a Receiver should have and writes it when it differs.
async fn reconcile(kube: &kube::Client, receiver: &Receiver) {
    let desired = desired_status(kube, receiver).await;
    let current = receiver.status.clone().unwrap_or_default();
    if same(&current, &desired) {
        return;
    }
    let api: Api<Receiver> =
        Api::namespaced(kube.clone(), &receiver.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": desired });
    if let Err(e) = api
        .patch_status(
            &receiver.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        tracing::warn!(receiver = %receiver.name_any(), error = %e, "Could not write Receiver status.");
    }
}

async fn desired_status(kube: &kube::Client, receiver: &Receiver) -> ReceiverStatus {
    let mut status = receiver.status.clone().unwrap_or_default();
    let generation = receiver.metadata.generation;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut conds = status.conditions.take().unwrap_or_default();
    let outcome = match receiver_kind(receiver) {
        Err(message) => Err((reasons::VALIDATION_FAILED, message)),
        Ok(_) => match read_token(kube, receiver).await {
            Err(e) => Err((reasons::TOKEN_NOT_FOUND, e.to_string())),
            Ok(token) => Ok(webhook_path(
                &token,
                &receiver.name_any(),
                &receiver.namespace().unwrap_or_default(),
            )),
        },
    };
    match outcome {
        Ok(path) => {
            let message = format!("Receiver initialized for path: {path}");
            conditions::set(
                &mut conds,
                conditions::new_condition(
                    types::READY,
                    ConditionStatus::True,
                    reasons::SUCCEEDED,
                    message,
                    generation,
                    now,
                ),
            );
            conditions::remove(&mut conds, types::STALLED);
            status.webhook_path = Some(path);
        }
        Err((reason, message)) => {
            conditions::set(
                &mut conds,
                conditions::new_condition(
                    types::READY,
                    ConditionStatus::False,
                    reason,
                    message,
                    generation,
                    now,
                ),
            );
            status.webhook_path = None;
        }
    }
    status.conditions = Some(conds);
    status.observed_generation = generation;
    status
}

/// Equal but for condition timestamps, so an unchanged Receiver causes no write.
fn same(a: &ReceiverStatus, b: &ReceiverStatus) -> bool {
    let strip = |s: &ReceiverStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) == strip(b)
}
