//! Deprecated `image.toolkit.fluxcd.io/v1beta2` ImageRepository, ImagePolicy and
//! ImageUpdateAutomation: still served, readable, and convertible into v1 with `From`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::image::automation::{CrossNamespaceSourceReference, GitSpec, UpdateStrategy};
use crate::image::policy::{ImagePolicyChoice, ImageRef, ReflectionPolicy, TagFilter};
use crate::image::repository::ScanResult;
use crate::image::{self as v1};
use crate::meta::{
    AccessFrom, Condition, LocalObjectReference, NamespacedObjectReference, ReconcileRequestStatus,
};
use crate::source::OCIProvider;
use crate::validation::ValidationErrors;

/// v1beta2 desired state of an image repository scan (same fields as v1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "ImageRepository",
    plural = "imagerepositories",
    singular = "imagerepository",
    namespaced,
    status = "ImageRepositoryStatus",
    derive = "PartialEq",
    doc = "ImageRepository is the Schema for the imagerepositories API (deprecated v1beta2).",
    deprecated = "v1beta2 ImageRepository is deprecated, upgrade to v1",
    storage = false,
    shortname = "imgrepo",
    shortname = "imagerepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(
        name = "Tags",
        type_ = "string",
        json_path = ".status.lastScanResult.tagCount"
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
    ),
    printcolumn(
        name = "Last scan",
        type_ = "string",
        json_path = ".status.lastScanResult.scanTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// Image repository to scan, e.g. `ghcr.io/org/app` (no tag).
    pub image: String,
    /// How often to scan the repository.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: GoDuration,
    /// Timeout of a scan; defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<GoDuration>,
    /// A `kubernetes.io/dockerconfigjson` Secret with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with the proxy configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// ServiceAccount whose imagePullSecrets (or workload identity) are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// Secret with TLS material (`tls.crt`, `tls.key`, `ca.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Suspend subsequent scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Namespaces whose ImagePolicies may reference this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// Regexes of tags to exclude; defaults to `^.*\.sig$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "v1::repository::default_exclusion_list", length(max = 25))]
    pub exclusion_list: Option<Vec<String>>,
    /// Provider used for registry authentication; defaults to `generic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "v1::repository::default_provider")]
    pub provider: Option<OCIProvider>,
    /// Allow plain HTTP connections to the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
}

/// v1beta2 observed state of an ImageRepository (same fields as v1).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Image name in canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    /// Result of the last scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
    /// `spec.exclusionList` used for the last scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_exclusion_list: Option<Vec<String>>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

impl From<ImageRepositorySpec> for v1::ImageRepositorySpec {
    fn from(s: ImageRepositorySpec) -> Self {
        Self {
            image: s.image,
            interval: s.interval,
            timeout: s.timeout,
            secret_ref: s.secret_ref,
            proxy_secret_ref: s.proxy_secret_ref,
            service_account_name: s.service_account_name,
            cert_secret_ref: s.cert_secret_ref,
            suspend: s.suspend,
            access_from: s.access_from,
            exclusion_list: s.exclusion_list,
            provider: s.provider,
            insecure: s.insecure,
        }
    }
}

impl ImageRepositorySpec {
    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        v1::ImageRepositorySpec::from(self.clone()).validate()
    }
}

impl From<ImageRepository> for v1::ImageRepository {
    fn from(old: ImageRepository) -> Self {
        let mut new = v1::ImageRepository::new("", old.spec.into());
        new.metadata = old.metadata;
        new.status = old.status.map(|st| v1::ImageRepositoryStatus {
            conditions: st.conditions,
            observed_generation: st.observed_generation,
            canonical_image_name: st.canonical_image_name,
            last_scan_result: st.last_scan_result,
            observed_exclusion_list: st.observed_exclusion_list,
            reconcile_request: st.reconcile_request,
        });
        new
    }
}

/// v1beta2 desired state of an image policy (same fields as v1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "ImagePolicy",
    plural = "imagepolicies",
    singular = "imagepolicy",
    namespaced,
    status = "ImagePolicyStatus",
    derive = "PartialEq",
    doc = "ImagePolicy is the Schema for the imagepolicies API (deprecated v1beta2).",
    deprecated = "v1beta2 ImagePolicy is deprecated, upgrade to v1",
    storage = false,
    shortname = "imgpol",
    shortname = "imagepol",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn(name = "Image", type_ = "string", json_path = ".status.latestRef.name"),
    printcolumn(name = "Tag", type_ = "string", json_path = ".status.latestRef.tag"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "message": "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'",
        "rule": "!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')"
    },
    {
        "message": "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'",
        "rule": "has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'"
    }
]))]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags are considered.
    pub image_repository_ref: NamespacedObjectReference,
    /// How to pick the latest tag.
    pub policy: ImagePolicyChoice,
    /// Tag filter applied before the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
    /// Whether to look up and record the digest of the chosen tag; defaults to `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "v1::policy::default_reflection_policy")]
    pub digest_reflection_policy: Option<ReflectionPolicy>,
    /// Re-evaluation period; only with (and then required by) `digestReflectionPolicy: Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<GoDuration>,
    /// Suspend subsequent reconciliations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// v1beta2 observed state of an ImagePolicy, including the fields older Flux wrote.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// The latest image chosen by the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// The previously chosen image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
    /// Deprecated `repo:tag` of the latest image (removed from Flux in Aug 2025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_image: Option<String>,
    /// Deprecated `repo:tag` of the previous image (removed from Flux in Aug 2025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_image: Option<String>,
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

impl ImagePolicySpec {
    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        v1::policy::validate_policy_spec(
            &self.image_repository_ref,
            &self.policy,
            self.filter_tags.as_ref(),
            self.digest_reflection_policy,
            self.interval.as_ref(),
        )
        .into_result()
    }
}

impl From<ImagePolicy> for v1::ImagePolicy {
    /// Converts to v1; a missing `latestRef`/`observedPreviousRef` is derived from the
    /// deprecated `latestImage`/`observedPreviousImage` strings.
    fn from(old: ImagePolicy) -> Self {
        let s = old.spec;
        let mut new = v1::ImagePolicy::new(
            "",
            v1::ImagePolicySpec {
                image_repository_ref: s.image_repository_ref,
                policy: s.policy,
                filter_tags: s.filter_tags,
                digest_reflection_policy: s.digest_reflection_policy,
                interval: s.interval,
                suspend: s.suspend,
            },
        );
        new.metadata = old.metadata;
        new.status = old.status.map(|st| v1::ImagePolicyStatus {
            latest_ref: st
                .latest_ref
                .or_else(|| st.latest_image.as_deref().and_then(ImageRef::parse)),
            observed_previous_ref: st.observed_previous_ref.or_else(|| {
                st.observed_previous_image
                    .as_deref()
                    .and_then(ImageRef::parse)
            }),
            observed_generation: st.observed_generation,
            conditions: st.conditions,
            reconcile_request: st.reconcile_request,
        });
        new
    }
}

/// v1beta2 desired state of an image update automation (same fields as v1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1beta2",
    kind = "ImageUpdateAutomation",
    plural = "imageupdateautomations",
    singular = "imageupdateautomation",
    namespaced,
    status = "ImageUpdateAutomationStatus",
    derive = "PartialEq",
    doc = "ImageUpdateAutomation is the Schema for the imageupdateautomations API (deprecated v1beta2).",
    deprecated = "v1beta2 ImageUpdateAutomation is deprecated, upgrade to v1",
    storage = false,
    shortname = "iua",
    shortname = "imgupd",
    shortname = "imgauto",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Last run",
        type_ = "string",
        json_path = ".status.lastAutomationRunTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to clone and push to.
    pub source_ref: CrossNamespaceSourceReference,
    /// Git checkout, commit and push settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSpec>,
    /// How often to run the automation.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: GoDuration,
    /// ImagePolicies to use; all in the namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "atomic"))]
    pub policy_selector: Option<LabelSelector>,
    /// How to update files; defaults to `{strategy: Setters}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "v1::automation::default_update")]
    pub update: Option<UpdateStrategy>,
    /// Suspend subsequent runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// v1beta2 observed state of an ImageUpdateAutomation (same fields as v1).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationStatus {
    /// Time of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_automation_run_time: Option<Time>,
    /// SHA of the last pushed commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_commit: Option<String>,
    /// Time of the last push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<Time>,
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Policies (name → image) used in the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_policies: Option<BTreeMap<String, ImageRef>>,
    /// Source revision observed in the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_revision: Option<String>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

impl ImageUpdateAutomationSpec {
    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        v1::automation::validate_automation(&self.source_ref, self.git.as_ref(), &self.interval)
            .into_result()
    }
}

impl From<ImageUpdateAutomation> for v1::ImageUpdateAutomation {
    fn from(old: ImageUpdateAutomation) -> Self {
        let s = old.spec;
        let mut new = v1::ImageUpdateAutomation::new(
            "",
            v1::ImageUpdateAutomationSpec {
                source_ref: s.source_ref,
                git: s.git,
                interval: s.interval,
                policy_selector: s.policy_selector,
                update: s.update,
                suspend: s.suspend,
            },
        );
        new.metadata = old.metadata;
        new.status = old.status.map(|st| v1::ImageUpdateAutomationStatus {
            last_automation_run_time: st.last_automation_run_time,
            last_push_commit: st.last_push_commit,
            last_push_time: st.last_push_time,
            observed_generation: st.observed_generation,
            conditions: st.conditions,
            observed_policies: st.observed_policies,
            observed_source_revision: st.observed_source_revision,
            reconcile_request: st.reconcile_request,
        });
        new
    }
}
