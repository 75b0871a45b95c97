//! `ferry.render.v1.RenderService`: on-demand builds over gRPC, through the same cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_proto::render::v1::render_service_server::RenderService;
use ferry_proto::render::v1::{RenderRequest as RenderRpc, RenderResponse};
use tonic::{Request, Response, Status};

use flux_api::conditions::reasons;

use crate::cache::ArtifactError;
use crate::flux::spec::RenderSpec;
use crate::render::{CacheOutcome, RenderError, RenderRequest, Renderer};

/// The gRPC service.
#[derive(Clone)]
pub struct RenderGrpc {
    renderer: Arc<Renderer>,
    index: Option<async_nats::jetstream::kv::Store>,
}

impl std::fmt::Debug for RenderGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderGrpc")
            .field("renderer", &self.renderer)
            .field("index", &self.index.is_some())
            .finish()
    }
}

/// One entry of a source's list in the `ferry-artifact-index` bucket (see `docs/events.md`).
#[derive(Debug, Clone, serde::Deserialize)]
struct IndexedArtifact {
    digest: String,
    revision: String,
}

impl RenderGrpc {
    /// Serves renders from `renderer`; requests must name the artifact.
    pub fn new(renderer: Arc<Renderer>) -> Self {
        Self {
            renderer,
            index: None,
        }
    }

    /// Lets requests without `artifact_digest` render the source's newest artifact, read
    /// from the `ferry-artifact-index` bucket (key `<kind>.<namespace>.<name>`).
    pub fn with_artifact_index(mut self, index: async_nats::jetstream::kv::Store) -> Self {
        self.index = Some(index);
        self
    }

    /// The newest artifact (digest, revision) of the source `spec.sourceRef` names.
    async fn current_artifact(&self, rpc: &RenderRpc) -> Result<(String, String), Status> {
        let Some(index) = &self.index else {
            return Err(Status::invalid_argument(
                "artifact_digest is required (sha256:<hex> of a stored artifact)",
            ));
        };
        let spec: serde_json::Value = serde_json::from_slice(&rpc.kustomization_spec_json)
            .map_err(|e| Status::invalid_argument(format!("kustomization_spec_json: {e}")))?;
        let field = |name: &str| {
            spec.pointer(&format!("/sourceRef/{name}"))
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(kind), Some(name)) = (field("kind"), field("name")) else {
            return Err(Status::invalid_argument(
                "without artifact_digest, the spec must have sourceRef.kind and sourceRef.name",
            ));
        };
        let namespace = field("namespace").unwrap_or(&rpc.namespace);
        let key = format!("{}.{namespace}.{name}", kind.to_ascii_lowercase());
        let entry = index
            .get(&key)
            .await
            .map_err(|e| Status::unavailable(format!("reading the artifact index: {e}")))?;
        let records: Vec<IndexedArtifact> = match entry {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Status::internal(format!("artifact index entry '{key}': {e}")))?,
            None => Vec::new(),
        };
        records
            .into_iter()
            .next()
            .map(|r| (r.digest, r.revision))
            .ok_or_else(|| {
                Status::not_found(format!(
                    "{}: {kind} {namespace}/{name} has no artifact",
                    reasons::ARTIFACT_FAILED
                ))
            })
    }
}

/// Maps a render failure to a gRPC status whose message starts with the Flux reason.
pub fn status_of(error: &RenderError) -> Status {
    let message = format!("{}: {error}", error.reason());
    match error {
        _ if error.is_transient() => Status::unavailable(message),
        RenderError::Artifact(ArtifactError::NotFound(_)) => Status::not_found(message),
        RenderError::Artifact(ArtifactError::InvalidDigest(_)) | RenderError::InvalidSpec(_) => {
            Status::invalid_argument(message)
        }
        _ => Status::failed_precondition(message),
    }
}

#[tonic::async_trait]
impl RenderService for RenderGrpc {
    async fn render(
        &self,
        request: Request<RenderRpc>,
    ) -> Result<Response<RenderResponse>, Status> {
        let rpc = request.into_inner();
        let (artifact_digest, source_revision) = if rpc.artifact_digest.is_empty() {
            self.current_artifact(&rpc).await?
        } else {
            (rpc.artifact_digest.clone(), String::new())
        };
        let mut spec = RenderSpec::from_json(&rpc.kustomization_spec_json)
            .map_err(|e| Status::invalid_argument(format!("kustomization_spec_json: {e}")))?;
        if !rpc.path.is_empty() {
            spec.path = Some(rpc.path.clone());
        }
        let req = RenderRequest {
            kustomization: format!("{}/{}", rpc.namespace, rpc.name),
            artifact_digest,
            source_revision,
            substitutions: spec
                .inline_substitutions()
                .cloned()
                .unwrap_or_else(BTreeMap::new),
            spec,
            change: None,
        };
        let rendered = self
            .renderer
            .render(&req)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(RenderResponse {
            manifests: rendered.manifests,
            render_digest: rendered.render_digest,
            object_count: rendered.object_count,
            cache_hit: rendered.cache != CacheOutcome::Miss,
        }))
    }
}
