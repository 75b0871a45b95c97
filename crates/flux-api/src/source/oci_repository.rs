//! `OCIRepository` (`source.toolkit.fluxcd.io/v1`): an OCI artifact pulled into an artifact.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::meta::{Artifact, Condition, LocalObjectReference, ReconcileRequestStatus};
use crate::validation::{self, ValidationErrors};

/// Desired state of an OCI repository source.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "OCIRepository",
    plural = "ocirepositories",
    singular = "ocirepository",
    namespaced,
    status = "OCIRepositoryStatus",
    derive = "PartialEq",
    doc = "OCIRepository is the Schema for the ocirepositories API.",
    shortname = "ocirepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
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
pub struct OCIRepositorySpec {
    /// OCI repository address, prefixed with `oci://` (e.g. `oci://ghcr.io/org/manifests`).
    #[schemars(pattern(r"^oci://.*$"))]
    pub url: String,
    /// OCI reference to pull; defaults to tag `latest`.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<OCIRepositoryRef>,
    /// Which layer to take from the artifact; defaults to the first layer, extracted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<OCILayerSelector>,
    /// OIDC provider used for authentication; defaults to `generic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_oci_provider")]
    pub provider: Option<OCIProvider>,
    /// A `kubernetes.io/dockerconfigjson` Secret with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Signature verification of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<OCIRepositoryVerification>,
    /// ServiceAccount whose imagePullSecrets (or workload identity) are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secret with TLS material (`tls.crt`, `tls.key`, `ca.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Secret with the proxy configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// How often to check the repository for updates.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: GoDuration,
    /// Timeout for remote OCI operations; defaults to 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        default = "default_timeout",
        pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")
    )]
    pub timeout: Option<GoDuration>,
    /// Ignore patterns in `.gitignore` syntax; replaces the default exclusions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Allow plain HTTP connections to the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Suspend subsequent reconciliations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

fn default_timeout() -> Option<GoDuration> {
    Some(GoDuration::known("60s", Duration::from_secs(60)))
}

fn default_oci_provider() -> Option<OCIProvider> {
    Some(OCIProvider::Generic)
}

/// Default OCI operation timeout (60s).
pub const DEFAULT_OCI_TIMEOUT: Duration = Duration::from_secs(60);
/// Tag pulled when `spec.ref` is empty.
pub const DEFAULT_OCI_TAG: &str = "latest";

/// Provider used for registry authentication.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCIProvider {
    /// Credentials from `secretRef`/`serviceAccountName` (or none).
    #[default]
    Generic,
    /// Amazon ECR.
    Aws,
    /// Azure Container Registry.
    Azure,
    /// Google Artifact/Container Registry.
    Gcp,
}

/// OCI reference; precedence is digest > semver > tag.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryRef {
    /// Image digest to pull (`sha256:<hex>`); takes precedence over semver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// SemVer range of tags to pick from; takes precedence over tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Regex that tags must match before the semver range is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    /// Image tag to pull; defaults to `latest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Selects a layer by media type and what to do with it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCILayerSelector {
    /// Media type of the layer; the first layer is taken when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` (default) untars the layer; `copy` stores it as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OCILayerOperation>,
}

/// What to do with the selected layer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCILayerOperation {
    /// Untar the layer into the artifact.
    Extract,
    /// Store the layer blob unchanged.
    Copy,
}

/// Signature verification settings for OCI artifacts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryVerification {
    /// Verification provider: `cosign` (default) or `notation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_verification_provider")]
    pub provider: Option<VerificationProvider>,
    /// Secret with the trusted public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Keyless (OIDC) identities accepted by cosign.
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_oidc_identity: Option<Vec<OIDCIdentityMatch>>,
    /// Secret with a Sigstore trusted root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_secret_ref: Option<LocalObjectReference>,
}

fn default_verification_provider() -> Option<VerificationProvider> {
    Some(VerificationProvider::Cosign)
}

/// Signature verification tool.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    /// Sigstore cosign.
    #[default]
    Cosign,
    /// Notary Project notation.
    Notation,
}

/// An OIDC issuer/subject pair (regular expressions) for keyless verification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct OIDCIdentityMatch {
    /// Regex matching the OIDC issuer.
    pub issuer: String,
    /// Regex matching the certificate identity subject.
    pub subject: String,
}

/// Observed state of an OCIRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryStatus {
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Download link of the last artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Last successfully stored artifact; revision is `<tag>@sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// `spec.ignore` used to build the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    /// `spec.layerSelector` used to build the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_layer_selector: Option<OCILayerSelector>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

impl OCIRepositoryStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

impl OCIRepositorySpec {
    /// The pull timeout, defaulting to 60s.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_ref()
            .map_or(DEFAULT_OCI_TIMEOUT, GoDuration::as_duration)
    }

    /// The provider, defaulting to `generic`.
    pub fn provider(&self) -> OCIProvider {
        self.provider.unwrap_or_default()
    }

    /// The reference to pull, defaulting to tag `latest` when unset or empty.
    pub fn reference(&self) -> OCIRepositoryRef {
        match &self.reference {
            Some(r) if *r != OCIRepositoryRef::default() => r.clone(),
            _ => OCIRepositoryRef {
                tag: Some(DEFAULT_OCI_TAG.to_owned()),
                ..OCIRepositoryRef::default()
            },
        }
    }

    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validation::check_prefix(
            &mut errors,
            "spec.url",
            &self.url,
            &["oci://"],
            r"^oci://.*$",
        );
        validation::check_interval(&mut errors, "spec.interval", &self.interval);
        if let Some(t) = &self.timeout {
            validation::check_timeout(&mut errors, "spec.timeout", t);
        }
        if let Some(r) = &self.reference {
            if let Some(d) = &r.digest
                && let Err(e) = d.parse::<crate::revision::Digest>()
            {
                errors.push(
                    "spec.ref.digest",
                    validation::Problem::Decode(e.to_string()),
                );
            }
            if let Some(f) = &r.semver_filter {
                validation::check_regex(&mut errors, "spec.ref.semverFilter", f);
            }
        }
        errors.into_result()
    }
}
