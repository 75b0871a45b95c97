//! The NATS side: pull `RenderRequest`s from the renderer's work consumer, render, publish
//! `RenderReady` or `RenderFailed`, ack.

use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream;
use ferry_bus::journey::Timer;
use ferry_bus::topology::{KUSTOMIZE_RENDERER, WORK_STREAM};
use ferry_bus::{
    Delivery, HandlerConfig, HandlerError, Outcome, PublishOptions, Publisher, RunSummary,
    SubscribeError, Subscriber,
};
use ferry_proto::events::v1 as pb;
use flux_api::conditions::reasons;
use tracing::Instrument;

use crate::flux::spec::RenderSpec;
use crate::journey;
use crate::render::{CacheOutcome, ChangeSet, RenderRequest, Renderer};

/// What every handler task shares.
#[derive(Debug)]
pub struct WorkerContext {
    /// The renderer.
    pub renderer: Arc<Renderer>,
    /// Concurrency, grace and retry tuning of the handler loop.
    pub handler: HandlerConfig,
    /// The `ferry-journeys` bucket, where each render is recorded for `ferry trace`.
    pub journeys: jetstream::kv::Store,
}

/// Binds to the `kustomize-renderer` consumer on `FERRY_WORK` and handles render requests
/// until `shutdown` completes (in-flight work is finished or handed back).
pub async fn run<S>(
    ctx: Arc<WorkerContext>,
    js: jetstream::Context,
    shutdown: S,
) -> Result<RunSummary, SubscribeError>
where
    S: Future<Output = ()>,
{
    let subscriber = Subscriber::<pb::RenderRequest>::bind(&js, WORK_STREAM, KUSTOMIZE_RENDERER)
        .await?
        .with_prefetch(ctx.handler.concurrency.max(1));
    let publisher = Publisher::new(js);
    let config = ctx.handler.clone();
    let handler = move |delivery: Delivery<pb::RenderRequest>| {
        let ctx = ctx.clone();
        let publisher = publisher.clone();
        async move { handle(&ctx, &publisher, delivery).await }
    };
    Ok(ferry_bus::run_handler_with(subscriber, handler, shutdown, config).await)
}

/// `<uid>`, or `<namespace>/<name>` when the request carries no uid.
fn identity(k: &pb::ObjectRef) -> String {
    if k.uid.is_empty() {
        format!("{}/{}", k.namespace, k.name)
    } else {
        k.uid.clone()
    }
}

/// The generation from the request's message id (`<uid>/<generation>/<digest>`).
fn generation_of(message_id: Option<&str>) -> Option<String> {
    let id = message_id?;
    let mut parts = id.splitn(3, '/');
    let _uid = parts.next()?;
    let generation = parts.next()?;
    generation.parse::<i64>().ok().map(|g| g.to_string())
}

/// Handles one delivery; the result settles it (see [`ferry_bus::run_handler_with`]).
pub async fn handle(
    ctx: &WorkerContext,
    publisher: &Publisher,
    delivery: Delivery<pb::RenderRequest>,
) -> Result<Outcome, HandlerError> {
    let msg = delivery.message();
    let Some(kustomization) = msg.kustomization.clone() else {
        return Ok(Outcome::Dead(
            "render request without a kustomization".into(),
        ));
    };
    let Some(artifact) = msg.artifact.clone() else {
        return Ok(Outcome::Dead("render request without an artifact".into()));
    };
    let span = tracing::info_span!(
        "render Kustomization",
        k8s.namespace = %kustomization.namespace,
        k8s.name = %kustomization.name,
        revision = %artifact.revision,
    );
    let message_id = delivery.info().message_id.clone();
    async move {
        let failed = |reason: &str, message: String, id_part: String| {
            let event = pb::RenderFailed {
                kustomization: Some(kustomization.clone()),
                source_revision: artifact.revision.clone(),
                reason: reason.to_string(),
                message,
            };
            let id = format!(
                "{}/{id_part}/{}/failed",
                identity(&kustomization),
                artifact.revision
            );
            (event, id)
        };
        let spec = match RenderSpec::from_json(&msg.kustomization_spec_json) {
            Ok(spec) => spec,
            Err(e) => {
                let (event, id) = failed(
                    reasons::BUILD_FAILED,
                    format!("invalid Kustomization spec: {e}"),
                    generation_of(message_id.as_deref()).unwrap_or_else(|| artifact.digest.clone()),
                );
                return publish(publisher, &event, id).await;
            }
        };
        let req = RenderRequest {
            kustomization: format!("{}/{}", kustomization.namespace, kustomization.name),
            artifact_digest: artifact.digest.clone(),
            source_revision: artifact.revision.clone(),
            spec,
            substitutions: msg.substitutions.clone().into_iter().collect(),
            change: Some(ChangeSet {
                previous_revision: artifact.previous_revision.clone(),
                changed_paths: artifact.changed_paths.clone(),
                all_paths_changed: artifact.all_paths_changed,
            }),
        };
        let timer = Timer::start();
        match ctx.renderer.render_stored(&req).await {
            Ok(rendered) => {
                let step = journey::rendered(&timer, &rendered);
                journey::record(&ctx.journeys, &kustomization, &artifact, step).await;
                tracing::info!(
                    render_key = %rendered.render_key,
                    objects = rendered.object_count,
                    cache = ?rendered.cache,
                    "Rendered."
                );
                let event = pb::RenderReady {
                    kustomization: Some(kustomization.clone()),
                    source_revision: rendered.source_revision,
                    artifact_digest: rendered.artifact_digest,
                    render_key: rendered.render_key.clone(),
                    render_digest: rendered.render_digest,
                    object_count: rendered.object_count,
                    cache_hit: rendered.cache != CacheOutcome::Miss,
                };
                let id = format!("{}/{}", identity(&kustomization), rendered.render_key);
                publish(publisher, &event, id).await
            }
            Err(e) if e.is_transient() => Err(HandlerError::transient(e)),
            Err(e) => {
                tracing::warn!(reason = e.reason(), error = %e, "Render failed.");
                let step = journey::failed(&timer, e.reason(), &e.to_string());
                journey::record(&ctx.journeys, &kustomization, &artifact, step).await;
                let id_part = generation_of(message_id.as_deref())
                    .unwrap_or_else(|| ctx.renderer.key_for(&req));
                let (event, id) = failed(e.reason(), e.to_string(), id_part);
                publish(publisher, &event, id).await
            }
        }
    }
    .instrument(span)
    .await
}

async fn publish<E: ferry_bus::Event>(
    publisher: &Publisher,
    event: &E,
    id: String,
) -> Result<Outcome, HandlerError> {
    publisher
        .publish_event(event, PublishOptions::with_id(id))
        .await
        .map_err(HandlerError::transient)?;
    Ok(Outcome::Ack)
}
