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

/// How long a lease lasts without renewal. The holder renews it every third of this while it
/// works, so a replica killed mid-reconcile frees the object within one TTL, about when its
/// unacknowledged request is delivered again (the work consumer's 30 s ack wait).
pub const LEASE_TTL: Duration = Duration::from_secs(30);

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
        let mut lease =
            match Lease::acquire(&ctx.leases, &key, &ctx.reconcile.instance, LEASE_TTL).await {
                Ok(lease) => lease,
                // Another replica works on it: come back when its lease would have lapsed.
                Err(LeaseError::Held {
                    expires_at_unix_ms, ..
                }) => return Ok(Outcome::Retry(retry_after(expires_at_unix_ms))),
                Err(e) => return Err(HandlerError::transient(e)),
            };
        let result = {
            let reconcile = reconcile_current(&ctx, &object.namespace, &object.name);
            tokio::pin!(reconcile);
            let mut renew = tokio::time::interval(LEASE_TTL / 3);
            renew.tick().await;
            loop {
                tokio::select! {
                    result = &mut reconcile => break result,
                    _ = renew.tick() => {
                        if let Err(e) = lease.renew().await {
                            tracing::warn!(error = %e, "Could not renew the lease.");
                        }
                    }
                }
            }
        };
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "Could not release the lease; it lapses on its own.");
        }
        result
    }
    .instrument(span)
    .await
}

/// The wait before trying a held lease again: until it would lapse, within 1 s..=TTL.
fn retry_after(expires_at_unix_ms: i64) -> Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let remaining = u64::try_from(expires_at_unix_ms.saturating_sub(now_ms)).unwrap_or_default();
    Duration::from_millis(remaining).clamp(Duration::from_secs(1), LEASE_TTL)
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
