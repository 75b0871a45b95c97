//! The work loop around the reconcile. Triggers (watch changes, `requestedAt`, intervals) become
//! `ReconcileRequest`s on the applier's work queue; `ArtifactReady` events fan out into
//! `RenderRequest`s for the Kustomizations using that source (or, when the change cannot touch
//! a Kustomization, into a reconcile at the new revision without a render); `RenderReady` and
//! `RenderFailed` events are recorded and reconciled. Every replica pulls from the same durable
//! consumers; a lease per Kustomization keeps reconciles of one object one at a time, and the
//! health wait runs as its own task after the message is acked.

pub mod fanout;
pub mod source;
pub mod triggers;
mod worker;

pub use ferry_schedule::{Observed, Schedule, Trigger};
pub use worker::{LEASE_TTL, Shared};

use crate::reconcile::{self, ObjectStoreRenders};
use ferry_bus::{HandlerConfig, Publisher, RunSummary, Subscriber, run_handler_with, topology};
use ferry_proto::events::v1::{ArtifactReady, ReconcileRequest, RenderFailed, RenderReady};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why the work loop could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// Binding to a durable consumer failed.
    #[error("binding to the consumer {0}: {1}")]
    Subscribe(&'static str, String),
    /// Opening the leases bucket failed.
    #[error("opening the leases bucket: {0}")]
    Leases(String),
}

/// Runs the triggers and the four consumers until `shutdown`; in-flight work finishes or is
/// handed back to another replica.
pub async fn run(
    ctx: reconcile::Context<ObjectStoreRenders>,
    jetstream: async_nats::jetstream::Context,
    concurrency: usize,
    shutdown: CancellationToken,
) -> Result<(), ControllerError> {
    let leases = jetstream
        .get_key_value(topology::LEASES_BUCKET)
        .await
        .map_err(|e| ControllerError::Leases(e.to_string()))?;
    let work: Subscriber<ReconcileRequest> =
        bind(&jetstream, topology::WORK_STREAM, topology::APPLIER).await?;
    let artifacts: Subscriber<ArtifactReady> = bind(
        &jetstream,
        topology::EVENTS_STREAM,
        topology::APPLIER_ARTIFACT_READY,
    )
    .await?;
    let ready: Subscriber<RenderReady> = bind(
        &jetstream,
        topology::EVENTS_STREAM,
        topology::APPLIER_RENDER_READY,
    )
    .await?;
    let failed: Subscriber<RenderFailed> = bind(
        &jetstream,
        topology::EVENTS_STREAM,
        topology::APPLIER_RENDER_FAILED,
    )
    .await?;
    let publisher = Publisher::new(jetstream.clone());
    let (kustomizations, writer) = kube::runtime::reflector::store();
    let triggers = tokio::spawn(triggers::run(
        ctx.kube.clone(),
        publisher.clone(),
        writer,
        shutdown.clone(),
    ));
    let shared = Arc::new(Shared::new(
        ctx,
        kustomizations,
        leases,
        publisher,
        shutdown.clone(),
    ));
    let config = HandlerConfig {
        concurrency,
        ..HandlerConfig::default()
    };
    let follower = tokio::spawn(worker::follow_renders(
        shared.clone(),
        jetstream.clone(),
        shutdown.clone(),
    ));
    let dead_letters = {
        let js = jetstream.clone();
        let stop = shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            let durables = [
                topology::APPLIER,
                topology::APPLIER_ARTIFACT_READY,
                topology::APPLIER_RENDER_READY,
                topology::APPLIER_RENDER_FAILED,
            ];
            if let Err(e) =
                ferry_bus::watch_max_deliveries(&js, &topology::ferry(), &durables, stop).await
            {
                tracing::warn!(error = %e, "Not watching for messages past their last delivery.");
            }
        })
    };
    let stop = || shutdown.clone().cancelled_owned();
    let (s1, s2, s3, s4) = {
        let (a, b, c, d) = (
            shared.clone(),
            shared.clone(),
            shared.clone(),
            shared.clone(),
        );
        tokio::join!(
            run_handler_with(
                work,
                move |m| worker::on_reconcile_request(a.clone(), m),
                stop(),
                config.clone()
            ),
            run_handler_with(
                artifacts,
                move |m| worker::on_artifact_ready(b.clone(), m),
                stop(),
                config.clone()
            ),
            run_handler_with(
                ready,
                move |m| worker::on_render_ready(c.clone(), m),
                stop(),
                config.clone()
            ),
            run_handler_with(
                failed,
                move |m| worker::on_render_failed(d.clone(), m),
                stop(),
                config.clone()
            ),
        )
    };
    log_summary("work", &s1);
    log_summary("artifact-ready", &s2);
    log_summary("render-ready", &s3);
    log_summary("render-failed", &s4);
    shutdown.cancel();
    let _ = triggers.await;
    let _ = follower.await;
    let _ = dead_letters.await;
    shared.health_tasks().close();
    shared.health_tasks().wait().await;
    Ok(())
}

fn log_summary(consumer: &str, summary: &RunSummary) {
    tracing::info!(consumer, ?summary, "Consumer loop stopped.");
}

async fn bind<M: ferry_bus::Message>(
    js: &async_nats::jetstream::Context,
    stream: &'static str,
    durable: &'static str,
) -> Result<Subscriber<M>, ControllerError> {
    Subscriber::bind(js, stream, durable)
        .await
        .map_err(|e| ControllerError::Subscribe(durable, e.to_string()))
}
