//! Render cache keys: sha256 over every input of a render.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::flux::spec::RenderSpec;

/// Bumped whenever the renderer's output for the same inputs changes, so old renders are
/// never served for a new renderer.
pub const RENDER_FORMAT: &str = "ferry-render-v1";

/// Everything a render depends on besides the artifact's files.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderInputs<'a> {
    /// The render-relevant spec fields (path included).
    pub spec: &'a RenderSpec,
    /// The resolved post-build variables.
    pub substitutions: &'a BTreeMap<String, String>,
    /// Strict substitution (the feature gate) in force.
    pub strict: bool,
}

struct Hasher(Sha256);

impl Hasher {
    fn new(domain: &str) -> Self {
        let mut h = Self(Sha256::new());
        h.field(RENDER_FORMAT.as_bytes());
        h.field(domain.as_bytes());
        h
    }

    /// Length-prefixed, so no two different field lists hash alike.
    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn inputs(&mut self, inputs: &RenderInputs<'_>) {
        self.field(inputs.spec.normalized_path().as_bytes());
        self.field(&inputs.spec.canonical_json());
        self.field(&(inputs.substitutions.len() as u64).to_be_bytes());
        for (k, v) in inputs.substitutions {
            self.field(k.as_bytes());
            self.field(v.as_bytes());
        }
        self.field(&[u8::from(inputs.strict)]);
    }

    fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

/// The object-store key of a render: `sha256:<hex>` over the artifact digest, the path, the
/// spec's render fields (canonical JSON) and the substituted values.
pub fn render_key(artifact_digest: &str, inputs: &RenderInputs<'_>) -> String {
    let mut h = Hasher::new("render");
    h.field(artifact_digest.as_bytes());
    h.inputs(inputs);
    h.finish()
}

/// The key of a Kustomization's reuse record: the same inputs without the artifact, plus
/// the Kustomization's identity, so the last render of the same inputs on an earlier
/// artifact can be found.
pub fn reuse_key(kustomization: &str, inputs: &RenderInputs<'_>) -> String {
    let mut h = Hasher::new("reuse");
    h.field(kustomization.as_bytes());
    h.inputs(inputs);
    h.finish()
}

/// `sha256:<hex>` of some bytes (the rendered YAML's digest).
pub fn content_digest(bytes: &[u8]) -> String {
    ferry_artifact::sha256_digest(bytes).to_string()
}
