//! Condition type and reason constants, and pure helpers to set, find and summarise
//! `status.conditions` the way Flux's `runtime/conditions` package does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::meta::{Condition, ConditionStatus};

/// Condition types (`status.conditions[].type`).
pub mod types {
    /// Overall readiness; normal polarity, always present once reconciled.
    pub const READY: &str = "Ready";
    /// A reconciliation is in progress; abnormal-true (present only when True).
    pub const RECONCILING: &str = "Reconciling";
    /// Reconciliation cannot progress without a spec change; abnormal-true.
    pub const STALLED: &str = "Stalled";
    /// Health of the applied objects (Kustomization); normal polarity.
    pub const HEALTHY: &str = "Healthy";
    /// Fetching from the upstream source failed; abnormal-true.
    pub const FETCH_FAILED: &str = "FetchFailed";
    /// The artifact for the current revision is in storage; normal polarity.
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    /// The stored artifact is older than the upstream revision; abnormal-true.
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    /// A GitRepository include is missing or has no artifact; abnormal-true.
    pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";
    /// The source's signature was verified; normal polarity, only when verification is set.
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
    /// A storage operation (archive, lock, symlink) failed; abnormal-true.
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    /// Building the artifact failed; abnormal-true.
    pub const BUILD_FAILED: &str = "BuildFailed";
}

/// Condition reasons (`status.conditions[].reason`).
pub mod reasons {
    /// The operation succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The operation failed.
    pub const FAILED: &str = "Failed";
    /// A reconciliation is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// A reconciliation is being retried after a failure.
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    /// The object is suspended.
    pub const SUSPENDED: &str = "Suspended";
    /// A dependency is not ready yet.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// The source artifact could not be fetched.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// Building (kustomize build, archive) failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// The applied objects failed their health checks.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// Health checking was cancelled by a newer reconciliation.
    pub const HEALTH_CHECK_CANCELED: &str = "HealthCheckCanceled";
    /// Garbage collection of stale objects failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// The reconciliation succeeded (Kustomization Ready).
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    /// The reconciliation failed (Kustomization Ready).
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// A path in the spec is invalid.
    pub const INVALID_PATH: &str = "InvalidPath";
    /// A URL in the spec is invalid.
    pub const INVALID_URL: &str = "InvalidURL";
    /// A CEL expression in the spec does not compile.
    pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
    /// The spec uses a feature whose gate is disabled.
    pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";
    /// Insecure (plain HTTP) connections are disallowed by the controller.
    pub const INSECURE_CONNECTIONS_DISALLOWED: &str = "InsecureConnectionsDisallowed";
    /// The connection type is not supported.
    pub const UNSUPPORTED_CONNECTION_TYPE: &str = "UnsupportedConnectionType";
    /// Cross-namespace access was denied.
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// A new upstream revision is available (ArtifactOutdated).
    pub const NEW_REVISION: &str = "NewRevision";
    /// The spec generation changed.
    pub const NEW_GENERATION: &str = "NewGeneration";
    /// The source URL is invalid.
    pub const URL_INVALID: &str = "URLInvalid";
    /// Authentication to the upstream failed.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// A Git operation (clone, fetch, push) failed.
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    /// A Git operation succeeded.
    pub const GIT_OPERATION_SUCCEEDED: &str = "GitOperationSucceeded";
    /// Signature verification could not be performed.
    pub const VERIFICATION_ERROR: &str = "VerificationError";
    /// Creating a storage directory failed.
    pub const DIRECTORY_CREATION_FAILED: &str = "DirectoryCreationFailed";
    /// A stat of a storage path failed.
    pub const STAT_OPERATION_FAILED: &str = "StatOperationFailed";
    /// Reading from storage or the registry failed.
    pub const READ_OPERATION_FAILED: &str = "ReadOperationFailed";
    /// Acquiring the storage lock failed.
    pub const ACQUIRE_LOCK_FAILED: &str = "AcquireLockFailed";
    /// Writing the artifact archive failed.
    pub const ARCHIVE_OPERATION_FAILED: &str = "ArchiveOperationFailed";
    /// Updating the `latest` symlink in storage failed.
    pub const SYMLINK_UPDATE_FAILED: &str = "SymlinkUpdateFailed";
    /// The artifact is already up to date (event reason).
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    /// A new artifact was stored (event reason).
    pub const NEW_ARTIFACT: &str = "NewArtifact";
    /// A cache operation failed.
    pub const CACHE_OPERATION_FAILED: &str = "CacheOperationFailed";
    /// Patching the object failed.
    pub const PATCH_OPERATION_FAILED: &str = "PatchOperationFailed";
    /// The provider configuration (e.g. workload identity) is invalid.
    pub const INVALID_PROVIDER_CONFIGURATION: &str = "InvalidProviderConfiguration";
    /// Pulling the OCI artifact failed.
    pub const OCI_ARTIFACT_PULL_FAILED: &str = "OCIArtifactPullFailed";
    /// Extracting or copying the OCI layer failed.
    pub const OCI_ARTIFACT_LAYER_OPERATION_FAILED: &str = "OCIArtifactLayerOperationFailed";
    /// The image URL is invalid (ImageRepository).
    pub const IMAGE_URL_INVALID: &str = "ImageURLInvalid";
    /// ImagePolicy has no interval while digest reflection is `Always`.
    pub const INTERVAL_NOT_CONFIGURED: &str = "IntervalNotConfigured";
    /// Generic image-reflector failure.
    pub const FAILURE: &str = "Failure";
    /// The ImageUpdateAutomation source is misconfigured.
    pub const INVALID_SOURCE_CONFIGURATION: &str = "InvalidSourceConfiguration";
    /// The update strategy is not supported.
    pub const INVALID_UPDATE_STRATEGY: &str = "InvalidUpdateStrategy";
    /// Setting up the Git source manager failed.
    pub const SOURCE_MANAGER_FAILED: &str = "SourceManagerFailed";
    /// Applying image updates to files failed.
    pub const UPDATE_FAILED: &str = "UpdateFailed";
    /// The ImagePolicy selector is invalid.
    pub const INVALID_POLICY_SELECTOR: &str = "InvalidPolicySelector";
    /// The commit template uses the removed `.Updated` field.
    pub const REMOVED_TEMPLATE_FIELD: &str = "RemovedTemplateField";
    /// The Receiver has been initialised (webhook path assigned).
    pub const INITIALIZED: &str = "Initialized";
    /// Receiver validation failed.
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    /// The Receiver's token Secret was not found.
    pub const TOKEN_NOT_FOUND: &str = "TokenNotFound";
}

/// Finds the condition of the given type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition is present with status True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True)
}

/// True when the condition is present with status False.
pub fn is_false(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == ConditionStatus::False)
}

/// True when the condition is absent or has status Unknown.
pub fn is_unknown(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_none_or(|c| c.status == ConditionStatus::Unknown)
}

/// Builds a condition; `last_transition_time` is `now`.
pub fn new_condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status,
        observed_generation,
        last_transition_time: now,
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// Sets or replaces the condition of `condition.type_`.
///
/// When a condition of that type already exists with the same status, its
/// `lastTransitionTime` is kept; it only moves when the status changes. New
/// conditions are appended, so the order of existing ones is stable.
pub fn set(conditions: &mut Vec<Condition>, mut condition: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = condition;
        }
        None => conditions.push(condition),
    }
}

/// Removes the condition of the given type; returns whether one was removed.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

/// Marks an abnormal-true condition (`Reconciling`, `Stalled`, `FetchFailed`, ...).
///
/// kstatus expects these only while they hold, so `active == false` removes the
/// condition instead of setting it to False.
pub fn set_abnormal(
    conditions: &mut Vec<Condition>,
    type_: &str,
    active: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) {
    if active {
        set(
            conditions,
            new_condition(
                type_,
                ConditionStatus::True,
                reason,
                message,
                observed_generation,
                now,
            ),
        );
    } else {
        remove(conditions, type_);
    }
}

/// Computes the `Ready` condition from the conditions an object owns, following Flux's
/// summarize semantics (`runtime/conditions.SetSummary` with negative polarity):
///
/// 1. `order` lists the owned condition types by priority; `negative_polarity` lists those
///    that signal a problem when True (e.g. `Stalled`, `FetchFailed`, `Reconciling`).
/// 2. The first condition in `order` that is *bad* (a negative-polarity condition that is
///    True, or a normal one that is False) makes Ready **False** with its reason and message,
///    except that `Reconciling` with reason `Progressing` makes Ready **Unknown** (work in
///    progress is not a failure; `ProgressingWithRetry` stays False).
/// 3. Otherwise the first condition with status Unknown makes Ready **Unknown**.
/// 4. Otherwise the first normal-polarity condition that is True makes Ready **True**
///    with its reason and message.
/// 5. When none of the owned conditions is present, `None` is returned (leave Ready alone).
///
/// Ready's `lastTransitionTime` comes from the existing Ready condition if its status is
/// unchanged, else `now`.
pub fn summarize_ready(
    conditions: &[Condition],
    order: &[&str],
    negative_polarity: &[&str],
    observed_generation: Option<i64>,
    now: Time,
) -> Option<Condition> {
    let owned: Vec<&Condition> = order
        .iter()
        .filter(|t| **t != types::READY)
        .filter_map(|t| find(conditions, t))
        .collect();
    let is_negative = |c: &Condition| negative_polarity.contains(&c.type_.as_str());
    let bad = owned.iter().find(|c| {
        if is_negative(c) {
            c.status == ConditionStatus::True
        } else {
            c.status == ConditionStatus::False
        }
    });
    let (status, source) = if let Some(c) = bad {
        let status = if c.type_ == types::RECONCILING && c.reason == reasons::PROGRESSING {
            ConditionStatus::Unknown
        } else {
            ConditionStatus::False
        };
        (status, *c)
    } else if let Some(c) = owned.iter().find(|c| c.status == ConditionStatus::Unknown) {
        (ConditionStatus::Unknown, *c)
    } else {
        let c = owned
            .iter()
            .find(|c| !is_negative(c) && c.status == ConditionStatus::True)?;
        (ConditionStatus::True, *c)
    };
    let mut ready = new_condition(
        types::READY,
        status,
        &source.reason,
        source.message.clone(),
        observed_generation,
        now,
    );
    if let Some(existing) = find(conditions, types::READY)
        && existing.status == status
    {
        ready.last_transition_time = existing.last_transition_time.clone();
    }
    Some(ready)
}
