//! The handlers of the four consumers. Each reconcile holds a lease on its Kustomization so no
//! other replica works on it at the same time; the health wait runs after the ack as its own
//! task, cancelled when a newer reconcile of the same Kustomization starts on this replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_bus::{
    Delivery, HandlerError, Lease, LeaseError, Outcome, PublishOptions, Publisher, topology,
};
use ferry_proto::events::v1::{
    ArtifactReady, ObjectRef, ReconcileRequest, RenderFailed, RenderReady, RenderRequest,
};
use ferry_schedule::Trigger;
use flux_api::conditions::reasons;
use flux_api::kustomize::Kustomization;
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::fanout::{render_request_id, render_unaffected, upstream_request_id};
use super::{source, triggers};
use crate::reconcile::{
    self, InFlight, ObjectStoreRenders, PendingHealth, ReconcileError, Running, Step,
};

/// How long a lease lasts; longer than the longest apply (the health wait runs without it).
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// The work subject token of render requests.
pub const RENDER_KIND: &str = "kustomization";

type Key = (String, String);

/// What every handler shares on one replica.
pub struct Shared {
    /// The reconcile context (its renders are the ones this replica was told about).
    pub ctx: reconcile::Context<ObjectStoreRenders>,
    /// Every Kustomization, from the trigger loop's watch (the fan-out's lookup of a source's users).
    kustomizations: Store<Kustomization>,
    leases: async_nats::jetstream::kv::Store,
    publisher: Publisher,
    inflight: InFlight,
    /// The spec generation each Kustomization's latest render request was sent for.
    requested_generation: Mutex<HashMap<Key, i64>>,
    /// The `FERRY_EVENTS` sequence of the render event last recorded per Kustomization, so a
    /// replayed older event never replaces a newer one.
    recorded_sequence: Mutex<HashMap<Key, u64>>,
    health: TaskTracker,
    shutdown: CancellationToken,
}

impl Shared {
    /// Shares `ctx` between the handlers.
    pub fn new(
        ctx: reconcile::Context<ObjectStoreRenders>,
        kustomizations: Store<Kustomization>,
        leases: async_nats::jetstream::kv::Store,
        publisher: Publisher,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            ctx,
            kustomizations,
            leases,
            publisher,
            inflight: InFlight::default(),
            requested_generation: Mutex::default(),
            recorded_sequence: Mutex::default(),
            health: TaskTracker::new(),
            shutdown,
        }
    }

    /// The running health waits.
    pub fn health_tasks(&self) -> &TaskTracker {
        &self.health
    }

    fn requested_generation(&self, namespace: &str, name: &str) -> Option<i64> {
        let map = self
            .requested_generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(namespace.to_owned(), name.to_owned())).copied()
    }

    /// Whether the render event at `sequence` is newer than the one recorded for
    /// `namespace/name`; if so it becomes the recorded one.
    fn newer_render_event(&self, kustomization: Option<&ObjectRef>, sequence: u64) -> bool {
        let Some(k) = kustomization else {
            return false;
        };
        let mut map = self
            .recorded_sequence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let last = map
            .entry((k.namespace.clone(), k.name.clone()))
            .or_default();
        if sequence > *last {
            *last = sequence;
            true
        } else {
            false
        }
    }

    /// Records a `RenderReady` seen at `sequence` on `FERRY_EVENTS`, unless a newer render
    /// event of the same Kustomization was recorded already.
    pub async fn record_ready(&self, event: &RenderReady, sequence: u64) {
        if self.newer_render_event(event.kustomization.as_ref(), sequence) {
            self.ctx.renders.record_ready(event).await;
        }
    }

    /// Records a `RenderFailed` seen at `sequence`, like [`Shared::record_ready`].
    pub async fn record_failed(&self, event: &RenderFailed, sequence: u64) {
        if self.newer_render_event(event.kustomization.as_ref(), sequence) {
            self.ctx.renders.record_failed(event).await;
        }
    }

    fn set_requested_generation(&self, namespace: &str, name: &str, generation: i64) {
        let mut map = self
            .requested_generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert((namespace.to_owned(), name.to_owned()), generation);
    }
}

fn object_ref(ks: &Kustomization) -> ObjectRef {
    ObjectRef {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        namespace: ks.namespace().unwrap_or_default(),
        name: ks.name_any(),
        uid: ks.uid().unwrap_or_default(),
    }
}

/// `ferry.work.applier.kustomization`: reconcile with the render this replica holds for the
/// source's current revision, or ask the renderer for one.
pub async fn on_reconcile_request(
    shared: Arc<Shared>,
    delivery: Delivery<ReconcileRequest>,
) -> Result<Outcome, HandlerError> {
    let request = delivery.message().clone();
    let Some(object) = request.object.clone() else {
        return Ok(Outcome::Dead("reconcile request without an object".into()));
    };
    let sequence = delivery.stream_sequence();
    let span = tracing::info_span!(
        "reconcile Kustomization",
        k8s.namespace = %object.namespace,
        k8s.name = %object.name,
        reason = %request.reason,
    );
    async move {
        let (ns, name) = (object.namespace.as_str(), object.name.as_str());
        let api: Api<Kustomization> = Api::namespaced(shared.ctx.kube.clone(), ns);
        let ks = match api.get_opt(name).await {
            Ok(Some(ks)) => ks,
            Ok(None) => return Ok(Outcome::Ack),
            Err(e) => return Err(HandlerError::transient(e)),
        };
        if ks.metadata.deletion_timestamp.is_some() || ks.spec.suspend == Some(true) {
            return reconcile_object(&shared, ns, name).await;
        }
        let artifact = source::current_artifact(&shared.ctx.kube, &ks)
            .await
            .map_err(HandlerError::transient)?;
        let Some(artifact) = artifact else {
            // No artifact yet: the reconcile writes the waiting status; the artifact's
            // ArtifactReady brings the render.
            return reconcile_object(&shared, ns, name).await;
        };
        let generation = ks.metadata.generation.unwrap_or_default();
        let uid = ks.uid().unwrap_or_default();
        // Ids unique per request: a replica that lost its renders (restart) must be able to
        // ask again within the work stream's duplicate window.
        let id = format!(
            "{}/{}/{sequence}",
            render_request_id(&uid, generation, &artifact.digest),
            request.reason
        );
        let held = shared.ctx.renders.ready_revision(ns, name).await;
        if held.as_deref() == Some(artifact.revision.as_str()) {
            let outcome = reconcile_object(&shared, ns, name).await;
            if shared.requested_generation(ns, name) != Some(generation) {
                // The spec changed since the render was asked for: fields the renderer reads
                // may have changed too. The new render, if it differs, is applied when ready.
                send_render(&shared, &ks, &artifact, id).await?;
            }
            outcome
        } else {
            send_render(&shared, &ks, &artifact, id).await?;
            Ok(Outcome::Ack)
        }
    }
    .instrument(span)
    .await
}

/// `ferry.events.artifact.ready`: a render request for each Kustomization using the source,
/// or a reconcile at the new revision for those the change cannot touch.
pub async fn on_artifact_ready(
    shared: Arc<Shared>,
    delivery: Delivery<ArtifactReady>,
) -> Result<Outcome, HandlerError> {
    let artifact = delivery.message().clone();
    let Some(source_ref) = artifact.source.clone() else {
        return Ok(Outcome::Dead("artifact event without a source".into()));
    };
    let span = tracing::info_span!(
        "fan out artifact",
        source.kind = %source_ref.kind,
        k8s.namespace = %source_ref.namespace,
        k8s.name = %source_ref.name,
        revision = %artifact.revision,
        digest = %artifact.digest,
        renders = tracing::field::Empty,
        skipped = tracing::field::Empty,
    );
    async move {
        // Until the watch has listed once, an empty store would drop the event's work.
        let listed = tokio::time::timeout(
            Duration::from_secs(30),
            shared.kustomizations.wait_until_ready(),
        )
        .await;
        if !matches!(listed, Ok(Ok(()))) {
            return Err(HandlerError::transient(
                "the Kustomization watch has not listed the cluster's Kustomizations yet",
            ));
        }
        let users: Vec<Kustomization> = shared
            .kustomizations
            .state()
            .into_iter()
            .filter(|ks| source::uses_source(ks, &source_ref))
            .map(|ks| (*ks).clone())
            .collect();
        let siblings: Vec<String> = users
            .iter()
            .map(|ks| ks.spec.path.clone().unwrap_or_default())
            .collect();
        let (mut renders, mut skipped) = (0u32, 0u32);
        for ks in &users {
            if ks.spec.suspend == Some(true) || ks.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let ns = ks.namespace().unwrap_or_default();
            let name = ks.name_any();
            let uid = ks.uid().unwrap_or_default();
            let generation = ks.metadata.generation.unwrap_or_default();
            let path = ks.spec.path.clone().unwrap_or_default();
            let unaffected = render_unaffected(&path, &siblings, &artifact)
                && shared.requested_generation(&ns, &name) == Some(generation)
                && shared
                    .ctx
                    .renders
                    .advance(&ns, &name, &artifact.previous_revision, &artifact.revision)
                    .await;
            if unaffected {
                tracing::info!(
                    k8s.namespace = %ns, k8s.name = %name,
                    "Nothing under the Kustomization's path changed; applying the new revision without a render."
                );
                skipped += 1;
                // Reconcile here, with the render just moved to the new revision: the
                // source's status may not show that revision yet, so a work-queue reconcile
                // could ask for a render of the old one.
                if reconcile_object(&shared, &ns, &name).await? != Outcome::Ack {
                    let id = upstream_request_id(&uid, generation, &artifact.digest);
                    let trigger = Trigger::external(&triggers::observed(ks), "upstream", id);
                    triggers::publish(&shared.publisher, &trigger).await;
                }
            } else {
                renders += 1;
                let id = render_request_id(&uid, generation, &artifact.digest);
                send_render(&shared, ks, &artifact, id).await?;
            }
        }
        tracing::Span::current().record("renders", renders);
        tracing::Span::current().record("skipped", skipped);
        Ok(Outcome::Ack)
    }
    .instrument(span)
    .await
}

/// `ferry.events.render.ready`: record where the render is, then apply it.
pub async fn on_render_ready(
    shared: Arc<Shared>,
    delivery: Delivery<RenderReady>,
) -> Result<Outcome, HandlerError> {
    let event = delivery.message().clone();
    let Some(ks) = event.kustomization.clone() else {
        return Ok(Outcome::Dead("render event without a kustomization".into()));
    };
    let span = tracing::info_span!(
        "apply render",
        k8s.namespace = %ks.namespace,
        k8s.name = %ks.name,
        revision = %event.source_revision,
        render_key = %event.render_key,
        objects = event.object_count,
        cache_hit = event.cache_hit,
    );
    let sequence = delivery.stream_sequence();
    async move {
        shared.record_ready(&event, sequence).await;
        reconcile_object(&shared, &ks.namespace, &ks.name).await
    }
    .instrument(span)
    .await
}

/// `ferry.events.render.failed`: record the failure, then write it to status.
pub async fn on_render_failed(
    shared: Arc<Shared>,
    delivery: Delivery<RenderFailed>,
) -> Result<Outcome, HandlerError> {
    let event = delivery.message().clone();
    let Some(ks) = event.kustomization.clone() else {
        return Ok(Outcome::Dead("render event without a kustomization".into()));
    };
    let span = tracing::info_span!(
        "render failed",
        k8s.namespace = %ks.namespace,
        k8s.name = %ks.name,
        revision = %event.source_revision,
        reason = %event.reason,
    );
    let sequence = delivery.stream_sequence();
    async move {
        shared.record_failed(&event, sequence).await;
        reconcile_object(&shared, &ks.namespace, &ks.name).await
    }
    .instrument(span)
    .await
}

/// Publishes a `RenderRequest` (inside the caller's span, so the render joins its trace).
async fn send_render(
    shared: &Arc<Shared>,
    ks: &Kustomization,
    artifact: &ArtifactReady,
    message_id: String,
) -> Result<(), HandlerError> {
    let ns = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let substitutions = match source::substitutions(&shared.ctx.kube, ks).await {
        Ok(vars) => vars,
        Err(message) => {
            // Flux reports unresolvable substitutions as a build failure.
            let failed = RenderFailed {
                kustomization: Some(object_ref(ks)),
                source_revision: artifact.revision.clone(),
                reason: reasons::BUILD_FAILED.into(),
                message,
            };
            shared.ctx.renders.record_failed(&failed).await;
            reconcile_object(shared, &ns, &name).await?;
            return Ok(());
        }
    };
    let spec = serde_json::to_vec(&ks.spec).map_err(HandlerError::permanent)?;
    let request = RenderRequest {
        kustomization: Some(object_ref(ks)),
        artifact: Some(artifact.clone()),
        kustomization_spec_json: spec,
        substitutions,
    };
    let subject = topology::work_subject(topology::KUSTOMIZE_RENDERER, RENDER_KIND);
    shared
        .publisher
        .publish(&subject, &request, PublishOptions::with_id(message_id))
        .await
        .map_err(HandlerError::transient)?;
    shared.set_requested_generation(&ns, &name, ks.metadata.generation.unwrap_or_default());
    tracing::info!(k8s.namespace = %ns, k8s.name = %name, revision = %artifact.revision, "Render requested.");
    Ok(())
}

/// Leases the Kustomization, reads it fresh and reconciles it up to the health wait, which
/// then runs as its own task. Status is written before this returns.
async fn reconcile_object(
    shared: &Arc<Shared>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, HandlerError> {
    let key = format!("kustomization.{namespace}.{name}");
    let lease = match Lease::acquire(&shared.leases, &key, &shared.ctx.instance, LEASE_TTL).await {
        Ok(lease) => lease,
        Err(LeaseError::Held { .. }) => return Ok(Outcome::Retry(Duration::from_secs(2))),
        Err(e) => return Err(HandlerError::transient(e)),
    };
    let result = reconcile_leased(shared, namespace, name).await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "Could not release the lease; it lapses on its own.");
    }
    result
}

async fn reconcile_leased(
    shared: &Arc<Shared>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, HandlerError> {
    let api: Api<Kustomization> = Api::namespaced(shared.ctx.kube.clone(), namespace);
    let ks = match api.get_opt(name).await {
        Ok(Some(ks)) => ks,
        Ok(None) => return Ok(Outcome::Ack),
        Err(e) => return Err(HandlerError::transient(e)),
    };
    let running = shared.inflight.begin(namespace, name);
    match reconcile::reconcile_until_health(&ks, &shared.ctx).await {
        Ok(Step::Done(_)) => Ok(Outcome::Ack),
        Ok(Step::HealthPending(pending)) => {
            spawn_health(shared, pending, running);
            Ok(Outcome::Ack)
        }
        Err(ReconcileError::Status(e)) => Err(HandlerError::transient(ReconcileError::Status(e))),
        Err(e) => {
            tracing::info!(error = %e, reason = e.reason(), "Reconcile failed; status written.");
            schedule_retry(shared, &ks, &e);
            Ok(Outcome::Ack)
        }
    }
}

fn spawn_health(shared: &Arc<Shared>, pending: Box<PendingHealth>, running: Running) {
    let ks = pending.kustomization().clone();
    let span = tracing::info_span!(
        "health check",
        k8s.namespace = %ks.namespace().unwrap_or_default(),
        k8s.name = %ks.name_any(),
        objects = pending.targets().count(),
    );
    let shared = shared.clone();
    shared.clone().health.spawn(
        async move {
            let token = running.token().clone();
            tokio::select! {
                result = pending.complete(&shared.ctx, &token) => {
                    if let Err(e) = result {
                        tracing::info!(error = %e, "Health check failed; status written.");
                        schedule_retry(&shared, &ks, &e);
                    }
                }
                // Abandoned on shutdown; the next reconcile (interval or another replica)
                // applies again (a no-op) and waits again.
                () = shared.shutdown.cancelled() => {}
            }
            drop(running);
        }
        .instrument(span),
    );
}

/// Keeps this replica's view of every Kustomization's latest render current: an ordered,
/// ephemeral consumer reads all render events on `FERRY_EVENTS` (from the start, so a restarted
/// replica learns the renders of the last 7 days), whichever replica's durable consumer
/// handles them. Without it a replica would know only the renders it applied itself.
pub async fn follow_renders(
    shared: Arc<Shared>,
    jetstream: async_nats::jetstream::Context,
    shutdown: CancellationToken,
) {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    use futures::StreamExt;
    use prost::Message as _;

    let filter = format!("{}.>", topology::RENDER_READY.trim_end_matches(".ready"));
    loop {
        let messages = async {
            let stream = jetstream.get_stream(topology::EVENTS_STREAM).await?;
            let consumer = stream
                .create_consumer(OrderedConfig {
                    filter_subject: filter.clone(),
                    deliver_policy: DeliverPolicy::All,
                    ..OrderedConfig::default()
                })
                .await?;
            consumer
                .messages()
                .await
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        }
        .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot follow render events; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = messages.next() => next,
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Render event stream failed; resuming.");
                    break;
                }
                None => break,
            };
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            if message.subject.as_str() == topology::RENDER_READY {
                if let Ok(event) = RenderReady::decode(message.payload.as_ref()) {
                    shared.record_ready(&event, sequence).await;
                }
            } else if message.subject.as_str() == topology::RENDER_FAILED
                && let Ok(event) = RenderFailed::decode(message.payload.as_ref())
            {
                shared.record_failed(&event, sequence).await;
            }
        }
    }
}

/// After a failed reconcile, asks for another one after `retryInterval` (the dependency
/// re-check period for `DependencyNotReady`), as Flux requeues. Stalled objects wait for a spec
/// change. The timer lives on this replica; if it dies first, the interval trigger retries.
/// The id is per time slot, so replicas' retries of the same failure are one message.
fn schedule_retry(shared: &Arc<Shared>, ks: &Kustomization, error: &ReconcileError) {
    if error.is_stalling() || matches!(error, ReconcileError::HealthCanceled(_)) {
        return;
    }
    let delay = error.requeue_after(ks.spec.retry_interval(), shared.ctx.dependency_requeue);
    let observed = triggers::observed(ks);
    let shutdown = shared.shutdown.clone();
    let publisher = shared.publisher.clone();
    shared.health.spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(delay) => {
                let trigger = Trigger::retry(&observed, delay, ferry_triggers::now_ms());
                triggers::publish(&publisher, &trigger).await;
            }
        }
    });
}
