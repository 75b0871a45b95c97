//! The scanned tags of every ImageRepository, stored compactly in the NATS KV bucket
//! `ferry-image-tags` so every replica and every ImagePolicy reads them without rescanning.
//!
//! Key: `<namespace>.<name>` of the ImageRepository. Value: gzip of a small text document:
//!
//! ```text
//! ferry-image-tags/v1
//! canonical <registry/repository>
//! revision <hex sha256 of the sorted tags, one per line>
//!
//! <tag>
//! <tag>
//! ```
//!
//! Tags are sorted ascending and unique (as [`crate::registry::TagScan`] holds them).

use std::io::{Read as _, Write as _};

use async_nats::jetstream::kv::Store;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

const MAGIC: &str = "ferry-image-tags/v1";

/// What failed reading or writing the tags bucket.
#[derive(Debug, thiserror::Error)]
pub enum TagStoreError {
    /// The KV operation failed.
    #[error("tags bucket: {0}")]
    Kv(String),
    /// The stored value is not a tag list this version understands.
    #[error("tags bucket: malformed value for {key}: {reason}")]
    Malformed {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The tags of one ImageRepository as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTags {
    /// `registry/repository`.
    pub canonical_image_name: String,
    /// Hash of the tag set (`status.lastScanResult.revision`).
    pub revision: String,
    /// Sorted, unique tags.
    pub tags: Vec<String>,
}

impl StoredTags {
    /// Encodes to the compressed value.
    pub fn encode(&self) -> Vec<u8> {
        let mut text =
            String::with_capacity(64 + self.tags.iter().map(|t| t.len() + 1).sum::<usize>());
        text.push_str(MAGIC);
        text.push('\n');
        text.push_str("canonical ");
        text.push_str(&self.canonical_image_name);
        text.push_str("\nrevision ");
        text.push_str(&self.revision);
        text.push_str("\n\n");
        for tag in &self.tags {
            text.push_str(tag);
            text.push('\n');
        }
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(text.as_bytes());
        encoder.finish().unwrap_or_default()
    }

    /// Decodes a value written by [`StoredTags::encode`].
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, TagStoreError> {
        let malformed = |reason: &str| TagStoreError::Malformed {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        let mut text = String::new();
        GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|e| malformed(&format!("not gzip text: {e}")))?;
        let (header, body) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed("no header"))?;
        let mut lines = header.lines();
        if lines.next() != Some(MAGIC) {
            return Err(malformed("unknown format"));
        }
        let mut canonical = None;
        let mut revision = None;
        for line in lines {
            match line.split_once(' ') {
                Some(("canonical", v)) => canonical = Some(v.to_owned()),
                Some(("revision", v)) => revision = Some(v.to_owned()),
                _ => {}
            }
        }
        Ok(Self {
            canonical_image_name: canonical.ok_or_else(|| malformed("no canonical name"))?,
            revision: revision.ok_or_else(|| malformed("no revision"))?,
            tags: body
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// The KV key of an ImageRepository.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

/// The tags bucket.
#[derive(Clone)]
pub struct TagStore {
    kv: Store,
}

impl std::fmt::Debug for TagStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagStore").finish_non_exhaustive()
    }
}

impl TagStore {
    /// Wraps the opened bucket.
    pub fn new(kv: Store) -> Self {
        Self { kv }
    }

    /// The stored tags of `namespace/name`, if any.
    pub async fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<StoredTags>, TagStoreError> {
        let key = key(namespace, name);
        let value = self
            .kv
            .get(&key)
            .await
            .map_err(|e| TagStoreError::Kv(e.to_string()))?;
        value.map(|v| StoredTags::decode(&key, &v)).transpose()
    }

    /// Stores the tags of `namespace/name`, replacing what was there.
    pub async fn put(
        &self,
        namespace: &str,
        name: &str,
        tags: &StoredTags,
    ) -> Result<(), TagStoreError> {
        self.kv
            .put(key(namespace, name), tags.encode().into())
            .await
            .map_err(|e| TagStoreError::Kv(e.to_string()))?;
        Ok(())
    }

    /// Forgets `namespace/name` (the ImageRepository was deleted).
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<(), TagStoreError> {
        self.kv
            .delete(key(namespace, name))
            .await
            .map_err(|e| TagStoreError::Kv(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_compressed() {
        let tags = StoredTags {
            canonical_image_name: "127.0.0.1:5000/app".into(),
            revision: "abc".into(),
            tags: (0..10_000).map(|i| format!("1.0.{i}")).collect(),
        };
        let bytes = tags.encode();
        assert!(bytes.len() < 40_000, "compressed: {} bytes", bytes.len());
        assert_eq!(StoredTags::decode("k", &bytes).expect("decodes"), tags);
    }

    #[test]
    fn an_empty_tag_list_round_trips_and_garbage_is_malformed() {
        let tags = StoredTags {
            canonical_image_name: "r/a".into(),
            revision: "e3b0".into(),
            tags: vec![],
        };
        assert_eq!(
            StoredTags::decode("k", &tags.encode()).expect("decodes"),
            tags
        );
        assert!(StoredTags::decode("k", b"nope").is_err());
    }
}
