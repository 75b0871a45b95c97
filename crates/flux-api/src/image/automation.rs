//! `ImageUpdateAutomation` (`image.toolkit.fluxcd.io/v1`): commits ImagePolicy results
//! into a Git repository through setter markers.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::image::policy::ImageRef;
use crate::meta::{Condition, LocalObjectReference, ReconcileRequestStatus};
use crate::source::GitRepositoryRef;
use crate::validation::{self, ValidationErrors};

/// Desired state of an image update automation.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImageUpdateAutomation",
    plural = "imageupdateautomations",
    singular = "imageupdateautomation",
    namespaced,
    status = "ImageUpdateAutomationStatus",
    derive = "PartialEq",
    doc = "ImageUpdateAutomation is the Schema for the imageupdateautomations API.",
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
    /// The GitRepository to clone and push to (its URL, credentials, proxy and timeout are used).
    pub source_ref: CrossNamespaceSourceReference,
    /// Git checkout, commit and push settings.
    #[serde(default, rename = "git", skip_serializing_if = "Option::is_none")]
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
    #[schemars(default = "default_update")]
    pub update: Option<UpdateStrategy>,
    /// Suspend subsequent runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

pub(crate) fn default_update() -> Option<UpdateStrategy> {
    Some(UpdateStrategy {
        strategy: Some(UpdateStrategyName::Setters),
        path: None,
    })
}

/// Reference to the GitRepository an automation works on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent; only `GitRepository` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_source_kind")]
    pub kind: Option<AutomationSourceKind>,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; defaults to the automation's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn default_source_kind() -> Option<AutomationSourceKind> {
    Some(AutomationSourceKind::GitRepository)
}

/// Source kinds an automation accepts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AutomationSourceKind {
    /// `GitRepository`.
    #[default]
    GitRepository,
}

/// Git settings of an automation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct GitSpec {
    /// Branch/tag/commit to check out; defaults to the GitRepository's ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    /// How commits are made.
    pub commit: CommitSpec,
    /// Where commits are pushed; defaults to the checkout branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// Checkout settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct GitCheckoutSpec {
    /// The reference to check out.
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// Commit settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    /// Commit author.
    pub author: CommitUser,
    /// Key used to sign commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    /// Go text/template (with Sprig) for the commit message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
    /// Values exposed to the template as `.Values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_values: Option<BTreeMap<String, String>>,
}

/// Default commit message when `messageTemplate` is unset.
pub const DEFAULT_COMMIT_MESSAGE: &str = "Update from image update automation";

/// Commit author.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct CommitUser {
    /// Author name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Author email.
    pub email: String,
}

/// Commit signing key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    /// Secret with `git.asc` (+ `passphrase`) for GPG or `identity` (+ `password`) for SSH.
    pub secret_ref: LocalObjectReference,
    /// Key type: `gpg` (default) or `ssh`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<SigningKeyType>,
}

/// Kind of commit signing key.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyType {
    /// OpenPGP key.
    #[default]
    Gpg,
    /// SSH key.
    Ssh,
}

/// Push settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct PushSpec {
    /// Branch to push to (created from the checkout branch if missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Additional refspec to push, e.g. `HEAD:refs/for/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refspec: Option<String>,
    /// Push options (`git push -o`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// Update strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct UpdateStrategy {
    /// Strategy name; only `Setters` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_strategy_name")]
    pub strategy: Option<UpdateStrategyName>,
    /// Directory to update; defaults to the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

fn default_strategy_name() -> Option<UpdateStrategyName> {
    Some(UpdateStrategyName::Setters)
}

/// Update strategy names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum UpdateStrategyName {
    /// kyaml setters driven by `# {"$imagepolicy": "ns:name"}` markers.
    #[default]
    Setters,
}

/// Observed state of an ImageUpdateAutomation.
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

impl ImageUpdateAutomationStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

impl ImageUpdateAutomationSpec {
    /// Effective update strategy, defaulting to `Setters` at the repository root.
    pub fn update(&self) -> UpdateStrategy {
        self.update
            .clone()
            .or_else(default_update)
            .unwrap_or(UpdateStrategy {
                strategy: Some(UpdateStrategyName::Setters),
                path: None,
            })
    }

    /// Checks the spec like Flux's CRD does, naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        validate_automation(&self.source_ref, self.git.as_ref(), &self.interval).into_result()
    }
}

/// Shared by v1 and v1beta2.
pub(crate) fn validate_automation(
    source: &CrossNamespaceSourceReference,
    git: Option<&GitSpec>,
    interval: &GoDuration,
) -> ValidationErrors {
    let mut errors = ValidationErrors::default();
    validation::check_required(&mut errors, "spec.sourceRef.name", &source.name);
    validation::check_interval(&mut errors, "spec.interval", interval);
    if let Some(git) = git {
        validation::check_required(
            &mut errors,
            "spec.git.commit.author.email",
            &git.commit.author.email,
        );
        if let Some(k) = &git.commit.signing_key {
            validation::check_required(
                &mut errors,
                "spec.git.commit.signingKey.secretRef.name",
                &k.secret_ref.name,
            );
        }
    }
    errors
}
