//! Step 5: tell the rest of Ferry (NATS `ArtifactReady`, with the changed paths) and the user
//! (a Kubernetes `NewArtifact` event on the object) that a new artifact is in storage.

use super::artifact::Stored;
use super::source::Fetched;
use super::{Context, ReconcileError};
use ferry_bus::PublishOptions;
use ferry_proto::events::v1::{ArtifactReady, ObjectRef};
use flux_api::conditions::reasons;
use flux_api::source::GitRepository;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};

/// Publishes `ArtifactReady` (de-duplicated by `<uid>/<digest>`) and records the event.
pub async fn artifact_ready(
    obj: &GitRepository,
    ctx: &Context,
    fetched: &Fetched,
    stored: &Stored,
) -> Result<(), ReconcileError> {
    let message = event_message(obj, stored);
    let id = format!(
        "{}/{}",
        obj.uid().unwrap_or_default(),
        stored.artifact.digest
    );
    ctx.publisher
        .publish_event(&message, PublishOptions::with_id(id))
        .await
        .map_err(|e| ReconcileError::Publish(e.to_string()))?;
    let recorder = Recorder::new(
        ctx.kube.clone(),
        Reporter {
            controller: "source-controller".into(),
            instance: Some(ctx.instance.clone()),
        },
    );
    let note = format!("stored artifact for commit '{}'", fetched.subject);
    let event = Event {
        type_: EventType::Normal,
        reason: reasons::NEW_ARTIFACT.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    // An event is a courtesy to humans: failing to record it must not fail the reconcile.
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "Could not record the NewArtifact event.");
    }
    Ok(())
}

fn event_message(obj: &GitRepository, stored: &Stored) -> ArtifactReady {
    let (changed_paths, all_paths_changed) = match &stored.changed_paths {
        Some(paths) => (paths.clone(), false),
        None => (Vec::new(), true),
    };
    ArtifactReady {
        source: Some(ObjectRef {
            api_version: "source.toolkit.fluxcd.io/v1".into(),
            kind: "GitRepository".into(),
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
            uid: obj.uid().unwrap_or_default(),
        }),
        revision: stored.artifact.revision.clone(),
        digest: stored.artifact.digest.clone(),
        size: stored.artifact.size.unwrap_or_default(),
        url: stored.artifact.url.clone(),
        path: stored.artifact.path.clone(),
        previous_revision: stored.previous_revision.clone().unwrap_or_default(),
        changed_paths,
        all_paths_changed,
        created_at_unix_ms: stored.artifact.last_update_time.0.as_millisecond(),
    }
}
