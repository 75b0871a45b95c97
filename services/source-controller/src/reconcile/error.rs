//! Why a reconcile failed, with the Flux condition and reason each failure is reported under.

use flux_api::conditions::{reasons, types};

/// Ferry's reason for a spec field it does not implement yet (Flux has no such reason).
pub const UNSUPPORTED_FEATURE: &str = "UnsupportedFeature";

/// Ferry's reason for a tree over `--max-files` or `--max-bytes` (Flux has no such limit).
pub const ARTIFACT_TOO_LARGE: &str = "ArtifactTooLarge";

/// Ferry's reason for an artifact stored and in status whose `ArtifactReady` could not be
/// published yet; the next reconcile publishes it even though the artifact is unchanged.
pub const EVENT_PUBLISH_FAILED: &str = "EventPublishFailed";

/// A failed step. [`ReconcileError::reason`] and [`ReconcileError::condition`] give what Flux
/// writes; [`ReconcileError::is_stalling`] says whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The spec breaks a rule the CRD cannot express.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The spec asks for a Flux feature Ferry does not implement yet.
    #[error("{0}")]
    Unsupported(String),
    /// The secret in `spec.secretRef` is missing or malformed.
    #[error("{0}")]
    Secret(String),
    /// The remote rejected our credentials.
    #[error("failed to checkout and determine revision: {0}")]
    Authentication(String),
    /// Listing refs or fetching failed.
    #[error("failed to checkout and determine revision: {0}")]
    GitOperation(String),
    /// The fetch did not finish within `spec.timeout`.
    #[error("failed to checkout and determine revision: timed out after {0:?} (spec.timeout)")]
    Timeout(std::time::Duration),
    /// An included GitRepository has no artifact yet, or does not exist.
    #[error("{0}")]
    IncludeUnavailable(String),
    /// The tree exceeds the replica's limits: stalled until the revision, spec or limits change.
    #[error("{0}")]
    TooLarge(String),
    /// Reading the tree, packing, or the object store failed.
    #[error("{0}")]
    Storage(String),
    /// Publishing the event failed; the artifact is stored and the event is retried.
    #[error("publishing artifact event: {0}")]
    Publish(String),
    /// Writing status to the Kubernetes API failed.
    #[error("patching status: {0}")]
    Status(String),
}

impl ReconcileError {
    /// The abnormal condition this failure sets.
    pub fn condition(&self) -> &'static str {
        match self {
            ReconcileError::InvalidSpec(_)
            | ReconcileError::Unsupported(_)
            | ReconcileError::TooLarge(_) => types::STALLED,
            ReconcileError::Secret(_)
            | ReconcileError::Authentication(_)
            | ReconcileError::GitOperation(_)
            | ReconcileError::Timeout(_) => types::FETCH_FAILED,
            ReconcileError::IncludeUnavailable(_) => types::INCLUDE_UNAVAILABLE,
            ReconcileError::Storage(_) | ReconcileError::Publish(_) | ReconcileError::Status(_) => {
                types::STORAGE_OPERATION_FAILED
            }
        }
    }

    /// Flux's reason string.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::InvalidSpec(_) => reasons::URL_INVALID,
            ReconcileError::Unsupported(_) => UNSUPPORTED_FEATURE,
            ReconcileError::TooLarge(_) => ARTIFACT_TOO_LARGE,
            ReconcileError::Secret(_) | ReconcileError::Authentication(_) => {
                reasons::AUTHENTICATION_FAILED
            }
            ReconcileError::GitOperation(_) | ReconcileError::Timeout(_) => {
                reasons::GIT_OPERATION_FAILED
            }
            ReconcileError::IncludeUnavailable(_) => reasons::ARTIFACT_FAILED,
            ReconcileError::Storage(_) => reasons::ARCHIVE_OPERATION_FAILED,
            ReconcileError::Publish(_) => EVENT_PUBLISH_FAILED,
            ReconcileError::Status(_) => reasons::PATCH_OPERATION_FAILED,
        }
    }

    /// True for misconfiguration that no retry fixes (Flux: Stalled, no retry storm).
    pub fn is_stalling(&self) -> bool {
        matches!(
            self,
            ReconcileError::InvalidSpec(_)
                | ReconcileError::Unsupported(_)
                | ReconcileError::TooLarge(_)
        )
    }

    /// True when the remote refused our credentials: retry only at the interval, never faster.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ReconcileError::Secret(_) | ReconcileError::Authentication(_)
        )
    }
}
