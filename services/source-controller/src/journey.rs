//! The GitRepository's steps in its revision's journey (`ferry-journeys`, key
//! `GitRepository.<ns>.<name>`): `fetch` (spec checks, credentials, remote check, fetch,
//! includes) and `artifact` (pack and store). Written when a new artifact is stored, before
//! `ArtifactReady` goes out so the renderer can seed from it, or when a step fails.

use async_nats::jetstream::kv;
use ferry_bus::journey::{self, Step, Timer};
use flux_api::meta::Artifact;
use flux_api::source::GitRepository;
use kube::ResourceExt;

use crate::reconcile::ReconcileError;

/// The service name written on its steps.
pub const SERVICE: &str = "source-controller";
/// Spec checks, credentials, remote check, fetch and includes.
pub const FETCH: &str = "fetch";
/// Pack and store the artifact.
pub const ARTIFACT: &str = "artifact";

/// The steps of one reconcile: finished steps, and the one running.
#[derive(Debug, Default)]
pub struct Journal {
    done: Vec<Step>,
    running: Option<(&'static str, Timer)>,
    revision: Option<String>,
}

impl Journal {
    /// Starts step `name`, ending the running one as succeeded.
    pub fn begin(&mut self, name: &'static str) {
        self.end_ok(None);
        self.running = Some((name, Timer::start()));
    }

    /// The fetch resolved `revision`: ends it and starts the artifact step.
    pub fn fetched(&mut self, revision: &str, cached: bool) {
        self.revision = Some(revision.to_owned());
        self.end_ok(Some(
            if cached {
                "commit was cached"
            } else {
                "fetched"
            }
            .to_owned(),
        ));
        self.begin(ARTIFACT);
    }

    fn end_ok(&mut self, note: Option<String>) {
        if let Some((name, timer)) = self.running.take() {
            let step = timer.ok(name, SERVICE);
            self.done.push(match note {
                Some(n) => step.with_message(n),
                None => step,
            });
        }
    }

    /// The steps to write for the reconcile's result: `None` when nothing is recorded (an
    /// unchanged artifact), else the steps and the journey's outcome. `result` is the new
    /// artifact (`Ok(None)`: unchanged) or the error.
    fn close(
        &mut self,
        result: Result<Option<&Artifact>, &ReconcileError>,
    ) -> Option<(Vec<Step>, String)> {
        let outcome = match result {
            Ok(None) => return None,
            Ok(Some(artifact)) => {
                let size = artifact.size.unwrap_or_default();
                self.end_ok(Some(format!("{} ({size} bytes)", artifact.digest)));
                "Ready".to_owned()
            }
            Err(err) => {
                let (name, timer) = self.running.take()?;
                self.done.push(timer.failed(name, SERVICE, err.to_string()));
                format!("failed: {}", err.reason())
            }
        };
        Some((std::mem::take(&mut self.done), outcome))
    }

    /// Writes the reconcile's steps into the object's journey when it stored a new artifact
    /// or a step failed. A write failure is logged, never returned: a journey must not fail a
    /// reconcile.
    pub async fn finish(
        &mut self,
        kv: &kv::Store,
        obj: &GitRepository,
        result: Result<Option<&Artifact>, &ReconcileError>,
    ) {
        let Some((steps, outcome)) = self.close(result) else {
            return;
        };
        let key = journey::key(
            "GitRepository",
            &obj.namespace().unwrap_or_default(),
            &obj.name_any(),
        );
        let trace_id = journey::current_trace_id();
        let written = match &self.revision {
            Some(revision) => {
                journey::record(kv, &key, revision, &trace_id, steps, Some(outcome)).await
            }
            // The fetch failed before resolving a revision: note it on the journey at hand.
            None => match steps.into_iter().next() {
                Some(step) => {
                    journey::record_step_unknown_revision(kv, &key, &trace_id, step).await
                }
                None => return,
            },
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, key, "Could not record the journey.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        serde_json::from_value(serde_json::json!({
            "path": "p", "url": "u", "revision": "main@sha1:1", "digest": "sha256:ab",
            "lastUpdateTime": "2026-01-01T00:00:00Z", "size": 10
        }))
        .expect("an artifact")
    }

    #[test]
    fn a_new_artifact_records_fetch_then_artifact_as_ready() {
        let mut journal = Journal::default();
        journal.begin(FETCH);
        journal.fetched("main@sha1:1", true);
        let (steps, outcome) = journal.close(Ok(Some(&artifact()))).expect("recorded");
        let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [FETCH, ARTIFACT]);
        assert_eq!(steps[0].message.as_deref(), Some("commit was cached"));
        assert_eq!(steps[1].message.as_deref(), Some("sha256:ab (10 bytes)"));
        assert!(steps.iter().all(|s| s.outcome == journey::OK));
        assert_eq!(outcome, "Ready");
        assert_eq!(journal.revision.as_deref(), Some("main@sha1:1"));
    }

    #[test]
    fn an_unchanged_artifact_records_nothing() {
        let mut journal = Journal::default();
        journal.begin(FETCH);
        journal.fetched("main@sha1:1", true);
        assert!(journal.close(Ok(None)).is_none());
    }

    #[test]
    fn a_failed_step_is_recorded_with_its_error_and_reason() {
        let mut journal = Journal::default();
        journal.begin(FETCH);
        let err = ReconcileError::GitOperation("connection refused".into());
        let (steps, outcome) = journal.close(Err(&err)).expect("recorded");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].name, FETCH);
        assert_eq!(steps[0].outcome, journey::FAILED);
        assert!(
            steps[0]
                .message
                .as_deref()
                .is_some_and(|m| m.contains("connection refused"))
        );
        assert_eq!(outcome, format!("failed: {}", err.reason()));
    }
}
