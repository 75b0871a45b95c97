//! Watches Kustomizations and publishes reconcile requests: on a new generation or
//! `requestedAt` token at once, and at every interval slot. Every replica publishes; the
//! message ids make JetStream keep one copy of each.

use ferry_bus::{PublishOptions, Publisher, topology};
use ferry_proto::events::v1::{ObjectRef, ReconcileRequest};
use ferry_schedule::Observed;
use ferry_triggers::{OnDelete, Target};
use flux_api::kustomize::Kustomization;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

/// The work subject token for Kustomizations.
pub const WORK_KIND: &str = "kustomization";

/// The annotation that asks for a reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Where Kustomization reconcile requests go.
pub const TARGET: Target = Target {
    service: topology::APPLIER,
    token: WORK_KIND,
    api_version: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
};

/// Runs until `shutdown` (the shared loop in `ferry-triggers`).
pub async fn run(kube: kube::Client, publisher: Publisher, shutdown: CancellationToken) {
    let api: Api<Kustomization> = Api::all(kube);
    ferry_triggers::run(api, publisher, TARGET, observed, OnDelete::Forget, shutdown).await;
}

/// A terminating Kustomization is due once more (generation `-1`): that reconcile runs the
/// finalizer (deletionPolicy, prune); the final deletion itself needs nothing.
fn observed(obj: &Kustomization) -> Observed {
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

/// The `ReconcileRequest` for a Kustomization.
pub fn request(
    namespace: &str,
    name: &str,
    uid: &str,
    generation: i64,
    reason: &str,
    requested_at: Option<&str>,
) -> ReconcileRequest {
    ReconcileRequest {
        object: Some(ObjectRef {
            api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
            kind: "Kustomization".into(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
        }),
        reason: reason.to_owned(),
        generation,
        requested_at: requested_at.unwrap_or_default().to_owned(),
        triggered_at_unix_ms: i64::try_from(ferry_triggers::now_ms()).unwrap_or_default(),
    }
}

/// Publishes a reconcile request with a de-duplicating id; a failure is logged, the next
/// trigger or interval retries.
pub async fn publish(publisher: &Publisher, request: &ReconcileRequest, message_id: String) {
    let subject = topology::work_subject(topology::APPLIER, WORK_KIND);
    if let Err(e) = publisher
        .publish(&subject, request, PublishOptions::with_id(message_id))
        .await
    {
        let name = request.object.as_ref().map(|o| o.name.as_str());
        tracing::warn!(error = %e, name = ?name, "Could not publish a reconcile request.");
    }
}
