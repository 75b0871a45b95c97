//! Telling others what a reconcile did: an `ApplyResult` on NATS and a Kubernetes event on the
//! Kustomization (Flux's reasons and change-set messages).

use std::time::Duration;

use ferry_bus::PublishOptions;
use ferry_proto::events::v1::{ApplyResult, ObjectRef};
use flux_api::conditions::reasons;
use flux_api::kustomize::Kustomization;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};

use super::status::Progress;
use super::{Context, ReconcileError};
use crate::apply::Action;
use crate::drift;
use crate::prune::PruneAction;

/// Name written as the reporting controller of events.
pub const REPORTING_CONTROLLER: &str = "ferry-applier";

/// The `ApplyResult` message for a reconcile (pure).
pub fn apply_result(
    ks: &Kustomization,
    progress: &Progress,
    result: &Result<(), ReconcileError>,
    duration: Duration,
) -> ApplyResult {
    let count = |a: Action| {
        progress
            .changes
            .as_ref()
            .map(|c| c.count(a) as i64)
            .unwrap_or(0)
    };
    let (reason, message) = match result {
        Ok(()) => (
            reasons::RECONCILIATION_SUCCEEDED.to_owned(),
            format!(
                "Applied revision: {}",
                progress.revision.as_deref().unwrap_or("")
            ),
        ),
        Err(e) => (e.reason().to_owned(), e.to_string()),
    };
    ApplyResult {
        kustomization: Some(ObjectRef {
            api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
            kind: "Kustomization".into(),
            namespace: ks.namespace().unwrap_or_default(),
            name: ks.name_any(),
            uid: ks.uid().unwrap_or_default(),
        }),
        revision: progress.revision.clone().unwrap_or_default(),
        success: result.is_ok(),
        reason,
        message,
        created: count(Action::Created),
        configured: count(Action::Configured),
        unchanged: count(Action::Unchanged),
        pruned: progress
            .pruned
            .iter()
            .filter(|p| p.action == PruneAction::Deleted)
            .count() as i64,
        duration_ms: duration.as_millis() as i64,
    }
}

/// The event note: the change set (created/configured/deleted lines) and drift, or the error.
pub fn event_note(progress: &Progress, result: &Result<(), ReconcileError>) -> Option<String> {
    let mut lines = Vec::new();
    if let Some(changes) = &progress.changes {
        let summary = changes.summary();
        if !summary.is_empty() {
            lines.push(summary);
        }
    }
    for p in &progress.pruned {
        if p.action == PruneAction::Deleted {
            lines.push(format!("{} deleted", p.meta));
        }
    }
    if let Some((mode, drifts)) = &progress.drift
        && !drifts.is_empty()
    {
        let verb = match mode {
            drift::DriftMode::Warn => "drift detected (warn-only, not corrected)",
            drift::DriftMode::Correct => "drift corrected",
        };
        lines.push(format!("{verb}:\n{}", drift::summary(drifts)));
    }
    match result {
        Err(e) => Some(e.to_string()),
        Ok(()) if lines.is_empty() => None,
        Ok(()) => Some(lines.join("\n")),
    }
}

/// Publishes the `ApplyResult` and records the event; failures are logged, never returned
/// (the status is already written and is the record of truth).
pub async fn after<R>(
    ks: &Kustomization,
    ctx: &Context<R>,
    progress: &Progress,
    result: &Result<(), ReconcileError>,
    duration: Duration,
) {
    if let Some(publisher) = &ctx.publisher {
        let message = apply_result(ks, progress, result, duration);
        if let Err(e) = publisher
            .publish_event(&message, PublishOptions::default())
            .await
        {
            tracing::warn!(error = %e, "Could not publish ApplyResult.");
        }
    }
    let Some(note) = event_note(progress, result) else {
        return;
    };
    let (type_, reason) = match result {
        Ok(()) => (EventType::Normal, reasons::RECONCILIATION_SUCCEEDED),
        Err(e) => (EventType::Warning, e.reason()),
    };
    let recorder = Recorder::new(
        ctx.kube.clone(),
        Reporter {
            controller: REPORTING_CONTROLLER.into(),
            instance: Some(ctx.instance.clone()),
        },
    );
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(truncate(note, 1024)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &ks.object_ref(&())).await {
        tracing::warn!(error = %e, "Could not record the Kustomization event.");
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
