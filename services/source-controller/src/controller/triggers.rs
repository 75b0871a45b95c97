//! Watches GitRepositories and publishes reconcile requests (the shared loop in
//! `ferry-triggers`): on a new generation or `requestedAt` token at once, and at every interval
//! slot; a deleted object gets one last reconcile that drops its artifacts.

use crate::reconcile::REQUESTED_AT;
use ferry_bus::{Publisher, topology};
use ferry_schedule::{Observed, Trigger};
use ferry_triggers::{OnDelete, Target};
use flux_api::source::GitRepository;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

/// The trace-context annotation (defined in `ferry-bus`).
pub use ferry_bus::trace_headers::TRACEPARENT_ANNOTATION;

/// The work subject token for GitRepositories.
pub const WORK_KIND: &str = "gitrepository";

/// Where GitRepository reconcile requests go.
pub const TARGET: Target = Target {
    service: topology::SOURCE_CONTROLLER,
    token: WORK_KIND,
    api_version: "source.toolkit.fluxcd.io/v1",
    kind: "GitRepository",
};

/// Runs until `shutdown`.
pub async fn run(kube: kube::Client, publisher: Publisher, shutdown: CancellationToken) {
    let api: Api<GitRepository> = Api::all(kube);
    ferry_triggers::run(
        api,
        publisher,
        TARGET,
        observed,
        OnDelete::ReconcileOnce,
        shutdown,
    )
    .await;
}

fn observed(obj: &GitRepository) -> Observed {
    Observed {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: obj.metadata.generation.unwrap_or_default(),
        requested_at: obj.annotations().get(REQUESTED_AT).cloned(),
        interval: obj.spec.interval.as_duration(),
        suspended: obj.spec.suspend == Some(true),
        traceparent: obj.annotations().get(TRACEPARENT_ANNOTATION).cloned(),
    }
}

/// Publishes a reconcile request for a GitRepository.
pub async fn publish_request(publisher: &Publisher, trigger: &Trigger) {
    ferry_triggers::publish_request(publisher, &TARGET, trigger).await;
}
