//! The renderer's `render` step in a Kustomization's journey (`ferry-journeys`, key
//! `Kustomization.<ns>.<name>`). A journey new for the revision is first seeded with the
//! source's steps (the fetch is its root), so `ferry trace` shows fetch → render → apply.

use async_nats::jetstream::kv;
use ferry_bus::journey::{self, Step, Timer};
use ferry_proto::events::v1 as pb;

use crate::render::{CacheOutcome, Rendered};

/// The service name written on its steps.
pub const SERVICE: &str = "kustomize-renderer";
/// The step's name.
pub const RENDER: &str = "render";

/// The `render` step of a finished render: cache outcome and object count as its message.
pub fn rendered(timer: &Timer, rendered: &Rendered) -> Step {
    let cache = match rendered.cache {
        CacheOutcome::Miss => "cache miss",
        CacheOutcome::Hit => "cache hit",
        CacheOutcome::Reused => "cache hit (no file it reads changed)",
    };
    timer
        .ok(RENDER, SERVICE)
        .with_message(format!("{cache}, {} objects", rendered.object_count))
}

/// The `render` step of a failed render.
pub fn failed(timer: &Timer, reason: &str, message: &str) -> Step {
    timer.failed(RENDER, SERVICE, format!("{reason}: {message}"))
}

/// Seeds the Kustomization's journey from its source's when it is new for the artifact's
/// revision, then appends `step`. Failures are logged: a journey never fails a render.
pub async fn record(
    kv: &kv::Store,
    kustomization: &pb::ObjectRef,
    artifact: &pb::ArtifactReady,
    step: Step,
) {
    let target = journey::key(
        "Kustomization",
        &kustomization.namespace,
        &kustomization.name,
    );
    if let Some(source) = &artifact.source {
        let source = journey::key(&source.kind, &source.namespace, &source.name);
        if let Err(e) = journey::seed_from(kv, &source, &target, &artifact.revision).await {
            tracing::warn!(error = %e, key = target, "Could not seed the journey.");
        }
    }
    let trace_id = journey::current_trace_id();
    if let Err(e) = journey::record_step(kv, &target, &artifact.revision, &trace_id, step).await {
        tracing::warn!(error = %e, key = target, "Could not record the journey.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_render_step_names_the_cache_outcome_and_object_count() {
        let r = Rendered {
            render_key: "k".into(),
            render_digest: "d".into(),
            object_count: 3,
            cache: CacheOutcome::Hit,
            source_revision: "main@sha1:1".into(),
            artifact_digest: "sha256:a".into(),
            manifests: Vec::new(),
        };
        let step = rendered(&Timer::start(), &r);
        assert_eq!(
            (step.name.as_str(), step.service.as_str()),
            (RENDER, SERVICE)
        );
        assert_eq!(step.message.as_deref(), Some("cache hit, 3 objects"));
        let step = failed(&Timer::start(), "BuildFailed", "no kustomization.yaml");
        assert_eq!(step.outcome, journey::FAILED);
        assert_eq!(
            step.message.as_deref(),
            Some("BuildFailed: no kustomization.yaml")
        );
    }
}
