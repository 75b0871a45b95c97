//! The watch → schedule → publish loop every Ferry controller runs: a watched object's new
//! generation, new `requestedAt` token or interval slot becomes a `ReconcileRequest` on the
//! service's work subject, with a message id every replica derives alike.

use ferry_bus::{PublishOptions, Publisher, topology};
use ferry_proto::events::v1::{ObjectRef, ReconcileRequest};
use ferry_schedule::{Observed, Schedule, Trigger};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Where a kind's reconcile requests go and how they name the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The service token of the work subject, e.g. `source-controller`.
    pub service: &'static str,
    /// The kind token of the work subject, e.g. `gitrepository`.
    pub token: &'static str,
    /// `ReconcileRequest.object.api_version`.
    pub api_version: &'static str,
    /// `ReconcileRequest.object.kind`.
    pub kind: &'static str,
}

impl Target {
    /// `ferry.work.<service>.<token>`.
    pub fn subject(&self) -> String {
        topology::work_subject(self.service, self.token)
    }
}

/// What the deletion of a watched object means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// One last reconcile cleans up after it (message id with generation `-1`).
    ReconcileOnce,
    /// Nothing: a finalizer already did the work while the object was terminating.
    Forget,
}

/// Runs the watch of `K` until `shutdown`: watch events feed the schedule, a one-second tick
/// drains what is due; `observe` reads what the schedule needs from an object.
pub async fn run<K>(
    api: Api<K>,
    publisher: Publisher,
    target: Target,
    observe: fn(&K) -> Observed,
    on_delete: OnDelete,
    shutdown: CancellationToken,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    run_reflecting(api, publisher, target, observe, on_delete, None, shutdown).await;
}

/// [`run`], also keeping `store` (a reflector) up to date from the same watch, for a service
/// that needs every object of the kind at hand without listing them.
pub async fn run_reflecting<K>(
    api: Api<K>,
    publisher: Publisher,
    target: Target,
    observe: fn(&K) -> Observed,
    on_delete: OnDelete,
    store: Option<reflector::store::Writer<K>>,
    shutdown: CancellationToken,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let watch = watcher(api, watcher::Config::default()).default_backoff();
    let mut events = match store {
        Some(writer) => reflector::reflector(writer, watch).boxed(),
        None => watch.boxed(),
    };
    let mut schedule = Schedule::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                for trigger in schedule.due(now_ms()) {
                    publish_request(&publisher, &target, &trigger).await;
                }
            }
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))) => {
                    if let Some(trigger) = schedule.observe(observe(&obj), now_ms()) {
                        publish_request(&publisher, &target, &trigger).await;
                    }
                }
                Some(Ok(watcher::Event::Delete(obj))) => {
                    if on_delete == OnDelete::ReconcileOnce {
                        let mut seen = observe(&obj);
                        seen.generation = -1;
                        seen.suspended = false;
                        if let Some(trigger) = schedule.observe(seen, now_ms()) {
                            publish_request(&publisher, &target, &trigger).await;
                        }
                    }
                    schedule.forget(&obj.uid().unwrap_or_default());
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, kind = target.kind, "Watch failed; retrying."),
                None => return,
            },
        }
    }
}

/// Publishes a reconcile request; a failure is logged, the next trigger or interval retries.
/// A trigger carrying the requester's trace context is published inside a span of that trace.
pub async fn publish_request(publisher: &Publisher, target: &Target, trigger: &Trigger) {
    let span =
        tracing::info_span!("request reconcile", k8s.name = %trigger.name, reason = trigger.reason);
    if let Some(traceparent) = &trigger.traceparent {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", traceparent.as_str());
        let _ = span.set_parent(ferry_bus::trace_headers::extract_context(&headers));
    }
    publish_in_span(publisher, target, trigger)
        .instrument(span)
        .await;
}

async fn publish_in_span(publisher: &Publisher, target: &Target, trigger: &Trigger) {
    let request = ReconcileRequest {
        object: Some(ObjectRef {
            api_version: target.api_version.into(),
            kind: target.kind.into(),
            namespace: trigger.namespace.clone(),
            name: trigger.name.clone(),
            uid: trigger.uid.clone(),
        }),
        reason: trigger.reason.into(),
        generation: trigger.generation,
        requested_at: trigger.requested_at.clone().unwrap_or_default(),
        triggered_at_unix_ms: i64::try_from(now_ms()).unwrap_or_default(),
    };
    let options = PublishOptions::with_id(trigger.message_id.clone());
    if let Err(e) = publisher
        .publish(&target.subject(), &request, options)
        .await
    {
        tracing::warn!(error = %e, name = %trigger.name, kind = target.kind, "Could not publish a reconcile request.");
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_subject_is_the_services_work_subject() {
        let target = Target {
            service: "source-controller",
            token: "gitrepository",
            api_version: "source.toolkit.fluxcd.io/v1",
            kind: "GitRepository",
        };
        assert_eq!(
            target.subject(),
            "ferry.work.source-controller.gitrepository"
        );
    }
}
