//! The single exit path: conditions written the way Flux's kustomize-controller writes them, then
//! one merge patch of the status subresource; plus progress messages during long stages.

use std::time::Duration;

use flux_api::conditions::{self, reasons, types};
use flux_api::kustomize::{Kustomization, KustomizationStatus, ResourceInventory};
use flux_api::meta::{Condition, ConditionStatus, RECONCILE_REQUEST_ANNOTATION};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::{ReconcileError, history};
use crate::apply::ChangeSet;
use crate::drift::{self, Drift, DriftMode};
use crate::prune::PruneEntry;

/// Field manager of status writes (Flux uses `gotk-kustomize-controller`).
pub const STATUS_MANAGER: &str = "ferry-applier-status";

/// Ferry's drift condition (abnormal-true, not part of Ready): present while the last
/// reconcile found (warn-only mode) or corrected drift.
pub const DRIFTED: &str = "Drifted";
/// Reason of [`DRIFTED`] in warn-only mode.
pub const DRIFT_DETECTED: &str = "DriftDetected";
/// Reason of [`DRIFTED`] when the apply corrected drift.
pub const DRIFT_CORRECTED: &str = "DriftCorrected";

/// What the steps got done before they stopped (whatever the outcome).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Source revision of the render, once known.
    pub revision: Option<String>,
    /// Inventory to record, once something was applied.
    pub inventory: Option<ResourceInventory>,
    /// What the apply did.
    pub changes: Option<ChangeSet>,
    /// What pruning did.
    pub pruned: Vec<PruneEntry>,
    /// Drift found (warn-only) or corrected, with the mode.
    pub drift: Option<(DriftMode, Vec<Drift>)>,
    /// Health checks ran and passed, in this long.
    pub healthy_after: Option<Duration>,
    /// The steps for the revision's journey (`ferry trace`).
    pub journal: crate::journey::Journal,
    /// Digest of the render's manifests, once read (`status.history`).
    pub manifests_digest: Option<String>,
    /// How long the whole reconcile took, set when it finishes (`status.history`).
    pub duration: Option<Duration>,
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn set(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    conditions::set(
        conds,
        conditions::new_condition(type_, status, reason, message, generation, now.clone()),
    );
}

/// The status after a reconcile, from the object's current status (pure).
pub fn next_status(
    ks: &Kustomization,
    progress: &Progress,
    result: &Result<(), ReconcileError>,
    now: Time,
) -> KustomizationStatus {
    let mut status = ks.status.clone().unwrap_or_default();
    let mut conds: Vec<Condition> = status.conditions.take().unwrap_or_default();
    let generation = ks.metadata.generation;
    if let Some(token) = ks.annotations().get(RECONCILE_REQUEST_ANNOTATION) {
        status.reconcile_request.last_handled_reconcile_at = Some(token.clone());
    }
    if let Some(rev) = &progress.revision {
        status.last_attempted_revision = Some(rev.clone());
    }
    if let Some(inv) = &progress.inventory {
        status.inventory = Some(inv.clone());
    }
    match &progress.drift {
        Some((mode, drifts)) if !drifts.is_empty() => {
            let reason = match mode {
                DriftMode::Warn => DRIFT_DETECTED,
                DriftMode::Correct => DRIFT_CORRECTED,
            };
            let message = format!(
                "{} object(s) drifted from revision {}:\n{}",
                drifts.len(),
                progress.revision.as_deref().unwrap_or(""),
                drift::summary(drifts)
            );
            set(
                &mut conds,
                DRIFTED,
                ConditionStatus::True,
                reason,
                &message,
                generation,
                &now,
            );
        }
        Some(_) => {
            conditions::remove(&mut conds, DRIFTED);
        }
        None => {}
    }
    match result {
        Ok(()) => {
            let revision = progress.revision.clone().unwrap_or_default();
            let message = format!("Applied revision: {revision}");
            set(
                &mut conds,
                types::READY,
                ConditionStatus::True,
                reasons::RECONCILIATION_SUCCEEDED,
                &message,
                generation,
                &now,
            );
            match progress.healthy_after {
                Some(d) => set(
                    &mut conds,
                    types::HEALTHY,
                    ConditionStatus::True,
                    reasons::SUCCEEDED,
                    &format!("Health check passed in {}", format_duration(d)),
                    generation,
                    &now,
                ),
                None => {
                    conditions::remove(&mut conds, types::HEALTHY);
                }
            }
            conditions::remove(&mut conds, types::RECONCILING);
            conditions::remove(&mut conds, types::STALLED);
            status.last_applied_revision = Some(revision);
            status.observed_generation = generation;
        }
        Err(err) => {
            let message = err.to_string();
            set(
                &mut conds,
                types::READY,
                ConditionStatus::False,
                err.reason(),
                &message,
                generation,
                &now,
            );
            if matches!(
                err,
                ReconcileError::Health(_) | ReconcileError::HealthCanceled(_)
            ) {
                set(
                    &mut conds,
                    types::HEALTHY,
                    ConditionStatus::False,
                    err.reason(),
                    &message,
                    generation,
                    &now,
                );
            }
            if err.is_stalling() {
                conditions::remove(&mut conds, types::RECONCILING);
                set(
                    &mut conds,
                    types::STALLED,
                    ConditionStatus::True,
                    err.reason(),
                    &message,
                    generation,
                    &now,
                );
                status.observed_generation = generation;
            } else {
                conditions::remove(&mut conds, types::STALLED);
                set(
                    &mut conds,
                    types::RECONCILING,
                    ConditionStatus::True,
                    reasons::PROGRESSING_WITH_RETRY,
                    &format!("retrying: {message}"),
                    generation,
                    &now,
                );
            }
        }
    }
    if let Some(digest) = &progress.manifests_digest {
        let status_reason = match result {
            Ok(()) => reasons::RECONCILIATION_SUCCEEDED,
            Err(err) => err.reason(),
        };
        let mut snapshots = status.history.take().unwrap_or_default();
        history::record(
            &mut snapshots,
            &history::Reconciled {
                digest,
                revision: progress.revision.as_deref().unwrap_or_default(),
                status: status_reason,
                at: now.clone(),
                duration: progress.duration.unwrap_or_default(),
            },
        );
        status.history = Some(snapshots);
    }
    status.conditions = Some(conds);
    status
}

/// Go-style duration text (`1.5s`, `2m5s`).
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        return format!("{}m{}s", secs / 60, secs % 60);
    }
    let text = format!("{:.3}", d.as_secs_f64());
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// The status while a stage runs: Reconciling=True (Progressing) and Ready=Unknown with `message`.
pub fn progress_status(ks: &Kustomization, message: &str, now: Time) -> KustomizationStatus {
    let mut status = ks.status.clone().unwrap_or_default();
    let mut conds: Vec<Condition> = status.conditions.take().unwrap_or_default();
    let generation = ks.metadata.generation;
    set(
        &mut conds,
        types::RECONCILING,
        ConditionStatus::True,
        reasons::PROGRESSING,
        message,
        generation,
        &now,
    );
    set(
        &mut conds,
        types::READY,
        ConditionStatus::Unknown,
        reasons::PROGRESSING,
        message,
        generation,
        &now,
    );
    status.conditions = Some(conds);
    status
}

async fn patch(
    client: &kube::Client,
    ks: &Kustomization,
    status: &KustomizationStatus,
) -> Result<(), ReconcileError> {
    let api: Api<Kustomization> =
        Api::namespaced(client.clone(), &ks.namespace().unwrap_or_default());
    let body = serde_json::json!({ "status": status });
    api.patch_status(
        &ks.name_any(),
        &PatchParams::apply(STATUS_MANAGER),
        &Patch::Merge(&body),
    )
    .await
    .map_err(|e| ReconcileError::Status(e.to_string()))?;
    Ok(())
}

/// Writes a progress message (Reconciling / Ready=Unknown).
pub async fn write_progress(
    client: &kube::Client,
    ks: &Kustomization,
    message: &str,
) -> Result<(), ReconcileError> {
    patch(client, ks, &progress_status(ks, message, now())).await
}

/// Writes the final status of a reconcile.
pub async fn write(
    client: &kube::Client,
    ks: &Kustomization,
    progress: &Progress,
    result: &Result<(), ReconcileError>,
) -> Result<(), ReconcileError> {
    patch(client, ks, &next_status(ks, progress, result, now())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory;
    use crate::manifests::ObjMeta;

    fn ks() -> Kustomization {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": "flux-system", "generation": 4,
                         "annotations": {"reconcile.fluxcd.io/requestedAt": "tok"}},
            "spec": {"interval": "1m", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}
        }))
        .expect("valid Kustomization")
    }

    fn t() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    fn progress() -> Progress {
        let m = ObjMeta {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "app".into(),
            name: "a".into(),
        };
        Progress {
            revision: Some("main@sha1:abc".into()),
            inventory: Some(inventory::from_objects([&m])),
            ..Default::default()
        }
    }

    #[test]
    fn success_writes_ready_applied_revision_and_inventory() {
        let s = next_status(&ks(), &progress(), &Ok(()), t());
        let ready = conditions::find(s.conditions(), types::READY).expect("Ready");
        assert_eq!(ready.status, ConditionStatus::True);
        assert_eq!(ready.reason, "ReconciliationSucceeded");
        assert_eq!(ready.message, "Applied revision: main@sha1:abc");
        assert_eq!(s.last_applied_revision.as_deref(), Some("main@sha1:abc"));
        assert_eq!(s.last_attempted_revision.as_deref(), Some("main@sha1:abc"));
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(
            s.reconcile_request.last_handled_reconcile_at.as_deref(),
            Some("tok")
        );
        assert_eq!(
            s.inventory.map(|i| i.entries[0].id.clone()).as_deref(),
            Some("app_a__ConfigMap")
        );
        assert!(
            conditions::find(
                s.conditions.as_deref().unwrap_or_default(),
                types::RECONCILING
            )
            .is_none()
        );
    }

    #[test]
    fn health_failure_sets_ready_and_healthy_false_and_keeps_last_applied_revision() {
        let mut k = ks();
        k.status = Some(KustomizationStatus {
            last_applied_revision: Some("main@sha1:old".into()),
            ..Default::default()
        });
        let err = Err(ReconcileError::Health(
            "health check failed after 1s".into(),
        ));
        let s = next_status(&k, &progress(), &err, t());
        let ready = conditions::find(s.conditions(), types::READY).expect("Ready");
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::False, "HealthCheckFailed")
        );
        let healthy = conditions::find(s.conditions(), types::HEALTHY).expect("Healthy");
        assert_eq!(healthy.status, ConditionStatus::False);
        let rec = conditions::find(s.conditions(), types::RECONCILING).expect("Reconciling");
        assert_eq!(rec.reason, "ProgressingWithRetry");
        assert_eq!(s.last_applied_revision.as_deref(), Some("main@sha1:old"));
        assert_eq!(s.last_attempted_revision.as_deref(), Some("main@sha1:abc"));
        assert_eq!(s.observed_generation, None);
    }

    #[test]
    fn unsupported_features_stall() {
        let err = Err(ReconcileError::Unsupported(
            "spec.decryption is not supported".into(),
        ));
        let s = next_status(&ks(), &Progress::default(), &err, t());
        assert!(conditions::is_true(s.conditions(), types::STALLED));
        assert!(conditions::find(s.conditions(), types::RECONCILING).is_none());
    }

    #[test]
    fn durations_are_written_like_go() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m5s");
    }
}
