//! Watches Kustomizations and publishes reconcile requests: on a new generation or
//! `requestedAt` token at once, and at every interval slot. Every replica publishes; the
//! message ids make JetStream keep one copy of each.

use ferry_bus::{PublishOptions, Publisher, topology};
use ferry_proto::events::v1::{ObjectRef, ReconcileRequest};
use ferry_schedule::{Observed, Schedule, Trigger};
use flux_api::kustomize::Kustomization;
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// The work subject token for Kustomizations.
pub const WORK_KIND: &str = "kustomization";

/// The annotation that asks for a reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Runs until `shutdown`: the watch feeds the schedule, a one-second tick drains what is due.
pub async fn run(kube: kube::Client, publisher: Publisher, shutdown: CancellationToken) {
    let api: Api<Kustomization> = Api::all(kube);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut schedule = Schedule::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                for trigger in schedule.due(now_ms()) {
                    publish_request(&publisher, &trigger).await;
                }
            }
            event = events.next() => match event {
                Some(Ok(event)) => on_event(&mut schedule, &publisher, event).await,
                Some(Err(e)) => tracing::warn!(error = %e, "Kustomization watch failed; retrying."),
                None => return,
            },
        }
    }
}

async fn on_event(
    schedule: &mut Schedule,
    publisher: &Publisher,
    event: watcher::Event<Kustomization>,
) {
    match event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
            let mut seen = observed(&obj);
            if obj.metadata.deletion_timestamp.is_some() {
                // Deletion: one reconcile runs the finalizer (deletionPolicy, prune).
                seen.generation = -1;
                seen.suspended = false;
            }
            if let Some(trigger) = schedule.observe(seen, now_ms()) {
                publish_request(publisher, &trigger).await;
            }
        }
        watcher::Event::Delete(obj) => schedule.forget(&obj.uid().unwrap_or_default()),
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

fn observed(obj: &Kustomization) -> Observed {
    Observed {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: obj.metadata.generation.unwrap_or_default(),
        requested_at: obj.annotations().get(REQUESTED_AT).cloned(),
        interval: obj.spec.interval.as_duration(),
        suspended: obj.spec.suspend == Some(true),
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
        triggered_at_unix_ms: i64::try_from(now_ms()).unwrap_or_default(),
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

async fn publish_request(publisher: &Publisher, trigger: &Trigger) {
    let req = request(
        &trigger.namespace,
        &trigger.name,
        &trigger.uid,
        trigger.generation,
        trigger.reason,
        trigger.requested_at.as_deref(),
    );
    publish(publisher, &req, trigger.message_id.clone()).await;
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
