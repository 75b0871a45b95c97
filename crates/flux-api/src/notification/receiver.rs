//! `Receiver` (`notification.toolkit.fluxcd.io/v1`): a webhook endpoint that requests
//! reconciliation of the listed Flux objects.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::meta::{Condition, LocalObjectReference, ReconcileRequestStatus};
use crate::validation::{self, Problem, ValidationErrors};

/// Desired state of a webhook receiver.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1",
    kind = "Receiver",
    plural = "receivers",
    singular = "receiver",
    namespaced,
    status = "ReceiverStatus",
    derive = "PartialEq",
    doc = "Receiver is the Schema for the receivers API.",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
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
#[schemars(extend("x-kubernetes-validations" = [
    {
        "message": "generic-oidc receivers must define at least one oidcProvider",
        "rule": "self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)"
    },
    {
        "message": "oidcProviders can only be set when type is generic-oidc",
        "rule": "self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0"
    },
    {
        "message": "secretRef cannot be set when type is generic-oidc",
        "rule": "self.type != 'generic-oidc' || !has(self.secretRef)"
    },
    {
        "message": "secretRef is required when type is not generic-oidc",
        "rule": "self.type == 'generic-oidc' || has(self.secretRef)"
    }
]))]
pub struct ReceiverSpec {
    /// Webhook sender type; decides how the request is authenticated and parsed.
    #[serde(rename = "type")]
    pub type_: ReceiverType,
    /// How often the token Secret is re-checked; defaults to 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        default = "default_interval",
        pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
    )]
    pub interval: Option<GoDuration>,
    /// Event types to accept (e.g. GitHub `push`); all when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Objects to reconcile when a valid request arrives.
    pub resources: Vec<CrossNamespaceObjectReference>,
    /// CEL expression over `res`, `req` and `claims` that further filters `resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,
    /// Secret with the `token` (and for gcr `email`/`audience`); required unless `generic-oidc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// OIDC providers for `generic-oidc` receivers.
    #[serde(
        default,
        rename = "oidcProviders",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["issuerURL"]))]
    pub oidc_providers: Option<Vec<OIDCProvider>>,
    /// Suspend processing of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

fn default_interval() -> Option<GoDuration> {
    Some(GoDuration::known("10m", Duration::from_secs(600)))
}

/// Default secret re-check interval (10m).
pub const DEFAULT_RECEIVER_INTERVAL: Duration = Duration::from_secs(600);
/// Prefix of `status.webhookPath`.
pub const WEBHOOK_PATH_PREFIX: &str = "/hook/";

/// Webhook sender types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiverType {
    /// Any sender; the path is the secret.
    Generic,
    /// HMAC-signed body in `X-Signature`.
    GenericHmac,
    /// OIDC bearer token validated against `oidcProviders`.
    GenericOidc,
    /// GitHub (and Gitea) HMAC `X-Hub-Signature`.
    Github,
    /// GitLab `X-Gitlab-Token`.
    Gitlab,
    /// Bitbucket Server HMAC.
    Bitbucket,
    /// Harbor `Authorization` header.
    Harbor,
    /// Docker Hub (body parse only).
    Dockerhub,
    /// Quay (body parse only).
    Quay,
    /// Google Container Registry via Pub/Sub OIDC.
    Gcr,
    /// Sonatype Nexus HMAC `X-Nexus-Webhook-Signature`.
    Nexus,
    /// Azure Container Registry (body parse only).
    Acr,
    /// CDEvents.
    Cdevents,
}

/// Kinds a Receiver can reconcile.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ReceiverResourceKind {
    /// `Bucket`.
    Bucket,
    /// `GitRepository`.
    GitRepository,
    /// `Kustomization`.
    Kustomization,
    /// `HelmRelease`.
    HelmRelease,
    /// `HelmChart`.
    HelmChart,
    /// `HelmRepository`.
    HelmRepository,
    /// `ImageRepository`.
    ImageRepository,
    /// `ImagePolicy`.
    ImagePolicy,
    /// `ImageUpdateAutomation`.
    ImageUpdateAutomation,
    /// `OCIRepository`.
    OCIRepository,
    /// `ArtifactGenerator`.
    ArtifactGenerator,
    /// `ExternalArtifact`.
    ExternalArtifact,
}

/// An object (or, with `name: "*"` and `matchLabels`, a set of objects) to reconcile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: ReceiverResourceKind,
    /// Name of the referent, or `*` together with `matchLabels`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent; defaults to the Receiver's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub namespace: Option<String>,
    /// Labels the referents must have (used with `name: "*"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// CEL expression over `res` and `req` deciding whether this resource is reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// OIDC provider trusted by a `generic-oidc` Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct OIDCProvider {
    /// Issuer URL.
    #[serde(rename = "issuerURL")]
    #[schemars(pattern(r"^https?://"))]
    pub issuer_url: String,
    /// Expected audience; defaults to `notification-controller`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// CEL variables computed from the token claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<OIDCVariable>>,
    /// CEL validations the claims must pass (at least one).
    #[schemars(length(min = 1))]
    pub validations: Vec<OIDCValidation>,
}

/// A named CEL expression over the token claims.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct OIDCVariable {
    /// Variable name.
    pub name: String,
    /// CEL expression.
    pub expression: String,
}

/// A CEL validation with its failure message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct OIDCValidation {
    /// CEL expression that must evaluate to true.
    pub expression: String,
    /// Message reported when it does not.
    pub message: String,
}

/// Observed state of a Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
    /// Conditions holding the status of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Generated webhook path, `/hook/<sha256(token+name+namespace)>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// Last observed generation of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl ReceiverStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

impl ReceiverSpec {
    /// Effective secret re-check interval, defaulting to 10m.
    pub fn interval(&self) -> Duration {
        self.interval
            .as_ref()
            .map_or(DEFAULT_RECEIVER_INTERVAL, GoDuration::as_duration)
    }

    /// Checks the spec like Flux's CRD does (including its CEL rules), naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(i) = &self.interval {
            validation::check_interval(&mut errors, "spec.interval", i);
        }
        let oidc = self.type_ == ReceiverType::GenericOidc;
        let providers = self.oidc_providers.as_deref().unwrap_or_default();
        if oidc && providers.is_empty() {
            errors.push(
                "spec.oidcProviders",
                Problem::Rule("generic-oidc receivers must define at least one oidcProvider"),
            );
        }
        if !oidc && !providers.is_empty() {
            errors.push(
                "spec.oidcProviders",
                Problem::Rule("oidcProviders can only be set when type is generic-oidc"),
            );
        }
        if oidc && self.secret_ref.is_some() {
            errors.push(
                "spec.secretRef",
                Problem::Rule("secretRef cannot be set when type is generic-oidc"),
            );
        }
        if !oidc && self.secret_ref.is_none() {
            errors.push(
                "spec.secretRef",
                Problem::Rule("secretRef is required when type is not generic-oidc"),
            );
        }
        for (i, r) in self.resources.iter().enumerate() {
            validation::check_length(
                &mut errors,
                &format!("spec.resources[{i}].name"),
                &r.name,
                1,
                253,
            );
            if let Some(ns) = &r.namespace {
                validation::check_length(
                    &mut errors,
                    &format!("spec.resources[{i}].namespace"),
                    ns,
                    1,
                    253,
                );
            }
            if r.name == "*" && r.match_labels.as_ref().is_none_or(BTreeMap::is_empty) {
                errors.push(
                    format!("spec.resources[{i}].matchLabels"),
                    Problem::Rule("name '*' requires matchLabels"),
                );
            }
        }
        for (i, p) in providers.iter().enumerate() {
            validation::check_prefix(
                &mut errors,
                &format!("spec.oidcProviders[{i}].issuerURL"),
                &p.issuer_url,
                &["http://", "https://"],
                "^https?://",
            );
            if p.validations.is_empty() {
                errors.push(
                    format!("spec.oidcProviders[{i}].validations"),
                    Problem::Length {
                        len: 0,
                        min: 1,
                        max: usize::MAX,
                    },
                );
            }
        }
        errors.into_result()
    }
}
