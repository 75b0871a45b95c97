//! The GitRepository reconcile: a pipeline of named steps (credentials, source, include,
//! artifact, notify) with one exit path that writes status, in Flux's source-controller shape.

mod artifact;
mod context;
mod credentials;
mod error;
mod git_ref;
mod include;
mod notify;
mod source;
mod status;

pub use context::Context;
pub use error::ReconcileError;
pub use status::{FIELD_MANAGER, REQUESTED_AT, next_status};

use flux_api::source::GitRepository;
use kube::ResourceExt;
use std::time::Duration;

/// What a reconcile decided, for the work loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; reconcile again after the object's interval.
    Requeue(Duration),
    /// The object is suspended or gone; nothing to do until it changes.
    Idle,
}

/// Reconciles one GitRepository: ends with status written, whatever happened.
pub async fn reconcile(obj: &GitRepository, ctx: &Context) -> Result<Outcome, ReconcileError> {
    if obj.metadata.deletion_timestamp.is_some() {
        artifact::forget_source(obj, ctx).await?;
        return Ok(Outcome::Idle);
    }
    if obj.spec.suspend == Some(true) {
        tracing::info!(name = %obj.name_any(), "GitRepository is suspended; skipping.");
        return Ok(Outcome::Idle);
    }
    let result = run_steps(obj, ctx).await;
    status::write(obj, ctx, &result).await?;
    match result {
        Ok(stored) => {
            if stored.new_artifact {
                tracing::info!(
                    revision = %stored.artifact.revision,
                    digest = %stored.artifact.digest,
                    "Stored artifact."
                );
            }
            Ok(Outcome::Requeue(obj.spec.interval.as_duration()))
        }
        Err(err) => Err(err),
    }
}

/// The steps in Flux's order; the first error stops the pipeline.
async fn run_steps(obj: &GitRepository, ctx: &Context) -> Result<artifact::Stored, ReconcileError> {
    validate(obj)?;
    refuse_unsupported(obj)?;
    let creds = credentials::load(obj, ctx).await?;
    let fetched = source::reconcile_source(obj, ctx, &creds).await?;
    tracing::debug!(revision = %fetched.revision, cached = fetched.cached, "Resolved source.");
    let included = include::reconcile_include(obj, ctx).await?;
    let stored = artifact::reconcile_artifact(obj, ctx, &fetched, &included).await?;
    if stored.new_artifact {
        notify::artifact_ready(obj, ctx, &fetched, &stored).await?;
    }
    Ok(stored)
}

/// Spec fields Ferry does not implement yet stall the object with a message naming the field,
/// rather than producing an artifact that silently ignores them.
fn refuse_unsupported(obj: &GitRepository) -> Result<(), ReconcileError> {
    let spec = &obj.spec;
    let unsupported = [
        (
            spec.recurse_submodules == Some(true),
            "spec.recurseSubmodules: submodules",
        ),
        (
            spec.sparse_checkout.as_ref().is_some_and(|s| !s.is_empty()),
            "spec.sparseCheckout: sparse checkout",
        ),
        (
            spec.verification.is_some(),
            "spec.verify: commit and tag signature verification",
        ),
        (
            spec.proxy_secret_ref.is_some(),
            "spec.proxySecretRef: proxies",
        ),
        (
            spec.provider
                .is_some_and(|p| p != flux_api::source::GitProvider::Generic),
            "spec.provider: cloud and GitHub App authentication",
        ),
    ];
    match unsupported.iter().find(|(set, _)| *set) {
        Some((_, what)) => Err(ReconcileError::Unsupported(format!(
            "{what} are not supported by Ferry yet; remove the field to reconcile"
        ))),
        None => Ok(()),
    }
}

/// The CRD's rules, except that `spec.url` may also be `file://` or `git://`: gix speaks both,
/// and they are how local mirrors and `git daemon` are reached. Flux's CRD pattern allows only
/// http, https and ssh; a cluster that enforces it rejects such objects before they get here.
fn validate(obj: &GitRepository) -> Result<(), ReconcileError> {
    let Err(mut errors) = obj.spec.validate() else {
        return Ok(());
    };
    if ["file://", "git://"]
        .iter()
        .any(|scheme| obj.spec.url.starts_with(scheme))
    {
        errors.0.retain(|e| e.field != "spec.url");
    }
    if errors.errors().is_empty() {
        Ok(())
    } else {
        Err(ReconcileError::InvalidSpec(errors.to_string()))
    }
}
