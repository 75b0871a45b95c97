//! `ferry.source.v1.ArtifactService`: artifacts streamed over gRPC from the object store.

use crate::storage::{ArtifactIndex, ArtifactObjects, source_key};
use ferry_proto::source::v1::artifact_service_server::ArtifactService;
use ferry_proto::source::v1::{
    ArtifactChunk, ArtifactInfo, GetArtifactRequest, ListArtifactsRequest, ListArtifactsResponse,
};
use futures::Stream;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use tonic::{Request, Response, Status};

/// Chunk size of a streamed artifact: small enough for the default 4 MiB message limit.
const CHUNK: usize = 256 * 1024;

/// The gRPC service. It is registered before NATS answers, so storage arrives later through
/// [`Artifacts::attach`]; until then every call is `UNAVAILABLE`.
#[derive(Clone, Default)]
pub struct Artifacts {
    storage: Arc<OnceLock<(ArtifactIndex, ArtifactObjects)>>,
}

impl Artifacts {
    /// Connects the service to storage once JetStream is reachable.
    pub fn attach(&self, index: ArtifactIndex, objects: ArtifactObjects) {
        let _ = self.storage.set((index, objects));
    }

    fn storage(&self) -> Result<&(ArtifactIndex, ArtifactObjects), Status> {
        self.storage
            .get()
            .ok_or_else(|| Status::unavailable("artifact storage is not connected yet"))
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<ArtifactChunk, Status>> + Send>>;

#[tonic::async_trait]
impl ArtifactService for Artifacts {
    type GetArtifactStream = ChunkStream;

    async fn get_artifact(
        &self,
        request: Request<GetArtifactRequest>,
    ) -> Result<Response<Self::GetArtifactStream>, Status> {
        let text = request.into_inner().digest;
        let digest = text
            .parse()
            .map_err(|e| Status::invalid_argument(format!("digest: {e}")))?;
        let (_, objects) = self.storage()?;
        if !objects.exists(&text).await.map_err(unavailable)? {
            return Err(Status::not_found(format!("artifact {text} is not stored")));
        }
        let bytes = objects.get(&digest).await.map_err(unavailable)?;
        let chunks: Vec<Result<ArtifactChunk, Status>> = bytes
            .chunks(CHUNK)
            .map(|c| Ok(ArtifactChunk { data: c.to_vec() }))
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn list_artifacts(
        &self,
        request: Request<ListArtifactsRequest>,
    ) -> Result<Response<ListArtifactsResponse>, Status> {
        let req = request.into_inner();
        if req.namespace.is_empty() || req.name.is_empty() {
            return Err(Status::invalid_argument("namespace and name are required"));
        }
        let key = source_key("GitRepository", &req.namespace, &req.name);
        let (index, _) = self.storage()?;
        let records = index.records(&key).await.map_err(unavailable)?;
        let artifacts = records
            .into_iter()
            .map(|r| ArtifactInfo {
                source_kind: "GitRepository".into(),
                namespace: req.namespace.clone(),
                name: req.name.clone(),
                revision: r.revision,
                digest: r.digest,
                size: i64::try_from(r.size).unwrap_or(i64::MAX),
                url: r.path,
                created_at_unix_ms: r
                    .created_at
                    .parse::<k8s_openapi::jiff::Timestamp>()
                    .map(|t| t.as_millisecond())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(ListArtifactsResponse { artifacts }))
    }
}

fn unavailable(e: crate::storage::StorageError) -> Status {
    Status::unavailable(e.to_string())
}
