//! The GitRepository reconcile: a pipeline of named steps (credentials, source, include,
//! artifact, notify) with one exit path that writes status, in Flux's source-controller shape.

mod artifact;
mod context;
mod credentials;
mod error;
mod git_ref;
mod include;
mod notify;
mod pack;
mod source;
mod status;

pub use context::Context;
pub use error::{ARTIFACT_TOO_LARGE, EVENT_PUBLISH_FAILED, ReconcileError};
pub use pack::PackCaches;
pub use status::{FIELD_MANAGER, REQUESTED_AT, next_status};

use crate::journey::{self, Journal};
use flux_api::conditions::types;
use flux_api::source::GitRepository;
use kube::ResourceExt;
use std::time::{Duration, Instant};

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
    let started = Instant::now();
    let mut journal = Journal::default();
    let (fetched, result) = match run_steps(obj, ctx, &mut journal).await {
        Ok((fetched, stored)) => (Some(fetched), Ok(stored)),
        Err(err) => (None, Err(err)),
    };
    // Before status and `ArtifactReady`, so the renderer finds the fetch to seed from.
    let new_artifact = result
        .as_ref()
        .map(|s| s.new_artifact.then_some(&s.artifact));
    journal.finish(&ctx.journeys, obj, new_artifact).await;
    let steps = started.elapsed();
    let written = status::write(obj, ctx, &result).await?;
    let stored = result?;
    let announce = fetched.filter(|_| stored.new_artifact || event_pending(obj));
    if let Some(fetched) = announce {
        let status_ms = (started.elapsed() - steps).as_millis() as u64;
        publish_after_status(obj, ctx, written, &fetched, &stored).await?;
        tracing::info!(
            revision = %stored.artifact.revision,
            digest = %stored.artifact.digest,
            source_ms = fetched.took.as_millis() as u64,
            steps_ms = steps.as_millis() as u64,
            status_ms,
            total_ms = started.elapsed().as_millis() as u64,
            "Stored artifact."
        );
    }
    Ok(Outcome::Requeue(obj.spec.interval.as_duration()))
}

/// Publishes `ArtifactReady` once status carries the artifact, so a consumer reading the
/// source on the event sees it. A failed publish is written to status
/// ([`EVENT_PUBLISH_FAILED`]) and the retry publishes again though the artifact is unchanged;
/// the id `<uid>/<digest>` de-duplicates. A replica dying between the two writes loses the
/// event: the applier's work loop still renders the source's current revision at the
/// Kustomization's interval.
async fn publish_after_status(
    obj: &GitRepository,
    ctx: &Context,
    written: flux_api::source::GitRepositoryStatus,
    fetched: &source::Fetched,
    stored: &artifact::Stored,
) -> Result<(), ReconcileError> {
    let Err(err) = notify::artifact_ready(obj, ctx, fetched, stored).await else {
        return Ok(());
    };
    let mut updated = obj.clone();
    updated.status = Some(written);
    let failed = Err(err);
    status::write(&updated, ctx, &failed).await?;
    failed.map(|_| ())
}

/// True when the last reconcile stored an artifact but could not announce it.
fn event_pending(obj: &GitRepository) -> bool {
    obj.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == types::READY && c.reason == EVENT_PUBLISH_FAILED)
        })
}

/// The steps in Flux's order; the first error stops the pipeline.
async fn run_steps(
    obj: &GitRepository,
    ctx: &Context,
    journal: &mut Journal,
) -> Result<(source::Fetched, artifact::Stored), ReconcileError> {
    journal.begin(journey::FETCH);
    validate(obj)?;
    refuse_unsupported(obj)?;
    let creds = credentials::load(obj, ctx).await?;
    let fetched = source::reconcile_source(obj, ctx, &creds).await?;
    tracing::debug!(revision = %fetched.revision, cached = fetched.cached, "Resolved source.");
    let included = include::reconcile_include(obj, ctx).await?;
    journal.fetched(&fetched.revision, fetched.cached);
    let stored = artifact::reconcile_artifact(obj, ctx, &fetched, &included).await?;
    Ok((fetched, stored))
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

/// The CRD's rules (Ferry's CRD also allows `git://` and `file://`, which gix speaks: local
/// mirrors and `git daemon`; a cluster with Flux's own CRD refuses them before they get here).
fn validate(obj: &GitRepository) -> Result<(), ReconcileError> {
    obj.spec
        .validate()
        .map_err(|errors| ReconcileError::InvalidSpec(errors.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn repo() -> GitRepository {
        let spec = serde_json::json!({ "url": "http://git.example/app.git", "interval": "1m" });
        GitRepository::new("app", serde_json::from_value(spec).expect("spec"))
    }

    fn stored() -> artifact::Stored {
        artifact::Stored {
            artifact: flux_api::meta::Artifact {
                path: "gitrepository/default/app/abc.tar.gz".into(),
                url: "http://storage/gitrepository/default/app/abc.tar.gz".into(),
                revision: "main@sha1:abc".into(),
                digest: format!("sha256:{}", "0".repeat(64)),
                last_update_time: Time(k8s_openapi::jiff::Timestamp::now()),
                size: Some(1),
                metadata: None,
            },
            new_artifact: true,
            previous_revision: None,
            changed_paths: None,
            included: Vec::new(),
        }
    }

    fn with_status(
        obj: &GitRepository,
        result: Result<artifact::Stored, ReconcileError>,
    ) -> GitRepository {
        let mut next = obj.clone();
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        next.status = Some(next_status(obj, &result, now));
        next
    }

    #[test]
    fn a_failed_publish_keeps_the_artifact_and_is_announced_on_the_next_reconcile() {
        let written = with_status(&repo(), Ok(stored()));
        assert!(!event_pending(&written), "a clean success owes no event");
        let failed = with_status(&written, Err(ReconcileError::Publish("no ack".into())));
        assert!(event_pending(&failed));
        let status = failed.status.as_ref().expect("status");
        assert_eq!(
            status.artifact.as_ref().map(|a| a.revision.as_str()),
            Some("main@sha1:abc"),
            "the stored artifact stays in status"
        );
        let published = with_status(&failed, Ok(stored()));
        assert!(!event_pending(&published));
    }
}
