//! Stored renders: the `ferry-renders` object store (or memory, for tests and tools).

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::object_store::{
    GetErrorKind, InfoErrorKind, ObjectMetadata, ObjectStore,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

/// Metadata key: number of objects in the render.
pub const META_OBJECT_COUNT: &str = "ferry-object-count";
/// Metadata key: the source revision rendered.
pub const META_SOURCE_REVISION: &str = "ferry-source-revision";
/// Metadata key: the artifact digest rendered.
pub const META_ARTIFACT_DIGEST: &str = "ferry-artifact-digest";
/// Metadata key: sha256 of the rendered bytes.
pub const META_RENDER_DIGEST: &str = "ferry-render-digest";
/// Name prefix of reuse records (the renders themselves are named `sha256:<hex>`).
pub const REUSE_PREFIX: &str = "reuse/";

/// A render and what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRender {
    /// Multi-document YAML.
    pub manifests: Vec<u8>,
    /// Number of objects.
    pub object_count: i64,
    /// The source revision it was rendered from.
    pub source_revision: String,
    /// The artifact digest it was rendered from.
    pub artifact_digest: String,
    /// `sha256:<hex>` of `manifests`.
    pub render_digest: String,
}

/// The last render of a Kustomization's inputs, for path-aware reuse on a later artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReuseRecord {
    /// The source revision the render is valid for.
    pub source_revision: String,
    /// The artifact digest of that revision.
    pub artifact_digest: String,
    /// The render's key.
    pub render_key: String,
}

/// A render-store operation failed.
#[derive(Debug, thiserror::Error)]
#[error("render store: {operation} '{name}': {message}")]
pub struct StoreError {
    /// `get`, `put` or `info`.
    pub operation: &'static str,
    /// The object.
    pub name: String,
    /// The underlying error.
    pub message: String,
}

fn store_err(operation: &'static str, name: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        operation,
        name: name.to_string(),
        message: e.to_string(),
    }
}

/// Where renders are kept.
#[derive(Clone)]
pub enum RenderStore {
    /// The `ferry-renders` JetStream object store.
    Nats(Box<ObjectStore>),
    /// In process memory (tests, one-shot tools).
    Memory(Arc<MemoryRenders>),
}

/// The maps behind [`RenderStore::Memory`].
#[derive(Debug, Default)]
pub struct MemoryRenders {
    renders: Mutex<HashMap<String, StoredRender>>,
    records: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for RenderStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderStore::Nats(_) => f.write_str("RenderStore::Nats"),
            RenderStore::Memory(_) => f.write_str("RenderStore::Memory"),
        }
    }
}

impl RenderStore {
    /// An empty in-memory store.
    pub fn memory() -> Self {
        RenderStore::Memory(Arc::default())
    }

    /// The render stored under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<StoredRender>, StoreError> {
        match self {
            RenderStore::Memory(m) => Ok(m.renders.lock().get(key).cloned()),
            RenderStore::Nats(store) => {
                let info = match store.info(key).await {
                    Ok(info) if !info.deleted => info,
                    Ok(_) => return Ok(None),
                    Err(e) if e.kind() == InfoErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(store_err("info", key, e)),
                };
                let Some(manifests) = read_object(store, key).await? else {
                    return Ok(None);
                };
                let meta = |k: &str| info.metadata.get(k).cloned().unwrap_or_default();
                Ok(Some(StoredRender {
                    object_count: meta(META_OBJECT_COUNT).parse().unwrap_or(0),
                    source_revision: meta(META_SOURCE_REVISION),
                    artifact_digest: meta(META_ARTIFACT_DIGEST),
                    render_digest: meta(META_RENDER_DIGEST),
                    manifests,
                }))
            }
        }
    }

    /// What is known about the render under `key`, without reading its content
    /// (`manifests` is left empty).
    pub async fn info(&self, key: &str) -> Result<Option<StoredRender>, StoreError> {
        match self {
            RenderStore::Memory(m) => Ok(m.renders.lock().get(key).map(|r| StoredRender {
                manifests: Vec::new(),
                ..r.clone()
            })),
            RenderStore::Nats(store) => match store.info(key).await {
                Ok(info) if !info.deleted => {
                    let meta = |k: &str| info.metadata.get(k).cloned().unwrap_or_default();
                    Ok(Some(StoredRender {
                        object_count: meta(META_OBJECT_COUNT).parse().unwrap_or(0),
                        source_revision: meta(META_SOURCE_REVISION),
                        artifact_digest: meta(META_ARTIFACT_DIGEST),
                        render_digest: meta(META_RENDER_DIGEST),
                        manifests: Vec::new(),
                    }))
                }
                Ok(_) => Ok(None),
                Err(e) if e.kind() == InfoErrorKind::NotFound => Ok(None),
                Err(e) => Err(store_err("info", key, e)),
            },
        }
    }

    /// Stores a render under `key` (replacing any earlier one).
    pub async fn put(&self, key: &str, render: &StoredRender) -> Result<(), StoreError> {
        match self {
            RenderStore::Memory(m) => {
                m.renders.lock().insert(key.to_string(), render.clone());
                Ok(())
            }
            RenderStore::Nats(store) => {
                let meta = ObjectMetadata {
                    name: key.to_string(),
                    description: Some("rendered multi-document YAML".into()),
                    metadata: HashMap::from([
                        (META_OBJECT_COUNT.into(), render.object_count.to_string()),
                        (META_SOURCE_REVISION.into(), render.source_revision.clone()),
                        (META_ARTIFACT_DIGEST.into(), render.artifact_digest.clone()),
                        (META_RENDER_DIGEST.into(), render.render_digest.clone()),
                    ]),
                    ..Default::default()
                };
                let mut reader = render.manifests.as_slice();
                store
                    .put(meta, &mut reader)
                    .await
                    .map(|_| ())
                    .map_err(|e| store_err("put", key, e))
            }
        }
    }

    /// The reuse record under `key`, if any (an unreadable record counts as none).
    pub async fn reuse_record(&self, key: &str) -> Result<Option<ReuseRecord>, StoreError> {
        let name = format!("{REUSE_PREFIX}{key}");
        let bytes = match self {
            RenderStore::Memory(m) => m.records.lock().get(&name).cloned(),
            RenderStore::Nats(store) => read_object(store, &name).await?,
        };
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Writes the reuse record under `key`.
    pub async fn put_reuse_record(
        &self,
        key: &str,
        record: &ReuseRecord,
    ) -> Result<(), StoreError> {
        let name = format!("{REUSE_PREFIX}{key}");
        let bytes = serde_json::to_vec(record).map_err(|e| store_err("put", &name, e))?;
        match self {
            RenderStore::Memory(m) => {
                m.records.lock().insert(name, bytes);
                Ok(())
            }
            RenderStore::Nats(store) => {
                let mut reader = bytes.as_slice();
                store
                    .put(name.as_str(), &mut reader)
                    .await
                    .map(|_| ())
                    .map_err(|e| store_err("put", &name, e))
            }
        }
    }
}

async fn read_object(store: &ObjectStore, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let mut object = match store.get(name).await {
        Ok(object) => object,
        Err(e) if e.kind() == GetErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(store_err("get", name, e)),
    };
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| store_err("get", name, e))?;
    Ok(Some(bytes))
}
