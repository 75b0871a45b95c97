//! The single exit path: conditions summarised into Ready the way Flux writes them, then one
//! merge patch of the status subresource.

use super::artifact::Stored;
use super::{Context, ReconcileError};
use flux_api::conditions::{self, reasons, types};
use flux_api::meta::{Condition, ConditionStatus};
use flux_api::source::{GitRepository, GitRepositoryStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};

/// The field manager of every status write of this service.
pub const FIELD_MANAGER: &str = "ferry-source-controller";

/// The annotation that asks for a reconcile now (Flux's).
pub use flux_api::meta::RECONCILE_REQUEST_ANNOTATION as REQUESTED_AT;

/// Abnormal-true conditions this reconciler owns; each is cleared on success.
const ABNORMAL: &[&str] = &[
    types::STALLED,
    types::RECONCILING,
    types::FETCH_FAILED,
    types::INCLUDE_UNAVAILABLE,
    types::STORAGE_OPERATION_FAILED,
    types::ARTIFACT_OUTDATED,
];

/// Writes the status for the outcome of a reconcile; returns the status written.
pub async fn write(
    obj: &GitRepository,
    ctx: &Context,
    result: &Result<Stored, ReconcileError>,
) -> Result<GitRepositoryStatus, ReconcileError> {
    let status = next_status(obj, result, Time(k8s_openapi::jiff::Timestamp::now()));
    let api: Api<GitRepository> =
        Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| ReconcileError::Status(e.to_string()))?;
    Ok(status)
}

/// The status after `result`, starting from the object's current status.
pub fn next_status(
    obj: &GitRepository,
    result: &Result<Stored, ReconcileError>,
    now: Time,
) -> GitRepositoryStatus {
    let mut status = obj.status.clone().unwrap_or_default();
    let mut conds: Vec<Condition> = status.conditions.take().unwrap_or_default();
    let generation = obj.metadata.generation;
    status.reconcile_request.last_handled_reconcile_at =
        obj.annotations().get(REQUESTED_AT).cloned();
    match result {
        Ok(stored) => {
            let message = format!(
                "stored artifact for revision '{}'",
                stored.artifact.revision
            );
            for t in ABNORMAL {
                conditions::remove(&mut conds, t);
            }
            set(
                &mut conds,
                types::ARTIFACT_IN_STORAGE,
                ConditionStatus::True,
                reasons::SUCCEEDED,
                &message,
                generation,
                &now,
            );
            set(
                &mut conds,
                types::READY,
                ConditionStatus::True,
                reasons::SUCCEEDED,
                &message,
                generation,
                &now,
            );
            status.artifact = Some(stored.artifact.clone());
            status.included_artifacts =
                (!stored.included.is_empty()).then(|| stored.included.clone());
            status.observed_ignore = obj.spec.ignore.clone();
            status.observed_include = obj.spec.include.clone();
            status.observed_generation = generation;
        }
        Err(err) => {
            let message = err.to_string();
            set(
                &mut conds,
                err.condition(),
                ConditionStatus::True,
                err.reason(),
                &message,
                generation,
                &now,
            );
            set(
                &mut conds,
                types::READY,
                ConditionStatus::False,
                err.reason(),
                &message,
                generation,
                &now,
            );
            if err.is_stalling() {
                conditions::remove(&mut conds, types::RECONCILING);
                status.observed_generation = generation;
            } else {
                let retry = format!("retrying: {message}");
                set(
                    &mut conds,
                    types::RECONCILING,
                    ConditionStatus::True,
                    reasons::PROGRESSING_WITH_RETRY,
                    &retry,
                    generation,
                    &now,
                );
            }
        }
    }
    status.conditions = Some(conds);
    status
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
