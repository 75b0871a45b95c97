//! The work loop around the reconcilers: triggers (watch changes, requestedAt, intervals,
//! upstream changes) become messages on `ferry.work.image-scanner.<kind>`; every replica pulls
//! from the one durable consumer `image-scanner`, takes a lease on the object, reconciles, and
//! acks only when status is written.

mod triggers;
mod worker;

pub use ferry_schedule::{Schedule, Trigger};
pub use triggers::{API_VERSION, Kind, Watched, publish_request, request_upstream};
pub use worker::{LEASE_TTL, WorkerContext, handle};

use crate::reconcile;
use ferry_bus::{HandlerConfig, Subscriber, run_handler_with, topology};
use ferry_proto::events::v1::ReconcileRequest;
use flux_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
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
    let subscriber: Subscriber<ReconcileRequest> =
        Subscriber::bind(&jetstream, topology::WORK_STREAM, topology::IMAGE_SCANNER)
            .await
            .map_err(|e| ControllerError::Subscribe(e.to_string()))?;
    let watches = [
        tokio::spawn(triggers::run::<ImageRepository>(
            ctx.kube.clone(),
            ctx.publisher.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(triggers::run::<ImagePolicy>(
            ctx.kube.clone(),
            ctx.publisher.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(triggers::run::<ImageUpdateAutomation>(
            ctx.kube.clone(),
            ctx.publisher.clone(),
            shutdown.clone(),
        )),
    ];
    let worker_ctx = Arc::new(WorkerContext {
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
    for watch in watches {
        let _ = watch.await;
    }
    Ok(())
}
