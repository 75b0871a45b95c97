//! Handles one reconcile request: lease the object so no other replica works on it (two
//! replicas never run the same automation at once), read it fresh, reconcile, release. The
//! message is acked only after status is written.

use super::triggers::Kind;
use crate::reconcile::{self, Disposition};
use ferry_bus::{Delivery, HandlerError, Lease, LeaseError, Outcome};
use ferry_proto::events::v1::ReconcileRequest;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a lease lasts without renewal; the worker renews it at a third of this while the
/// reconcile runs, so a replica that dies frees its objects within this time.
pub const LEASE_TTL: Duration = Duration::from_secs(90);

/// What every handler task shares.
pub struct WorkerContext {
    /// The reconcilers' context.
    pub reconcile: reconcile::Context,
    /// The leases bucket.
    pub leases: async_nats::jetstream::kv::Store,
}

/// Handles one delivery.
pub async fn handle(
    ctx: Arc<WorkerContext>,
    delivery: Delivery<ReconcileRequest>,
) -> Result<Outcome, HandlerError> {
    let request = delivery.message().clone();
    let Some(object) = request.object.clone() else {
        return Ok(Outcome::Dead("reconcile request without an object".into()));
    };
    let Some(kind) = Kind::from_name(&object.kind) else {
        return Ok(Outcome::Dead(format!(
            "reconcile request for kind {:?}, which image-scanner does not reconcile",
            object.kind
        )));
    };
    let span = tracing::info_span!(
        "reconcile",
        otel.name = %format!("reconcile {}", kind.name()),
        k8s.kind = kind.name(),
        k8s.namespace = %object.namespace,
        k8s.name = %object.name,
        reason = %request.reason,
    );
    async move {
        let key = format!("{}.{}.{}", kind.token(), object.namespace, object.name);
        let mut lease =
            match Lease::acquire(&ctx.leases, &key, &ctx.reconcile.instance, LEASE_TTL).await {
                Ok(lease) => lease,
                Err(LeaseError::Held { .. }) => return Ok(Outcome::Retry(Duration::from_secs(2))),
                Err(e) => return Err(HandlerError::transient(e)),
            };
        let work = reconcile::reconcile(
            &ctx.reconcile,
            kind,
            &object.namespace,
            &object.name,
            &request.reason,
        );
        tokio::pin!(work);
        // Renew at a third of the TTL while the reconcile runs (an automation may outlast one
        // TTL with its Git timeouts and push retries).
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + LEASE_TTL / 3, LEASE_TTL / 3);
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = renew.tick() => {
                    if let Err(e) = lease.renew().await {
                        tracing::warn!(error = %e, "Could not renew the lease; finishing anyway.");
                    }
                }
            }
        };
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "Could not release the lease; it lapses on its own.");
        }
        match result {
            Ok(Disposition::Done) => Ok(Outcome::Ack),
            Ok(Disposition::Retry(delay)) => Ok(Outcome::Retry(delay)),
            Err(e) => Err(HandlerError::transient(e)),
        }
    }
    .instrument(span)
    .await
}
