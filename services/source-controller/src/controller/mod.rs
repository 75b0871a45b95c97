//! The work loop around the reconcile: triggers (watch changes, requestedAt, intervals) become
//! messages on the work queue; every replica pulls from one durable consumer, takes a lease on
//! the object, reconciles, and acks only when status is written.

mod triggers;
mod worker;

pub use triggers::{TRACEPARENT_ANNOTATION, WORK_KIND, publish_request};
pub use worker::{LEASE_TTL, handle};

use crate::reconcile;
use ferry_bus::{HandlerConfig, Subscriber, run_handler_with, topology};
use ferry_proto::events::v1::ReconcileRequest;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why the work loop could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// Binding to the durable work consumer failed.
    #[error("binding to the work consumer: {0}")]
    Subscribe(String),
    /// Opening the leases bucket failed.
    #[error("opening the leases bucket: {0}")]
    Leases(String),
}

/// Runs the triggers and the worker until `shutdown`; in-flight reconciles finish or are
/// handed back to another replica.
pub async fn run(
    ctx: reconcile::Context,
    jetstream: async_nats::jetstream::Context,
    concurrency: usize,
    shutdown: CancellationToken,
) -> Result<(), ControllerError> {
    let leases = jetstream
        .get_key_value(topology::LEASES_BUCKET)
        .await
        .map_err(|e| ControllerError::Leases(e.to_string()))?;
    let subscriber: Subscriber<ReconcileRequest> = Subscriber::bind(
        &jetstream,
        topology::WORK_STREAM,
        topology::SOURCE_CONTROLLER,
    )
    .await
    .map_err(|e| ControllerError::Subscribe(e.to_string()))?;
    let triggers = tokio::spawn(triggers::run(
        ctx.kube.clone(),
        ctx.publisher.clone(),
        shutdown.clone(),
    ));
    let worker_ctx = Arc::new(worker::WorkerContext {
        reconcile: ctx,
        leases,
    });
    let config = HandlerConfig {
        concurrency,
        ..HandlerConfig::default()
    };
    let summary = run_handler_with(
        subscriber,
        move |delivery| handle(worker_ctx.clone(), delivery),
        shutdown.clone().cancelled_owned(),
        config,
    )
    .await;
    tracing::info!(?summary, "Work loop stopped.");
    shutdown.cancel();
    let _ = triggers.await;
    Ok(())
}
