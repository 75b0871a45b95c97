//! Artifact storage in JetStream: tarballs in an object store keyed by digest (stored once, any
//! replica serves any artifact), and a per-source index in KV that keeps the last N artifacts.

pub mod http;
mod index;
mod layout;
mod objects;

pub use index::{ArtifactIndex, ArtifactRecord};
pub use layout::{ArtifactLocation, artifact_path, source_key};
pub use objects::ArtifactObjects;

/// A storage operation that failed; Flux reports these as `StorageOperationFailed`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Writing or reading the object store failed.
    #[error("object store {operation} of {name}: {message}")]
    Objects {
        /// `put`, `get`, `delete`, `info`.
        operation: &'static str,
        /// The object name (a digest).
        name: String,
        /// What NATS said.
        message: String,
    },
    /// Reading or updating the artifact index failed.
    #[error("artifact index {operation} of {key}: {message}")]
    Index {
        /// `read`, `update`, `list`.
        operation: &'static str,
        /// The index key.
        key: String,
        /// What NATS said.
        message: String,
    },
    /// A stored object's bytes do not hash to its name.
    #[error("artifact {name} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The digest it is stored under.
        name: String,
        /// What the bytes hash to.
        actual: String,
    },
}

/// Deletes the `evicted` artifacts that no source references any more. An artifact shared by
/// two sources (same tree) stays until both have moved on.
pub async fn collect_garbage(
    index: &ArtifactIndex,
    objects: &ArtifactObjects,
    evicted: &[String],
) -> Result<usize, StorageError> {
    if evicted.is_empty() {
        return Ok(0);
    }
    let referenced = index.referenced_digests().await?;
    let mut deleted = 0;
    for digest in evicted.iter().filter(|d| !referenced.contains(*d)) {
        // A malformed name cannot have been written by us; leave it for an operator.
        if let Ok(parsed) = digest.parse() {
            objects.delete(&parsed).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
