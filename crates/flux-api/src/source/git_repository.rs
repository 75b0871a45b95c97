//! `GitRepository` (`source.toolkit.fluxcd.io/v1`): a Git repository fetched into an artifact.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::meta::{Artifact, Condition, LocalObjectReference, ReconcileRequestStatus};
use crate::validation::{self, Problem, ValidationErrors};

/// Desired state of a Git repository source.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "GitRepository",
    plural = "gitrepositories",
    singular = "gitrepository",
    namespaced,
    status = "GitRepositoryStatus",
    derive = "PartialEq",
    doc = "GitRepository is the Schema for the gitrepositories API.",
    shortname = "gitrepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
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
#[schemars(extend("x-kubernetes-validations" = [{
    "message": "serviceAccountName can only be set when provider is 'azure' or 'aws'",
    "rule": "!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))"
}]))]
pub struct GitRepositorySpec {
    /// Repository URL, can be an HTTP/S or SSH address (Ferry also accepts `git://` and
    /// `file://`, which Flux's pattern leaves out).
    #[schemars(pattern(r"^(http|https|ssh|git|file)://.*$"))]
    pub url: String,
    /// Secret with authentication credentials (`username`/`password`, `bearerToken`,
    /// `identity`/`known_hosts`, `ca.crt`, GitHub App keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// OIDC provider used for authentication; defaults to `generic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<GitProvider>,
    /// ServiceAccount used for object-level workload identity (provider `azure` or `aws` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// How often to check the repository for updates.
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: GoDuration,
    /// Timeout for Git operations like cloning; defaults to 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        default = "default_timeout",
        pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")
    )]
    pub timeout: Option<GoDuration>,
    /// Git reference to check out; defaults to the `master` branch.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    /// Signature verification of the commit and/or tag.
    #[serde(default, rename = "verify", skip_serializing_if = "Option::is_none")]
    pub verification: Option<GitRepositoryVerification>,
    /// Secret with the proxy configuration (`address`, `username`, `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// Ignore patterns in `.gitignore` syntax; replaces the default exclusions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Suspend subsequent reconciliations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Clone Git submodules recursively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurse_submodules: Option<bool>,
    /// Other GitRepository artifacts to copy into this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<GitRepositoryInclude>>,
    /// Directories to check out; only these end up in the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_checkout: Option<Vec<String>>,
}

fn default_timeout() -> Option<GoDuration> {
    Some(GoDuration::known("60s", Duration::from_secs(60)))
}

/// Default Git operation timeout (60s).
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Branch checked out when `spec.ref` is empty.
pub const DEFAULT_BRANCH: &str = "master";

/// Provider used for Git authentication.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    /// Credentials from `secretRef` (or none).
    #[default]
    Generic,
    /// AWS CodeCommit with IAM.
    Aws,
    /// Azure DevOps with Entra workload identity.
    Azure,
    /// GitHub App authentication.
    Github,
}

/// Git reference to check out; the first set field of commit > name > semver > tag > branch wins.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
pub struct GitRepositoryRef {
    /// Branch to check out, defaults to `master` if no other field is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag to check out; takes precedence over branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// SemVer range of tags to pick from; takes precedence over tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Full reference (`refs/heads/main`, `refs/pull/420/head`); takes precedence over semver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Commit SHA to check out; takes precedence over everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Commit/tag signature verification settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// What to verify: `HEAD` (default), `Tag` or `TagAndHEAD` (`head` is accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_verification_mode")]
    pub mode: Option<GitVerificationMode>,
    /// Secret with trusted public keys (`*.asc` PGP, `*.sshpub` SSH).
    pub secret_ref: LocalObjectReference,
}

fn default_verification_mode() -> Option<GitVerificationMode> {
    Some(GitVerificationMode::Head)
}

impl GitRepositoryVerification {
    /// The verification mode, defaulting to `HEAD`; `head` is normalised to `HEAD`.
    pub fn mode(&self) -> GitVerificationMode {
        match self.mode {
            None | Some(GitVerificationMode::LegacyHead) => GitVerificationMode::Head,
            Some(m) => m,
        }
    }
}

/// Which Git objects must carry a valid signature.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum GitVerificationMode {
    /// Legacy spelling of `HEAD`.
    #[serde(rename = "head")]
    LegacyHead,
    /// The commit HEAD points to.
    #[serde(rename = "HEAD")]
    Head,
    /// The tag the reference points to.
    Tag,
    /// Both the tag and the commit it points to.
    TagAndHEAD,
}

/// Another GitRepository whose artifact is copied into this one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryInclude {
    /// The GitRepository to include.
    #[serde(rename = "repository")]
    pub repository: LocalObjectReference,
    /// Path in the included artifact to copy from; defaults to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    /// Path in this artifact to copy to; defaults to the included repository's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}

/// Observed state of a GitRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<crate::meta::Condition>>,
    /// Last successfully stored artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// Artifacts of the included repositories, in `spec.include` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_artifacts: Option<Vec<Artifact>>,
    /// `spec.ignore` used to build the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    /// `spec.recurseSubmodules` used to build the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_recurse_submodules: Option<bool>,
    /// `spec.include` used to build the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_include: Option<Vec<GitRepositoryInclude>>,
    /// `spec.sparseCheckout` used to build the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_sparse_checkout: Option<Vec<String>>,
    /// Verification mode used for the last successful verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_verification_mode: Option<GitVerificationMode>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

impl GitRepositoryStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

impl GitRepositorySpec {
    /// The clone timeout, defaulting to 60s.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_ref()
            .map_or(DEFAULT_GIT_TIMEOUT, GoDuration::as_duration)
    }

    /// The provider, defaulting to `generic`.
    pub fn provider(&self) -> GitProvider {
        self.provider.unwrap_or_default()
    }

    /// The reference to check out, defaulting to branch `master` when unset or empty.
    pub fn reference(&self) -> GitRepositoryRef {
        match &self.reference {
            Some(r) if *r != GitRepositoryRef::default() => r.clone(),
            _ => GitRepositoryRef {
                branch: Some(DEFAULT_BRANCH.to_owned()),
                ..GitRepositoryRef::default()
            },
        }
    }

    /// Checks the spec like Flux's CRD does (patterns, CEL rules), naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        validation::check_prefix(
            &mut errors,
            "spec.url",
            &self.url,
            &["http://", "https://", "ssh://", "git://", "file://"],
            r"^(http|https|ssh|git|file)://.*$",
        );
        validation::check_interval(&mut errors, "spec.interval", &self.interval);
        if let Some(t) = &self.timeout {
            validation::check_timeout(&mut errors, "spec.timeout", t);
        }
        if self.service_account_name.is_some()
            && !matches!(self.provider, Some(GitProvider::Azure | GitProvider::Aws))
        {
            errors.push(
                "spec.serviceAccountName",
                Problem::Rule(
                    "serviceAccountName can only be set when provider is 'azure' or 'aws'",
                ),
            );
        }
        if let Some(v) = &self.verification {
            validation::check_required(
                &mut errors,
                "spec.verify.secretRef.name",
                &v.secret_ref.name,
            );
        }
        for (i, inc) in self.include.iter().flatten().enumerate() {
            validation::check_required(
                &mut errors,
                &format!("spec.include[{i}].repository.name"),
                &inc.repository.name,
            );
        }
        errors.into_result()
    }
}
