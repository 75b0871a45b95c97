//! Types shared by every Flux kind (`fluxcd/pkg/apis/meta`): conditions, artifacts,
//! object references, reconcile-request status and well-known annotations.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation whose value change requests an immediate reconcile.
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";
/// Annotation requesting a one-off forced reconcile; acts only when equal to `requestedAt`.
pub const FORCE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/forceAt";
/// Label on a Secret/ConfigMap that makes referencing objects reconcile when it changes.
pub const WATCH_LABEL: &str = "reconcile.fluxcd.io/watch";
/// Value of [`WATCH_LABEL`] that enables watching.
pub const WATCH_LABEL_ENABLED: &str = "Enabled";
/// Conventional label key for controller sharding.
pub const SHARDING_LABEL: &str = "sharding.fluxcd.io/key";
/// Finalizer Flux controllers put on the objects they manage.
pub const FINALIZER: &str = "finalizers.fluxcd.io";
/// Annotation (and label) that turns off post-build substitution for an object.
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// Value of [`SUBSTITUTE_ANNOTATION`] that disables substitution.
pub const SUBSTITUTE_DISABLED: &str = "disabled";

/// Status of a condition (`True`, `False` or `Unknown`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// It is not known whether the condition holds.
    Unknown,
}

impl ConditionStatus {
    /// The string form used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// A `metav1.Condition`: one aspect of the object's current state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition in CamelCase or in foo.example.com/CamelCase.
    #[serde(rename = "type")]
    #[schemars(
        length(max = 316),
        pattern(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
    )]
    pub type_: String,
    /// Status of the condition, one of True, False, Unknown.
    pub status: ConditionStatus,
    /// The .metadata.generation that the condition was set based upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0))]
    pub observed_generation: Option<i64>,
    /// Last time the condition transitioned from one status to another.
    pub last_transition_time: Time,
    /// Programmatic identifier (CamelCase) for the reason of the last transition.
    #[schemars(
        length(min = 1, max = 1024),
        pattern(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    )]
    pub reason: String,
    /// Human readable message about the transition. May be empty.
    #[schemars(length(max = 32768))]
    pub message: String,
}

/// The output of a source reconciliation (`status.artifact`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Relative file path of the artifact in the storage, e.g. `gitrepository/<ns>/<name>/<sha>.tar.gz`.
    pub path: String,
    /// HTTP address of the artifact as exposed by the controller that produced it.
    pub url: String,
    /// Human-readable identifier of the origin revision, e.g. `main@sha1:<hex>`.
    pub revision: String,
    /// Digest of the file in the form `<algorithm>:<checksum>`.
    #[schemars(pattern(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"))]
    pub digest: String,
    /// Timestamp of the last update of the artifact.
    pub last_update_time: Time,
    /// Number of bytes in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Upstream information such as OCI annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl Artifact {
    /// Parses `revision` into a typed [`Revision`](crate::revision::Revision).
    pub fn parsed_revision(
        &self,
    ) -> Result<crate::revision::Revision, crate::revision::RevisionError> {
        self.revision.parse()
    }

    /// Whether this artifact is for `revision`, accepting legacy (`main/<sha>`) spellings
    /// on either side like Flux's `Artifact.HasRevision` with `TransformRevision`.
    pub fn has_revision(&self, revision: &str) -> bool {
        if self.revision == revision {
            return true;
        }
        match (
            self.parsed_revision(),
            revision.parse::<crate::revision::Revision>(),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// Reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referent.
    pub name: String,
}

impl LocalObjectReference {
    /// A reference to `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// Reference to an object, optionally in another namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct NamespacedObjectReference {
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the referring object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Reference to an object of a given kind, optionally in another namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// API version of the referent; if not specified the Kubernetes preferred version is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the referring object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Reference to a key in a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyReference {
    /// Name of the Secret.
    pub name: String,
    /// Key in the Secret, when not specified an implementation-specific default key is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Reference to an object another Flux object depends on (`spec.dependsOn[]`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the referring object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// CEL expression evaluated against the dependency to decide readiness (default: Ready=True).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

/// Where to find a kubeconfig for a remote cluster: exactly one of `configMapRef` or `secretRef`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "message": "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
        "rule": "has(self.configMapRef) || has(self.secretRef)"
    },
    {
        "message": "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
        "rule": "!has(self.configMapRef) || !has(self.secretRef)"
    }
]))]
pub struct KubeConfigReference {
    /// ConfigMap holding the remote cluster's address and workload-identity settings (secret-less).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalObjectReference>,
    /// Secret holding a kubeconfig under `value` or `value.yaml` (or the given key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyReference>,
}

/// Status field recording the last handled `reconcile.fluxcd.io/requestedAt` token.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRequestStatus {
    /// The most recent reconcile request value, so a change of the annotation can be detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// ACL granting access to objects in other namespaces (`spec.accessFrom`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// Namespaces allowed to access the object, selected by label; an empty selector matches all.
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Label selector over namespaces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Map of {key,value} pairs; all must match the namespace's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// Returns true when a reconcile was requested through the annotation and not yet handled.
pub fn reconcile_requested(
    annotations: Option<&BTreeMap<String, String>>,
    status: &ReconcileRequestStatus,
) -> bool {
    annotations
        .and_then(|a| a.get(RECONCILE_REQUEST_ANNOTATION))
        .is_some_and(|token| status.last_handled_reconcile_at.as_deref() != Some(token.as_str()))
}

/// A Secret's keys and bytes as the controllers read them: `data`, then `stringData` (which a
/// real API server folds into `data`, but an object built by hand may still carry).
pub fn secret_bytes(
    secret: k8s_openapi::api::core::v1::Secret,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .chain(
            secret
                .string_data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes())),
        )
        .collect()
}
