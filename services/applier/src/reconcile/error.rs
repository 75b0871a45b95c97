//! Why a Kustomization reconcile failed, with the Flux reason each failure is reported under.

use std::time::Duration;

use flux_api::conditions::reasons;

/// A failed step. [`ReconcileError::reason`] is what Flux writes on Ready;
/// [`ReconcileError::is_stalling`] says whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The spec breaks a rule the CRD cannot express.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The spec uses a feature Ferry does not implement yet (decryption, CEL, ...).
    #[error("{0}")]
    Unsupported(String),
    /// A CEL expression of the spec does not compile.
    #[error("{0}")]
    InvalidExpression(String),
    /// A dependency is not ready yet.
    #[error("{0}")]
    DependencyNotReady(String),
    /// The source or its render is not available.
    #[error("{0}")]
    Artifact(String),
    /// The render cannot be turned into objects.
    #[error("{0}")]
    Build(String),
    /// The client for the target cluster or identity cannot be built.
    #[error("{0}")]
    Client(String),
    /// Applying failed (the message names each object and the server's answer).
    #[error("{0}")]
    Apply(String),
    /// Garbage collection failed.
    #[error("{0}")]
    Prune(String),
    /// Health checks failed or timed out.
    #[error("{0}")]
    Health(String),
    /// A newer reconcile cancelled the health checks.
    #[error("health check canceled: {0}")]
    HealthCanceled(String),
    /// Writing status (or the finalizer) failed.
    #[error("patching status: {0}")]
    Status(String),
}

impl ReconcileError {
    /// Flux's reason string for the Ready condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSpec(_) | Self::Unsupported(_) | Self::Client(_) | Self::Apply(_) => {
                reasons::RECONCILIATION_FAILED
            }
            Self::InvalidExpression(_) => reasons::INVALID_CEL_EXPRESSION,
            Self::DependencyNotReady(_) => reasons::DEPENDENCY_NOT_READY,
            Self::Artifact(_) => reasons::ARTIFACT_FAILED,
            Self::Build(_) => reasons::BUILD_FAILED,
            Self::Prune(_) => reasons::PRUNE_FAILED,
            Self::Health(_) => reasons::HEALTH_CHECK_FAILED,
            Self::HealthCanceled(_) => reasons::HEALTH_CHECK_CANCELED,
            Self::Status(_) => reasons::PATCH_OPERATION_FAILED,
        }
    }

    /// True for misconfiguration that no retry fixes (Stalled, no retry storm).
    pub fn is_stalling(&self) -> bool {
        matches!(
            self,
            Self::InvalidSpec(_) | Self::Unsupported(_) | Self::InvalidExpression(_)
        )
    }

    /// When to try again: the dependency re-check period for `DependencyNotReady`, else
    /// `retryInterval`; stalled objects wait for a spec change (the interval at most).
    pub fn requeue_after(
        &self,
        retry_interval: Duration,
        dependency_requeue: Duration,
    ) -> Duration {
        match self {
            Self::DependencyNotReady(_) => dependency_requeue,
            _ => retry_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_failures_map_to_fluxs_reasons() {
        assert_eq!(
            ReconcileError::Artifact(String::new()).reason(),
            "ArtifactFailed"
        );
        assert_eq!(ReconcileError::Build(String::new()).reason(), "BuildFailed");
        assert_eq!(
            ReconcileError::Apply(String::new()).reason(),
            "ReconciliationFailed"
        );
        assert_eq!(ReconcileError::Prune(String::new()).reason(), "PruneFailed");
        assert_eq!(
            ReconcileError::Health(String::new()).reason(),
            "HealthCheckFailed"
        );
        assert_eq!(
            ReconcileError::DependencyNotReady(String::new()).reason(),
            "DependencyNotReady"
        );
        assert!(ReconcileError::Unsupported(String::new()).is_stalling());
        assert!(!ReconcileError::Apply(String::new()).is_stalling());
    }
}
