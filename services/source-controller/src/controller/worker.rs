//! Handles one reconcile request: lease the object so no other replica works on it, read it
//! fresh, reconcile, release. The message is acked only after status is written.

use crate::reconcile::{self, Outcome as ReconcileOutcome, ReconcileError};
use ferry_bus::{Delivery, HandlerError, Lease, LeaseError, Outcome};
use ferry_proto::events::v1::ReconcileRequest;
use flux_api::source::GitRepository;
use kube::Api;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a lease lasts without renewal; longer than the longest reconcile step.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// What every handler task shares.
pub struct WorkerContext {
    /// The reconcile's context.
    pub reconcile: reconcile::Context,
    /// The leases bucket.
    pub leases: async_nats::jetstream::kv::Store,
}

/// Handles one delivery.
pub async fn handle(
    ctx: Arc<WorkerContext>,
    delivery: Delivery<ReconcileRequest>,
) -> Result<Outcome, HandlerError> {
    let Some(object) = delivery.message().object.clone() else {
        return Ok(Outcome::Dead("reconcile request without an object".into()));
    };
    let span = tracing::info_span!(
        "reconcile GitRepository",
        k8s.namespace = %object.namespace,
        k8s.name = %object.name,
        reason = %delivery.message().reason,
    );
    async move {
        let key = format!("gitrepository.{}.{}", object.namespace, object.name);
        let lease =
            match Lease::acquire(&ctx.leases, &key, &ctx.reconcile.instance, LEASE_TTL).await {
                Ok(lease) => lease,
                Err(LeaseError::Held { .. }) => return Ok(Outcome::Retry(Duration::from_secs(2))),
                Err(e) => return Err(HandlerError::transient(e)),
            };
        let result = reconcile_current(&ctx, &object.namespace, &object.name).await;
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "Could not release the lease; it lapses on its own.");
        }
        result
    }
    .instrument(span)
    .await
}

async fn reconcile_current(
    ctx: &WorkerContext,
    namespace: &str,
    name: &str,
) -> Result<Outcome, HandlerError> {
    let api: Api<GitRepository> = Api::namespaced(ctx.reconcile.kube.clone(), namespace);
    let obj = match api.get_opt(name).await {
        Ok(Some(obj)) => obj,
        // Deleted: its artifacts are collected when the index entry is dropped.
        Ok(None) => return forget(ctx, namespace, name).await,
        Err(e) => return Err(HandlerError::transient(e)),
    };
    match reconcile::reconcile(&obj, &ctx.reconcile).await {
        Ok(ReconcileOutcome::Requeue(_) | ReconcileOutcome::Idle) => Ok(Outcome::Ack),
        // Misconfiguration and refused credentials wait for a change or the next interval:
        // retrying faster would only hammer the remote.
        Err(e) if e.is_stalling() || e.is_auth() => Ok(Outcome::Ack),
        Err(ReconcileError::Status(e)) => Err(HandlerError::transient(e)),
        Err(e) => {
            tracing::warn!(error = %e, "Reconcile failed; retrying with backoff.");
            Ok(Outcome::Retry(Duration::from_secs(5)))
        }
    }
}

async fn forget(ctx: &WorkerContext, namespace: &str, name: &str) -> Result<Outcome, HandlerError> {
    let key = crate::storage::source_key("GitRepository", namespace, name);
    let evicted = ctx
        .reconcile
        .index
        .remove(&key)
        .await
        .map_err(HandlerError::transient)?;
    crate::storage::collect_garbage(&ctx.reconcile.index, &ctx.reconcile.objects, &evicted)
        .await
        .map_err(HandlerError::transient)?;
    Ok(Outcome::Ack)
}
