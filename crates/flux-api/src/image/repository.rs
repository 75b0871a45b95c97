//! `ImageRepository` (`image.toolkit.fluxcd.io/v1`): scans a container registry for tags.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::meta::{AccessFrom, Condition, LocalObjectReference, ReconcileRequestStatus};
use crate::validation::{self, Problem, ValidationErrors};

/// Desired state of an image repository scan.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImageRepository",
    plural = "imagerepositories",
    singular = "imagerepository",
    namespaced,
    status = "ImageRepositoryStatus",
    derive = "PartialEq",
    doc = "ImageRepository is the Schema for the imagerepositories API.",
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
    /// Regexes of tags to exclude; defaults to `^.*\.sig$` (cosign signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_exclusion_list", length(max = 25))]
    pub exclusion_list: Option<Vec<String>>,
    /// Provider used for registry authentication; defaults to `generic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_provider")]
    pub provider: Option<crate::source::OCIProvider>,
    /// Allow plain HTTP connections to the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
}

/// Tag exclusion applied when `spec.exclusionList` is unset (cosign signature tags).
pub const DEFAULT_EXCLUSION_LIST: &[&str] = &[r"^.*\.sig$"];

pub(crate) fn default_exclusion_list() -> Option<Vec<String>> {
    Some(
        DEFAULT_EXCLUSION_LIST
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    )
}

pub(crate) fn default_provider() -> Option<crate::source::OCIProvider> {
    Some(crate::source::OCIProvider::Generic)
}

/// Result of the last scan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// Stable hash of the scanned tag set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Number of tags found.
    pub tag_count: i64,
    /// Time of the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<Time>,
    /// First 10 tags in descending alphabetical order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_tags: Option<Vec<String>>,
}

/// Observed state of an ImageRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Image name in canonical form, e.g. `docker.io/library/alpine`.
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

impl ImageRepositoryStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

impl ImageRepositorySpec {
    /// Effective scan timeout: `timeout`, else `interval`.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_ref()
            .unwrap_or(&self.interval)
            .as_duration()
    }

    /// Effective exclusion list, defaulting to [`DEFAULT_EXCLUSION_LIST`].
    pub fn exclusion_list(&self) -> Vec<String> {
        self.exclusion_list
            .clone()
            .or_else(default_exclusion_list)
            .unwrap_or_default()
    }

    /// Effective provider, defaulting to `generic`.
    pub fn provider(&self) -> crate::source::OCIProvider {
        self.provider.unwrap_or_default()
    }

    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validation::check_required(&mut errors, "spec.image", &self.image);
        if self.image.contains("://") {
            errors.push(
                "spec.image",
                Problem::Rule("image must be a repository name without a scheme"),
            );
        }
        validation::check_interval(&mut errors, "spec.interval", &self.interval);
        if let Some(t) = &self.timeout {
            validation::check_timeout(&mut errors, "spec.timeout", t);
        }
        if let Some(sa) = &self.service_account_name {
            validation::check_length(&mut errors, "spec.serviceAccountName", sa, 0, 253);
        }
        if let Some(list) = &self.exclusion_list {
            if list.len() > 25 {
                errors.push(
                    "spec.exclusionList",
                    Problem::Length {
                        len: list.len(),
                        min: 0,
                        max: 25,
                    },
                );
            }
            for (i, re) in list.iter().enumerate() {
                validation::check_regex(&mut errors, &format!("spec.exclusionList[{i}]"), re);
            }
        }
        errors.into_result()
    }
}
