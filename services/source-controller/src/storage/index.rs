//! The per-source list of recent artifacts (newest first) in NATS KV, updated with
//! compare-and-swap so replicas never lose each other's writes.

use super::StorageError;
use async_nats::jetstream::kv::Store;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One stored artifact of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRecord {
    /// Flux storage path, e.g. `gitrepository/ns/name/<sha>.tar.gz`.
    pub path: String,
    /// `sha256:<hex>` of the tarball (its object name).
    pub digest: String,
    /// Flux revision string.
    pub revision: String,
    /// Size in bytes.
    pub size: u64,
    /// RFC 3339 time the artifact was recorded.
    pub created_at: String,
}

/// The KV bucket of source indexes.
#[derive(Clone)]
pub struct ArtifactIndex {
    kv: Store,
    keep: usize,
}

const MAX_CAS_RETRIES: usize = 8;

impl ArtifactIndex {
    /// An index keeping the last `keep` artifacts per source (at least one).
    pub fn new(kv: Store, keep: usize) -> Self {
        ArtifactIndex {
            kv,
            keep: keep.max(1),
        }
    }

    /// The records of a source, newest first.
    pub async fn records(&self, key: &str) -> Result<Vec<ArtifactRecord>, StorageError> {
        Ok(self.read(key).await?.0)
    }

    /// Puts `record` first (replacing a record with the same path) and trims to the last N.
    /// Returns the digests that fell off the end, for garbage collection.
    pub async fn record(
        &self,
        key: &str,
        record: ArtifactRecord,
    ) -> Result<Vec<String>, StorageError> {
        for _ in 0..MAX_CAS_RETRIES {
            let (mut records, revision) = self.read(key).await?;
            records.retain(|r| r.path != record.path);
            records.insert(0, record.clone());
            let evicted: Vec<String> = records
                .split_off(self.keep.min(records.len()))
                .into_iter()
                .map(|r| r.digest)
                .collect();
            if self.write(key, &records, revision).await? {
                return Ok(evicted);
            }
        }
        Err(index_err("update", key, "too many concurrent writers"))
    }

    /// Every digest still referenced by any source, so GC never deletes a shared artifact.
    pub async fn referenced_digests(&self) -> Result<BTreeSet<String>, StorageError> {
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(|e| index_err("list", "*", e))?
            .try_collect()
            .await
            .map_err(|e| index_err("list", "*", e))?;
        let mut digests = BTreeSet::new();
        for key in keys {
            for record in self.records(&key).await? {
                digests.insert(record.digest);
            }
        }
        Ok(digests)
    }

    /// Finds the record serving a Flux storage path, for the HTTP artifact server.
    pub async fn find_path(&self, path: &str) -> Result<Option<ArtifactRecord>, StorageError> {
        let mut parts = path.splitn(4, '/');
        let (Some(kind), Some(ns), Some(name), Some(_file)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let key = super::source_key(kind, ns, name);
        Ok(self
            .records(&key)
            .await?
            .into_iter()
            .find(|r| r.path == path))
    }

    /// Removes a source's index (the source was deleted); returns its digests for GC.
    pub async fn remove(&self, key: &str) -> Result<Vec<String>, StorageError> {
        let records = self.records(key).await?;
        self.kv
            .delete(key)
            .await
            .map_err(|e| index_err("delete", key, e))?;
        Ok(records.into_iter().map(|r| r.digest).collect())
    }

    async fn read(&self, key: &str) -> Result<(Vec<ArtifactRecord>, u64), StorageError> {
        let entry = self
            .kv
            .entry(key)
            .await
            .map_err(|e| index_err("read", key, e))?;
        match entry {
            Some(entry) if entry.operation == async_nats::jetstream::kv::Operation::Put => {
                let records =
                    serde_json::from_slice(&entry.value).map_err(|e| index_err("read", key, e))?;
                Ok((records, entry.revision))
            }
            Some(entry) => Ok((Vec::new(), entry.revision)),
            None => Ok((Vec::new(), 0)),
        }
    }

    /// Writes at `revision` (0 = create); `false` when another writer got there first.
    async fn write(
        &self,
        key: &str,
        records: &[ArtifactRecord],
        revision: u64,
    ) -> Result<bool, StorageError> {
        let body = serde_json::to_vec(records).map_err(|e| index_err("update", key, e))?;
        let result = if revision == 0 {
            self.kv
                .create(key, body.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            self.kv
                .update(key, body.into(), revision)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => Ok(true),
            Err(message) if is_cas_conflict(&message) => Ok(false),
            Err(message) => Err(index_err("update", key, message)),
        }
    }
}

/// JetStream answers a failed compare-and-swap with "wrong last sequence" or "key exists".
fn is_cas_conflict(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("wrong last sequence") || lower.contains("exists")
}

fn index_err(operation: &'static str, key: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::Index {
        operation,
        key: key.to_string(),
        message: err.to_string(),
    }
}
