//! The applier's steps in a Kustomization's journey (`ferry-journeys`, key
//! `Kustomization.<ns>.<name>`): `apply`, `prune` (when it deleted), `health` (when it waited),
//! and the journey's outcome, written once at the end of a reconcile that applied a new
//! revision or failed.

use async_nats::jetstream::kv;
use ferry_bus::journey::{self, Step, Timer};
use flux_api::kustomize::Kustomization;
use kube::ResourceExt;

use crate::apply::Action;
use crate::prune::PruneAction;
use crate::reconcile::{Progress, ReconcileError};

/// The service name written on its steps.
pub const SERVICE: &str = "applier";
/// Server-side apply of the render.
pub const APPLY: &str = "apply";
/// Deleting what left the render.
pub const PRUNE: &str = "prune";
/// Waiting for the applied objects to become healthy.
pub const HEALTH: &str = "health";
/// The outcome of a journey that ended with the Kustomization Ready.
pub const READY: &str = "Ready";

/// The steps a reconcile started, in order; the last one runs until the reconcile ends.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    started: Vec<(&'static str, Timer)>,
}

impl Journal {
    /// Starts step `name`; the step before it ends now.
    pub fn begin(&mut self, name: &'static str) {
        self.started.push((name, Timer::start()));
    }
}

/// The steps of a finished reconcile: each ends when the next began, the last now and with
/// the reconcile's result. A prune that deleted nothing is left out.
pub fn steps(progress: &Progress, result: &Result<(), ReconcileError>) -> Vec<Step> {
    let started = &progress.journal.started;
    let mut out = Vec::with_capacity(started.len());
    for (i, (name, timer)) in started.iter().enumerate() {
        let last = i + 1 == started.len();
        let step = match result {
            Err(e) if last => timer.failed(name, SERVICE, e.to_string()),
            _ => timer.ok(name, SERVICE),
        };
        // A step ends when the next one starts.
        let step = match started.get(i + 1) {
            Some((_, next)) => step.with_duration(timer.elapsed().saturating_sub(next.elapsed())),
            None => step,
        };
        let step = match *name {
            APPLY if !(last && result.is_err()) => step.with_message(apply_note(progress)),
            PRUNE => {
                let deleted = deleted(progress);
                if deleted == 0 && result.is_ok() {
                    continue;
                }
                if last && result.is_err() {
                    step
                } else {
                    step.with_message(format!("{deleted} deleted"))
                }
            }
            _ => step,
        };
        out.push(step);
    }
    out
}

fn deleted(progress: &Progress) -> usize {
    progress
        .pruned
        .iter()
        .filter(|p| p.action == PruneAction::Deleted)
        .count()
}

fn apply_note(progress: &Progress) -> String {
    let Some(changes) = &progress.changes else {
        return "drift check only (warn mode)".to_owned();
    };
    format!(
        "{} created, {} configured, {} unchanged",
        changes.count(Action::Created),
        changes.count(Action::Configured),
        changes.count(Action::Unchanged)
    )
}

/// The journey's outcome for the reconcile's result.
pub fn outcome(result: &Result<(), ReconcileError>) -> String {
    match result {
        Ok(()) => READY.to_owned(),
        Err(e) => format!("failed: {}", e.reason()),
    }
}

/// Records the reconcile's steps and outcome when it applied a new revision or failed (an
/// interval re-apply of the same revision leaves the journey alone). A new journey starts
/// with the source's steps. Failures are logged: a journey never fails a reconcile.
pub async fn after(
    kv: &kv::Store,
    ks: &Kustomization,
    progress: &Progress,
    result: &Result<(), ReconcileError>,
) {
    let Some(revision) = progress.revision.as_deref() else {
        return;
    };
    let last_applied = ks
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.as_deref());
    if result.is_ok() && last_applied == Some(revision) {
        return;
    }
    let namespace = ks.namespace().unwrap_or_default();
    let target = journey::key("Kustomization", &namespace, &ks.name_any());
    let source_ref = &ks.spec.source_ref;
    if let Some(kind) = serde_json::to_value(source_ref.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
    {
        let source = journey::key(&kind, source_ref.namespace_or(&namespace), &source_ref.name);
        if let Err(e) = journey::seed_from(kv, &source, &target, revision).await {
            tracing::warn!(error = %e, key = target, "Could not seed the journey.");
        }
    }
    let trace_id = journey::current_trace_id();
    let steps = steps(progress, result);
    let outcome = Some(outcome(result));
    if let Err(e) = journey::record(kv, &target, revision, &trace_id, steps, outcome).await {
        tracing::warn!(error = %e, key = target, "Could not record the journey.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ChangeSet, ChangeSetEntry};
    use crate::manifests::ObjMeta;

    fn progress(actions: &[Action]) -> Progress {
        let entries = actions
            .iter()
            .map(|a| ChangeSetEntry {
                meta: ObjMeta {
                    group: String::new(),
                    version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: "ns".into(),
                    name: "c".into(),
                },
                action: *a,
                recreated: false,
                changes: Vec::new(),
            })
            .collect();
        Progress {
            changes: Some(ChangeSet { entries }),
            ..Progress::default()
        }
    }

    #[test]
    fn apply_counts_and_health_are_recorded_and_an_empty_prune_is_not() {
        let mut p = progress(&[Action::Created, Action::Configured, Action::Unchanged]);
        p.journal.begin(APPLY);
        p.journal.begin(PRUNE);
        p.journal.begin(HEALTH);
        let s = steps(&p, &Ok(()));
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [APPLY, HEALTH]);
        assert_eq!(
            s[0].message.as_deref(),
            Some("1 created, 1 configured, 1 unchanged")
        );
        assert!(
            s.iter()
                .all(|s| s.outcome == journey::OK && s.service == SERVICE)
        );
        assert_eq!(outcome(&Ok(())), READY);
    }

    #[test]
    fn the_running_step_fails_with_the_error_and_the_outcome_names_the_reason() {
        let mut p = progress(&[]);
        p.journal.begin(APPLY);
        p.journal.begin(HEALTH);
        let err = ReconcileError::Health("timeout waiting for: [Deployment/ns/web]".into());
        let s = steps(&p, &Err(err.clone()));
        assert_eq!(s[0].outcome, journey::OK);
        assert_eq!(s[1].outcome, journey::FAILED);
        assert!(
            s[1].message
                .as_deref()
                .is_some_and(|m| m.contains("Deployment/ns/web"))
        );
        assert_eq!(
            outcome(&Err(err.clone())),
            format!("failed: {}", err.reason())
        );
    }
}
