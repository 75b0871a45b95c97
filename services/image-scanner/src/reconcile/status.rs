//! The single exit path shared by the reconcilers: conditions summarised the way Flux writes
//! them, then one merge patch of the status subresource.

use flux_api::conditions::{self, reasons, types};
use flux_api::meta::{Condition, ConditionStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::time::Duration;

use super::ReconcileError;

/// The field manager of every write of this service.
pub const FIELD_MANAGER: &str = "ferry-image-scanner";

/// The annotation that asks for a reconcile now (Flux's).
pub use flux_api::meta::RECONCILE_REQUEST_ANNOTATION as REQUESTED_AT;

/// Why a pipeline stopped: Flux's reason and message, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The Ready reason (`AuthenticationFailed`, `ReadOperationFailed`, …).
    pub reason: &'static str,
    /// The message, naming the cause (never credentials).
    pub message: String,
    /// No retry can help until the spec changes (Flux: `Stalled=True`).
    pub stalled: bool,
    /// Retry after this delay; `None` waits for a change, an upstream event or the interval.
    pub retry: Option<Duration>,
}

impl Failure {
    /// A failure that waits for a change (or the interval).
    pub fn wait(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            stalled: false,
            retry: None,
        }
    }

    /// A failure that no retry fixes.
    pub fn stall(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            stalled: true,
            ..Self::wait(reason, message)
        }
    }

    /// A transient failure, retried after `delay`.
    pub fn retry(reason: &'static str, message: impl Into<String>, delay: Duration) -> Self {
        Self {
            retry: Some(delay),
            ..Self::wait(reason, message)
        }
    }
}

/// The conditions after a reconcile: on success Ready=True (`Succeeded`, `ready_message`) and
/// no Reconciling/Stalled; on failure Ready=False with the failure's reason and message, plus
/// Stalled=True when no retry helps, else Reconciling=True (`ProgressingWithRetry`).
pub fn ready_conditions(
    current: Option<Vec<Condition>>,
    result: Result<&str, &Failure>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut conds = current.unwrap_or_default();
    let set = |conds: &mut Vec<Condition>, type_: &str, status, reason: &str, message: &str| {
        conditions::set(
            conds,
            conditions::new_condition(type_, status, reason, message, generation, now.clone()),
        );
    };
    match result {
        Ok(message) => {
            conditions::remove(&mut conds, types::RECONCILING);
            conditions::remove(&mut conds, types::STALLED);
            set(
                &mut conds,
                types::READY,
                ConditionStatus::True,
                reasons::SUCCEEDED,
                message,
            );
        }
        Err(failure) => {
            set(
                &mut conds,
                types::READY,
                ConditionStatus::False,
                failure.reason,
                &failure.message,
            );
            if failure.stalled {
                conditions::remove(&mut conds, types::RECONCILING);
                set(
                    &mut conds,
                    types::STALLED,
                    ConditionStatus::True,
                    failure.reason,
                    &failure.message,
                );
            } else {
                conditions::remove(&mut conds, types::STALLED);
                set(
                    &mut conds,
                    types::RECONCILING,
                    ConditionStatus::True,
                    reasons::PROGRESSING_WITH_RETRY,
                    &format!("retrying: {}", failure.message),
                );
            }
        }
    }
    conds
}

/// Whether observedGeneration moves to the object's generation: on success and when stalled
/// (the generation was looked at and cannot progress), as Flux does.
pub fn observes_generation(result: Result<(), &Failure>) -> bool {
    match result {
        Ok(()) => true,
        Err(f) => f.stalled,
    }
}

/// The value of the `requestedAt` annotation, for `status.lastHandledReconcileAt`.
pub fn requested_at<K: Resource>(obj: &K) -> Option<String> {
    obj.annotations().get(REQUESTED_AT).cloned()
}

/// Merge-patches `status` (a JSON object) onto the object's status subresource.
pub async fn patch_status<K>(
    kube: &kube::Client,
    obj: &K,
    status: serde_json::Value,
) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(kube.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| ReconcileError::Status(e.to_string()))?;
    Ok(())
}

/// The current time as a Kubernetes `Time`.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(conds: &'a [Condition], t: &str) -> Option<&'a Condition> {
        conds.iter().find(|c| c.type_ == t)
    }

    #[test]
    fn failure_then_success_leaves_only_ready_true() {
        let now = now();
        let failure = Failure::retry("ReadOperationFailed", "boom", Duration::from_secs(1));
        let conds = ready_conditions(None, Err(&failure), Some(2), &now);
        assert_eq!(
            find(&conds, "Ready").map(|c| c.reason.as_str()),
            Some("ReadOperationFailed")
        );
        assert_eq!(
            find(&conds, "Reconciling").map(|c| c.reason.as_str()),
            Some("ProgressingWithRetry")
        );
        assert!(find(&conds, "Stalled").is_none());
        let conds = ready_conditions(
            Some(conds),
            Ok("successful scan: found 3 tags"),
            Some(2),
            &now,
        );
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].message, "successful scan: found 3 tags");
    }

    #[test]
    fn stalled_failures_set_stalled_not_reconciling_and_observe_the_generation() {
        let now = now();
        let failure = Failure::stall("ImageURLInvalid", "bad image");
        let conds = ready_conditions(None, Err(&failure), Some(1), &now);
        assert!(find(&conds, "Stalled").is_some());
        assert!(find(&conds, "Reconciling").is_none());
        assert!(observes_generation(Err(&failure)));
        assert!(!observes_generation(Err(&Failure::wait("Failure", "x"))));
    }
}
