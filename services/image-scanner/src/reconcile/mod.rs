//! The three reconcilers. Each is a pipeline of steps whose first failure stops it, with one
//! exit path that writes status the way Flux's image-reflector and image-automation
//! controllers do (Ready/Reconciling/Stalled, observedGeneration, lastHandledReconcileAt).

mod automation;
mod policy;
mod repository;
mod status;
mod support;

pub use automation::{TRACEPARENT_ANNOTATION, traceparent};
pub use status::{FIELD_MANAGER, Failure, REQUESTED_AT, ready_conditions};
pub use support::selector_matches;

use crate::controller::Kind;
use crate::registry::AcrTokenProvider;
use crate::tags::TagStore;
use ferry_bus::Publisher;
use flux_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use kube::Api;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every reconcile on a replica.
#[derive(Clone)]
pub struct Context {
    /// Kubernetes client (objects, secrets, status, events).
    pub kube: kube::Client,
    /// The scanned tags of every ImageRepository.
    pub tags: TagStore,
    /// Work and event publisher (upstream reconcile requests).
    pub publisher: Publisher,
    /// This replica's name, in leases and events.
    pub instance: String,
    /// The Azure identity for `provider: azure`, when one is configured.
    pub azure: Option<Arc<AcrTokenProvider>>,
    /// The `ferry-journeys` bucket, where pushes start their revision's journey.
    pub journeys: async_nats::jetstream::kv::Store,
}

/// What the work loop does with the message once a reconcile wrote its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Acknowledge: done, or waiting for a change, an upstream event or the interval.
    Done,
    /// Deliver again after this delay (a transient failure).
    Retry(Duration),
}

/// A failure outside the pipeline: the object could not be read or its status not written.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading the object failed.
    #[error("reading {kind} {namespace}/{name}: {message}")]
    Read {
        /// Kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API's error.
        message: String,
    },
    /// Writing status failed.
    #[error("patching status: {0}")]
    Status(String),
    /// Dropping the stored tags of a deleted ImageRepository failed.
    #[error("{0}")]
    Tags(#[from] crate::tags::TagStoreError),
}

/// Reconciles `kind` `namespace/name` as it is now; `reason` is the trigger
/// (`watch`, `interval`, `requested`, `upstream`).
pub async fn reconcile(
    ctx: &Context,
    kind: Kind,
    namespace: &str,
    name: &str,
    reason: &str,
) -> Result<Disposition, ReconcileError> {
    let read = |message: kube::Error| ReconcileError::Read {
        kind: kind.name(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        message: message.to_string(),
    };
    match kind {
        Kind::ImageRepository => {
            let api: Api<ImageRepository> = Api::namespaced(ctx.kube.clone(), namespace);
            match api.get_opt(name).await.map_err(read)? {
                Some(obj) => repository::reconcile(ctx, &obj, reason).await,
                None => {
                    ctx.tags.delete(namespace, name).await?;
                    Ok(Disposition::Done)
                }
            }
        }
        Kind::ImagePolicy => {
            let api: Api<ImagePolicy> = Api::namespaced(ctx.kube.clone(), namespace);
            match api.get_opt(name).await.map_err(read)? {
                Some(obj) => policy::reconcile(ctx, &obj).await,
                None => Ok(Disposition::Done),
            }
        }
        Kind::ImageUpdateAutomation => {
            let api: Api<ImageUpdateAutomation> = Api::namespaced(ctx.kube.clone(), namespace);
            match api.get_opt(name).await.map_err(read)? {
                Some(obj) => automation::reconcile(ctx, &obj).await,
                None => Ok(Disposition::Done),
            }
        }
    }
}
