//! Watches Kustomizations and publishes reconcile requests: on a new generation or
//! `requestedAt` token at once, and at every interval slot. Every replica publishes; the
//! message ids make JetStream keep one copy of each.

use ferry_bus::{Publisher, topology};
use ferry_schedule::{Observed, Trigger};
use ferry_triggers::{OnDelete, Target};
use flux_api::kustomize::Kustomization;
use kube::runtime::reflector::store::Writer;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

/// The work subject token for Kustomizations.
pub const WORK_KIND: &str = "kustomization";

/// The annotation that asks for a reconcile now (Flux's).
pub use flux_api::meta::RECONCILE_REQUEST_ANNOTATION as REQUESTED_AT;

/// Where Kustomization reconcile requests go.
pub const TARGET: Target = Target {
    service: topology::APPLIER,
    token: WORK_KIND,
    api_version: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
};

/// Runs until `shutdown` (the shared loop in `ferry-triggers`), keeping `store` filled with
/// every Kustomization from the same watch.
pub async fn run(
    kube: kube::Client,
    publisher: Publisher,
    store: Writer<Kustomization>,
    shutdown: CancellationToken,
) {
    let api: Api<Kustomization> = Api::all(kube);
    ferry_triggers::run_reflecting(
        api,
        publisher,
        TARGET,
        observed,
        OnDelete::Forget,
        Some(store),
        shutdown,
    )
    .await;
}

/// A terminating Kustomization is due once more (generation `-1`): that reconcile runs the
/// finalizer (deletionPolicy, prune); the final deletion itself needs nothing.
pub fn observed(obj: &Kustomization) -> Observed {
    let terminating = obj.metadata.deletion_timestamp.is_some();
    Observed {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: if terminating {
            -1
        } else {
            obj.metadata.generation.unwrap_or_default()
        },
        requested_at: obj.annotations().get(REQUESTED_AT).cloned(),
        interval: obj.spec.interval.as_duration(),
        suspended: obj.spec.suspend == Some(true) && !terminating,
        traceparent: None,
    }
}

/// Publishes a reconcile request from outside the watch (a source moved, a retry fell due).
pub async fn publish(publisher: &Publisher, trigger: &Trigger) {
    ferry_triggers::publish_request(publisher, &TARGET, trigger).await;
}
