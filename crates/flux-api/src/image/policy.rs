//! `ImagePolicy` (`image.toolkit.fluxcd.io/v1`): picks the latest image from an
//! ImageRepository's tags by semver, alphabetical or numerical order.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::meta::{Condition, NamespacedObjectReference, ReconcileRequestStatus};
use crate::validation::{self, Problem, ValidationErrors};

/// Desired state of an image policy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImagePolicy",
    plural = "imagepolicies",
    singular = "imagepolicy",
    namespaced,
    status = "ImagePolicyStatus",
    derive = "PartialEq",
    doc = "ImagePolicy is the Schema for the imagepolicies API.",
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
    #[schemars(default = "default_reflection_policy")]
    pub digest_reflection_policy: Option<ReflectionPolicy>,
    /// Re-evaluation period; only with (and then required by) `digestReflectionPolicy: Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<GoDuration>,
    /// Suspend subsequent reconciliations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

pub(crate) fn default_reflection_policy() -> Option<ReflectionPolicy> {
    Some(ReflectionPolicy::Never)
}

/// When the digest of the chosen tag is looked up.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ReflectionPolicy {
    /// Look up the digest on every reconciliation (tags may move).
    Always,
    /// Look up the digest once per tag.
    IfNotPresent,
    /// Never record digests.
    #[default]
    Never,
}

/// Exactly one ordering policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ImagePolicyChoice {
    /// Highest tag within a SemVer range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemVerPolicy>,
    /// Alphabetically last (asc) or first (desc) tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<AlphabeticalPolicy>,
    /// Numerically highest (asc) or lowest (desc) tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<NumericalPolicy>,
}

/// SemVer policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SemVerPolicy {
    /// Masterminds SemVer constraint, e.g. `>=1.0.0 <2.0.0` or `5.0.x`.
    pub range: String,
}

/// Alphabetical policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct AlphabeticalPolicy {
    /// `asc` (default) picks the last tag in ascending order; `desc` the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_order")]
    pub order: Option<SortOrder>,
}

/// Numerical policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct NumericalPolicy {
    /// `asc` (default) picks the highest number; `desc` the lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "default_order")]
    pub order: Option<SortOrder>,
}

fn default_order() -> Option<SortOrder> {
    Some(SortOrder::Asc)
}

/// Sort order of alphabetical and numerical policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending (pick the last).
    #[default]
    Asc,
    /// Descending (pick the first).
    Desc,
}

/// Tag filter: only tags matching `pattern` are considered, compared on `extract`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct TagFilter {
    /// Regular expression tags must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Replacement (e.g. `$ts`) built from the pattern's capture groups; the policy compares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// A chosen image: repository name, tag and optional digest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ImageRef {
    /// Image repository name.
    pub name: String,
    /// Image tag.
    pub tag: String,
    /// Image digest, with digest reflection enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `name:tag` (and `name:tag@digest`), as in the deprecated `latestImage` field.
    /// The tag is the part after the last `:` following the last `/`.
    pub fn parse(image: &str) -> Option<Self> {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_owned())),
            None => (image, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let colon = rest[slash..].rfind(':')? + slash;
        let (name, tag) = (&rest[..colon], &rest[colon + 1..]);
        if name.is_empty() || tag.is_empty() {
            return None;
        }
        Some(Self {
            name: name.to_owned(),
            tag: tag.to_owned(),
            digest,
        })
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Observed state of an ImagePolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// The latest image chosen by the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// The previously chosen image (cleared on failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
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

impl ImagePolicyStatus {
    /// The conditions, or an empty slice.
    pub fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }
}

impl ImagePolicySpec {
    /// Effective digest reflection policy, defaulting to `Never`.
    pub fn digest_reflection_policy(&self) -> ReflectionPolicy {
        self.digest_reflection_policy.unwrap_or_default()
    }

    /// Checks the spec like Flux's CRD does (including its CEL rules), naming failing fields.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        validate_policy_spec(
            &self.image_repository_ref,
            &self.policy,
            self.filter_tags.as_ref(),
            self.digest_reflection_policy,
            self.interval.as_ref(),
        )
        .into_result()
    }
}

/// Shared by v1 and v1beta2.
pub(crate) fn validate_policy_spec(
    repo: &NamespacedObjectReference,
    policy: &ImagePolicyChoice,
    filter: Option<&TagFilter>,
    reflection: Option<ReflectionPolicy>,
    interval: Option<&GoDuration>,
) -> ValidationErrors {
    let mut errors = ValidationErrors::default();
    validation::check_required(&mut errors, "spec.imageRepositoryRef.name", &repo.name);
    let chosen = [
        policy.semver.is_some(),
        policy.alphabetical.is_some(),
        policy.numerical.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen != 1 {
        errors.push(
            "spec.policy",
            Problem::Rule("exactly one of semver, alphabetical or numerical must be set"),
        );
    }
    if let Some(s) = &policy.semver {
        validation::check_required(&mut errors, "spec.policy.semver.range", &s.range);
    }
    if let Some(p) = filter.and_then(|f| f.pattern.as_deref()) {
        validation::check_regex(&mut errors, "spec.filterTags.pattern", p);
    }
    let always = reflection == Some(ReflectionPolicy::Always);
    match interval {
        Some(i) if always => validation::check_interval(&mut errors, "spec.interval", i),
        Some(_) => errors.push(
            "spec.interval",
            Problem::Rule(
                "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'",
            ),
        ),
        None if always => errors.push(
            "spec.interval",
            Problem::Rule("spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"),
        ),
        None => {}
    }
    errors
}
