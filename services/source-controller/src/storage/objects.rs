//! Artifact bytes in the JetStream object store, named by their `sha256:<hex>` digest.

use super::StorageError;
use async_nats::jetstream::object_store::ObjectStore;
use ferry_artifact::{Digest, sha256_digest};
use tokio::io::AsyncReadExt;

/// The object store holding every artifact once.
#[derive(Clone)]
pub struct ArtifactObjects {
    store: ObjectStore,
}

impl ArtifactObjects {
    /// Wraps an object store declared by the bus topology.
    pub fn new(store: ObjectStore) -> Self {
        ArtifactObjects { store }
    }

    /// Stores `bytes` under `digest` unless an object with that name is already there; the
    /// content address makes a second write of the same tree a no-op on every replica.
    pub async fn put_if_absent(&self, digest: &Digest, bytes: &[u8]) -> Result<bool, StorageError> {
        let name = digest.to_string();
        if self.exists(&name).await? {
            return Ok(false);
        }
        let mut reader = bytes;
        self.store
            .put(name.as_str(), &mut reader)
            .await
            .map_err(|e| objects_err("put", &name, e))?;
        Ok(true)
    }

    /// Whether an artifact with this digest is stored.
    pub async fn exists(&self, name: &str) -> Result<bool, StorageError> {
        match self.store.info(name).await {
            Ok(info) => Ok(!info.deleted),
            Err(e) if e.kind() == async_nats::jetstream::object_store::InfoErrorKind::NotFound => {
                Ok(false)
            }
            Err(e) => Err(objects_err("info", name, e)),
        }
    }

    /// Reads a whole artifact and checks that its bytes still hash to its name.
    pub async fn get(&self, digest: &Digest) -> Result<Vec<u8>, StorageError> {
        let name = digest.to_string();
        let mut object = self
            .store
            .get(name.as_str())
            .await
            .map_err(|e| objects_err("get", &name, e))?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| objects_err("get", &name, e))?;
        let actual = sha256_digest(&bytes);
        if actual != *digest {
            return Err(StorageError::Corrupt {
                name,
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Deletes an artifact; deleting one that is already gone is not an error.
    pub async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        let name = digest.to_string();
        match self.store.delete(name.as_str()).await {
            Ok(()) => Ok(()),
            Err(e)
                if e.kind() == async_nats::jetstream::object_store::DeleteErrorKind::NotFound =>
            {
                Ok(())
            }
            Err(e) => Err(objects_err("delete", &name, e)),
        }
    }
}

fn objects_err(operation: &'static str, name: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::Objects {
        operation,
        name: name.to_string(),
        message: err.to_string(),
    }
}
