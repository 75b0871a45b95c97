//! `Kustomization` (`kustomize.toolkit.fluxcd.io/v1`): builds a path of a source artifact
//! with kustomize and applies it with server-side apply.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::meta::{
    Condition, DependencyReference, KubeConfigReference, LocalObjectReference,
    NamespacedObjectKindReference, ReconcileRequestStatus,
};
use crate::validation::{self, Problem, ValidationErrors};

/// Desired state of a Kustomization.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kustomize.toolkit.fluxcd.io",
    version = "v1",
    kind = "Kustomization",
    plural = "kustomizations",
    singular = "kustomization",
    namespaced,
    status = "KustomizationStatus",
    derive = "PartialEq",
    doc = "Kustomization is the Schema for the kustomizations API.",
    shortname = "ks",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-appliers",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// Labels and annotations added to every applied object, overriding existing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Kustomizations that must be Ready before this one is reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<DependencyReference>>,
    /// Decryption of SOPS-encrypted manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// Reconcile (and drift-correct) period.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: GoDuration,
    /// Retry period after a failure; defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub retry_interval: Option<GoDuration>,
    /// Kubeconfig of a remote cluster to apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigReference>,
    /// Path in the artifact holding `kustomization.yaml` (or plain manifests); defaults to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Variable substitution applied after the kustomize build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Garbage-collect objects removed from the source.
    pub prune: bool,
    /// What happens to applied objects when the Kustomization is deleted; defaults to `MirrorPrune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Objects whose health gates readiness (ignored when `wait` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checks: Option<Vec<NamespacedObjectKindReference>>,
    /// Prefix added to the names of all objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_prefix: Option<String>,
    /// Suffix added to the names of all objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_suffix: Option<String>,
    /// Strategic-merge or JSON6902 patches, optionally targeted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Vec<Patch>>,
    /// Image name/tag/digest overrides (kustomize image transformer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
    /// ServiceAccount impersonated when applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Source holding the manifests.
    pub source_ref: CrossNamespaceSourceReference,
    /// Suspend subsequent reconciliations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Namespace set on all namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// Timeout for build, apply and health checks; defaults to `interval - 30s` (at least 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub timeout: Option<GoDuration>,
    /// Recreate objects whose immutable fields changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_false")]
    pub force: Option<bool>,
    /// Wait for all applied objects to become healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// Build metadata to add to applied objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_metadata: Option<Vec<BuildMetadataOption>>,
    /// Paths of kustomize Components to include.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
    /// Skip components that do not exist instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_components: Option<bool>,
    /// CEL health checks for custom resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_exprs: Option<Vec<CustomHealthCheck>>,
    /// Fields excluded from drift detection and apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<IgnoreRule>>,
}

fn default_false() -> Option<bool> {
    Some(false)
}

/// Minimum (and fallback) Kustomization timeout.
pub const MIN_KUSTOMIZATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Labels and annotations for every applied object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct CommonMetadata {
    /// Annotations to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Labels to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// SOPS decryption settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// Decryption provider; only `sops`.
    pub provider: DecryptionProvider,
    /// ServiceAccount used for KMS workload identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secret with decryption keys (age, PGP, cloud KMS credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// Decryption provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecryptionProvider {
    /// Mozilla SOPS.
    Sops,
}

/// Post-build variable substitution.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// `WithVariables` (default) skips substitution when no variable resolved; `Always` always runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_strategy: Option<SubstituteStrategy>,
    /// Inline variables; they override `substituteFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute: Option<BTreeMap<String, String>>,
    /// ConfigMaps and Secrets holding variables; later entries override earlier ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_from: Option<Vec<SubstituteReference>>,
}

/// When post-build substitution runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SubstituteStrategy {
    /// Substitute only when at least one variable is defined.
    #[default]
    WithVariables,
    /// Always substitute (undefined variables become empty or their default).
    Always,
}

/// A ConfigMap or Secret holding substitution variables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SubstituteReference {
    /// `Secret` or `ConfigMap`.
    pub kind: SubstituteKind,
    /// Name of the object, in the Kustomization's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Do not fail when the object is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_false")]
    pub optional: Option<bool>,
}

/// Kind of a substitution source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    /// A Secret (values from `data`).
    Secret,
    /// A ConfigMap (values from `data`).
    ConfigMap,
}

/// What happens to applied objects when the Kustomization is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete when `prune` is true, orphan otherwise.
    #[default]
    MirrorPrune,
    /// Always delete.
    Delete,
    /// Delete and wait until the objects are gone.
    WaitForTermination,
    /// Leave the objects in the cluster.
    Orphan,
}

/// A kustomize patch with an optional target selector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Patch {
    /// Strategic merge patch or JSON6902 patch, as YAML/JSON text.
    pub patch: String,
    /// Objects the patch applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// kustomize resource selector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (regex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace (regex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Annotation selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
    /// Label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// kustomize image override.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image name to match in the manifests.
    pub name: String,
    /// Replacement image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Replacement digest; takes precedence over `newTag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Reference to the source of a Kustomization.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: SourceKind,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; defaults to the Kustomization's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl CrossNamespaceSourceReference {
    /// The source's namespace, defaulting to the Kustomization's own.
    pub fn namespace_or<'a>(&'a self, own: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(own)
    }
}

/// Kinds a Kustomization can take its manifests from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    /// `OCIRepository`.
    OCIRepository,
    /// `GitRepository`.
    GitRepository,
    /// `Bucket`.
    Bucket,
    /// `ExternalArtifact`.
    ExternalArtifact,
}

/// Build metadata added to applied objects.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BuildMetadataOption {
    /// `config.kubernetes.io/origin` annotations.
    OriginAnnotations,
    /// `alpha.config.kubernetes.io/transformations` annotations.
    TransformerAnnotations,
}

/// CEL health check for a custom resource kind.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    /// API version of the kind.
    pub api_version: String,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// CEL expression that is true when the object is healthy.
    pub current: String,
    /// CEL expression that is true while the object is progressing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// CEL expression that is true when the object failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Fields to ignore in drift detection and apply.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct IgnoreRule {
    /// JSON pointers of the fields to ignore.
    pub paths: Vec<String>,
    /// Objects the rule applies to; all when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Observed state of a Kustomization.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Revision of the last successfully applied source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// Origin revision (`org.opencontainers.image.revision`) of the last applied source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_origin_revision: Option<String>,
    /// Revision of the last reconciliation attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// Objects applied by the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,
    /// Last reconciliations, newest first, deduplicated by digest and status (at most 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Snapshot>>,
}

impl KustomizationStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

/// Objects applied by a Kustomization.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceInventory {
    /// One entry per applied object.
    pub entries: Vec<ResourceRef>,
}

/// One applied object: `id` is `<namespace>_<name>_<group>_<kind>`, `v` its API version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ResourceRef {
    /// `<namespace>_<name>_<group>_<kind>`; empty parts for core group and cluster scope.
    pub id: String,
    /// API version of the object.
    #[serde(rename = "v")]
    pub version: String,
}

/// The parts of an inventory entry ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectId {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl ObjectId {
    /// Formats the inventory ID `<namespace>_<name>_<group>_<kind>`.
    pub fn to_id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace, self.name, self.group, self.kind
        )
    }
}

impl ResourceRef {
    /// Splits the ID into namespace, name, group and kind; `None` if it has not four parts.
    pub fn object_id(&self) -> Option<ObjectId> {
        let mut parts = self.id.splitn(4, '_');
        let namespace = parts.next()?.to_owned();
        let name = parts.next()?.to_owned();
        let group = parts.next()?.to_owned();
        let kind = parts.next()?.to_owned();
        Some(ObjectId {
            namespace,
            name,
            group,
            kind,
        })
    }
}

/// One entry of `status.history`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// sha256 digest of the applied manifests.
    pub digest: String,
    /// First time this digest was reconciled.
    pub first_reconciled: Time,
    /// Last time this digest was reconciled.
    pub last_reconciled: Time,
    /// Duration of the last reconciliation.
    pub last_reconciled_duration: GoDuration,
    /// Reason of the last reconciliation's Ready condition.
    pub last_reconciled_status: String,
    /// Number of reconciliations of this digest.
    pub total_reconciliations: i64,
    /// Extra data such as `revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl KustomizationSpec {
    /// Effective timeout: `timeout`, else `interval - 30s`, never below 30s (Flux's `GetTimeout`).
    pub fn timeout(&self) -> Duration {
        let d = match &self.timeout {
            Some(t) => t.as_duration(),
            None => self
                .interval
                .as_duration()
                .saturating_sub(MIN_KUSTOMIZATION_TIMEOUT),
        };
        d.max(MIN_KUSTOMIZATION_TIMEOUT)
    }

    /// Effective retry interval: `retryInterval`, else `interval`.
    pub fn retry_interval(&self) -> Duration {
        self.retry_interval
            .as_ref()
            .unwrap_or(&self.interval)
            .as_duration()
    }

    /// Effective deletion policy, defaulting to `MirrorPrune`.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.deletion_policy.unwrap_or_default()
    }

    /// Effective substitution strategy, defaulting to `WithVariables`.
    pub fn substitute_strategy(&self) -> SubstituteStrategy {
        self.post_build
            .as_ref()
            .and_then(|p| p.substitute_strategy)
            .unwrap_or_default()
    }

    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validation::check_interval(&mut errors, "spec.interval", &self.interval);
        if let Some(d) = &self.retry_interval {
            validation::check_interval(&mut errors, "spec.retryInterval", d);
        }
        if let Some(d) = &self.timeout {
            validation::check_interval(&mut errors, "spec.timeout", d);
        }
        validation::check_required(&mut errors, "spec.sourceRef.name", &self.source_ref.name);
        if let Some(ns) = &self.target_namespace {
            validation::check_length(&mut errors, "spec.targetNamespace", ns, 1, 63);
        }
        if let Some(p) = &self.name_prefix {
            validation::check_length(&mut errors, "spec.namePrefix", p, 1, 200);
        }
        if let Some(s) = &self.name_suffix {
            validation::check_length(&mut errors, "spec.nameSuffix", s, 1, 200);
        }
        if let Some(kc) = &self.kube_config
            && kc.config_map_ref.is_some() == kc.secret_ref.is_some()
        {
            errors.push(
                "spec.kubeConfig",
                Problem::Rule(
                    "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
                ),
            );
        }
        for (i, dep) in self.depends_on.iter().flatten().enumerate() {
            validation::check_required(
                &mut errors,
                &format!("spec.dependsOn[{i}].name"),
                &dep.name,
            );
        }
        if let Some(pb) = &self.post_build {
            for (i, s) in pb.substitute_from.iter().flatten().enumerate() {
                validation::check_length(
                    &mut errors,
                    &format!("spec.postBuild.substituteFrom[{i}].name"),
                    &s.name,
                    1,
                    253,
                );
            }
        }
        errors.into_result()
    }
}
