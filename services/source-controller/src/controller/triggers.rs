//! Watches GitRepositories and publishes reconcile requests: on a new generation or
//! `requestedAt` token at once, and at every interval slot. Every replica publishes; the
//! message ids make JetStream keep one copy of each.

use crate::reconcile::REQUESTED_AT;
use ferry_bus::{PublishOptions, Publisher, topology};
use ferry_proto::events::v1::{ObjectRef, ReconcileRequest};
use ferry_schedule::{Observed, Schedule, Trigger};
use flux_api::source::GitRepository;
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Set next to `requestedAt` by Ferry's image-scanner: the requester's W3C trace context.
pub const TRACEPARENT_ANNOTATION: &str = "ferry.dev/traceparent";

/// The work subject token for GitRepositories.
pub const WORK_KIND: &str = "gitrepository";

/// Runs until `shutdown`: the watch feeds the schedule, a one-second tick drains what is due.
pub async fn run(kube: kube::Client, publisher: Publisher, shutdown: CancellationToken) {
    let api: Api<GitRepository> = Api::all(kube);
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
                Some(Err(e)) => tracing::warn!(error = %e, "GitRepository watch failed; retrying."),
                None => return,
            },
        }
    }
}

async fn on_event(
    schedule: &mut Schedule,
    publisher: &Publisher,
    event: watcher::Event<GitRepository>,
) {
    match event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
            if let Some(trigger) = schedule.observe(observed(&obj), now_ms()) {
                publish_request(publisher, &trigger).await;
            }
        }
        watcher::Event::Delete(obj) => {
            // The finalizer-free cleanup: one last reconcile drops the artifact index.
            let mut seen = observed(&obj);
            seen.generation = -1;
            if let Some(trigger) = schedule.observe(seen, now_ms()) {
                publish_request(publisher, &trigger).await;
            }
            schedule.forget(&obj.uid().unwrap_or_default());
        }
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
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

/// The message id of a trigger, exposed for tests and tools.
pub fn request_id(trigger: &Trigger) -> &str {
    &trigger.message_id
}

/// Publishes a reconcile request; a failure is logged, the next trigger or interval retries.
/// A trigger carrying the requester's trace context is published inside a span of that trace.
pub async fn publish_request(publisher: &Publisher, trigger: &Trigger) {
    let span =
        tracing::info_span!("request reconcile", k8s.name = %trigger.name, reason = trigger.reason);
    if let Some(traceparent) = &trigger.traceparent {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", traceparent.as_str());
        let _ = span.set_parent(ferry_bus::trace_headers::extract_context(&headers));
    }
    publish_in_span(publisher, trigger).instrument(span).await;
}

async fn publish_in_span(publisher: &Publisher, trigger: &Trigger) {
    let request = ReconcileRequest {
        object: Some(ObjectRef {
            api_version: "source.toolkit.fluxcd.io/v1".into(),
            kind: "GitRepository".into(),
            namespace: trigger.namespace.clone(),
            name: trigger.name.clone(),
            uid: trigger.uid.clone(),
        }),
        reason: trigger.reason.into(),
        generation: trigger.generation,
        requested_at: trigger.requested_at.clone().unwrap_or_default(),
        triggered_at_unix_ms: i64::try_from(now_ms()).unwrap_or_default(),
    };
    let subject = topology::work_subject(topology::SOURCE_CONTROLLER, WORK_KIND);
    let options = PublishOptions::with_id(trigger.message_id.clone());
    if let Err(e) = publisher.publish(&subject, &request, options).await {
        tracing::warn!(error = %e, name = %trigger.name, "Could not publish a reconcile request.");
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
