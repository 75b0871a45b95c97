//! The fields of a Kustomization's spec that change what a render produces.

use std::collections::BTreeMap;

use flux_api::kustomize::{
    BuildMetadataOption, CommonMetadata, Image, Patch, PostBuild, SubstituteStrategy,
};
use serde::{Deserialize, Serialize};

/// The render-relevant part of `spec` (unknown fields are ignored, so the whole spec of a
/// Kustomization deserializes into it). Serialized as JSON it is the canonical form the
/// render cache key is computed over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderSpec {
    /// `spec.path` in the artifact; empty means its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `spec.targetNamespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// `spec.namePrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// `spec.nameSuffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// `spec.patches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Vec<Patch>>,
    /// `spec.images`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
    /// `spec.components`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
    /// `spec.ignoreMissingComponents`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_components: Option<bool>,
    /// `spec.commonMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// `spec.postBuild`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// `spec.buildMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_metadata: Option<Vec<BuildMetadataOption>>,
    /// `spec.decryption`: not used here. SOPS-encrypted objects pass through the render (and
    /// the render store) still encrypted; the applier decrypts them right before apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<serde_json::Value>,
}

impl RenderSpec {
    /// Reads the spec from a Kustomization's `spec` as JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(bytes)
    }

    /// `spec.path`, normalized: no leading `./` or `/`, no trailing `/` (`""` is the root).
    pub fn normalized_path(&self) -> String {
        normalize_path(self.path.as_deref().unwrap_or(""))
    }

    /// Whether `postBuild` is set at all (Flux runs substitution only then).
    pub fn has_post_build(&self) -> bool {
        self.post_build.is_some()
    }

    /// `postBuild.substituteStrategy == Always`.
    pub fn substitute_always(&self) -> bool {
        self.post_build
            .as_ref()
            .and_then(|p| p.substitute_strategy)
            .is_some_and(|s| s == SubstituteStrategy::Always)
    }

    /// `postBuild.substitute`.
    pub fn inline_substitutions(&self) -> Option<&BTreeMap<String, String>> {
        self.post_build.as_ref().and_then(|p| p.substitute.as_ref())
    }

    /// The canonical JSON the cache key covers.
    pub fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Normalizes an artifact path as Flux reads `spec.path`: `./apps/` and `apps` are the same.
pub fn normalize_path(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}
