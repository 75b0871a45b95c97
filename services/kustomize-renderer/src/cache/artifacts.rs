//! Source artifacts: fetched from `ferry-artifacts` by digest and unpacked once into a
//! size-bounded local disk cache (`<cache-dir>/artifacts/<hex>/`, least recently used evicted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::jetstream::object_store::{GetErrorKind, ObjectStore};
use ferry_artifact::{Digest, UnpackLimits, sha256_digest};
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;

/// Why an artifact is not available; reported as Flux's `ArtifactFailed`.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The digest is not `sha256:<64 hex>`.
    #[error("invalid artifact digest '{0}'")]
    InvalidDigest(String),
    /// The object store has no such artifact.
    #[error("artifact {0} not found in the artifact store")]
    NotFound(String),
    /// The stored bytes do not hash to their name.
    #[error("artifact {name} is corrupt: its content hashes to {actual}")]
    Corrupt {
        /// The digest asked for.
        name: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The object store failed.
    #[error("fetching artifact {name}: {message}")]
    Store {
        /// The digest.
        name: String,
        /// The underlying error.
        message: String,
    },
    /// The tarball is unsafe or malformed (path escape, link tricks, limits).
    #[error("unpacking artifact {name}: {source}")]
    Unpack {
        /// The digest.
        name: String,
        /// Why.
        #[source]
        source: ferry_artifact::UnpackError,
    },
    /// The local cache directory failed.
    #[error("artifact cache: {0}")]
    Io(String),
}

/// Where artifact bytes come from.
#[derive(Clone)]
pub enum ArtifactSource {
    /// The `ferry-artifacts` JetStream object store.
    Nats(Box<ObjectStore>),
    /// Artifacts held in memory, by digest (tests, tools).
    Memory(Arc<Mutex<HashMap<String, Vec<u8>>>>),
}

impl std::fmt::Debug for ArtifactSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactSource::Nats(_) => f.write_str("ArtifactSource::Nats"),
            ArtifactSource::Memory(_) => f.write_str("ArtifactSource::Memory"),
        }
    }
}

impl ArtifactSource {
    /// An empty in-memory source.
    pub fn memory() -> Self {
        ArtifactSource::Memory(Arc::default())
    }

    /// Adds an artifact to an in-memory source (no-op for the object store) and returns its
    /// digest.
    pub fn insert(&self, bytes: Vec<u8>) -> String {
        let digest = sha256_digest(&bytes).to_string();
        if let ArtifactSource::Memory(map) = self {
            map.lock().insert(digest.clone(), bytes);
        }
        digest
    }

    /// The artifact's bytes, checked against the digest.
    pub async fn fetch(&self, digest: &Digest) -> Result<Vec<u8>, ArtifactError> {
        let name = digest.to_string();
        let bytes = match self {
            ArtifactSource::Memory(map) => map
                .lock()
                .get(&name)
                .cloned()
                .ok_or_else(|| ArtifactError::NotFound(name.clone()))?,
            ArtifactSource::Nats(store) => {
                let store_err = |e: &dyn std::fmt::Display| ArtifactError::Store {
                    name: name.clone(),
                    message: e.to_string(),
                };
                let mut object = match store.get(name.as_str()).await {
                    Ok(o) => o,
                    Err(e) if e.kind() == GetErrorKind::NotFound => {
                        return Err(ArtifactError::NotFound(name));
                    }
                    Err(e) => return Err(store_err(&e)),
                };
                let mut bytes = Vec::new();
                object
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| store_err(&e))?;
                bytes
            }
        };
        let actual = sha256_digest(&bytes);
        if actual != *digest {
            return Err(ArtifactError::Corrupt {
                name,
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}

/// An unpacked artifact, kept from eviction while the handle lives.
#[derive(Debug, Clone)]
pub struct UnpackedArtifact {
    root: PathBuf,
    _pin: Arc<()>,
}

impl UnpackedArtifact {
    /// The directory holding the artifact's tree. Never write into it.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

struct Entry {
    bytes: u64,
    last_used: u64,
    pin: Arc<()>,
}

/// The local cache of unpacked artifacts.
pub struct ArtifactCache {
    dir: PathBuf,
    max_bytes: u64,
    limits: UnpackLimits,
    entries: Mutex<HashMap<String, Entry>>,
    unpacking: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    clock: AtomicU64,
    unpacks: AtomicU64,
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl ArtifactCache {
    /// A cache in `<cache_dir>/artifacts`, holding at most `max_bytes` of unpacked content
    /// (an artifact in use is never evicted). Directories left by an earlier process are
    /// adopted; half-unpacked ones are removed.
    pub fn open(
        cache_dir: &Path,
        max_bytes: u64,
        limits: UnpackLimits,
    ) -> Result<Self, ArtifactError> {
        let dir = cache_dir.join("artifacts");
        std::fs::create_dir_all(&dir)
            .map_err(|e| ArtifactError::Io(format!("{}: {e}", dir.display())))?;
        let mut entries = HashMap::new();
        let read = std::fs::read_dir(&dir)
            .map_err(|e| ArtifactError::Io(format!("{}: {e}", dir.display())))?;
        for item in read.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let path = item.path();
            if name.starts_with(".tmp-") || !is_hex_digest(&name) {
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            entries.insert(
                name,
                Entry {
                    bytes: dir_size(&path),
                    last_used: 0,
                    pin: Arc::new(()),
                },
            );
        }
        Ok(Self {
            dir,
            max_bytes,
            limits,
            entries: Mutex::new(entries),
            unpacking: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(1),
            unpacks: AtomicU64::new(0),
        })
    }

    /// How many artifacts this cache has unpacked since it was opened.
    pub fn unpack_count(&self) -> u64 {
        self.unpacks.load(Ordering::Relaxed)
    }

    /// Total bytes of the cached artifacts.
    pub fn total_bytes(&self) -> u64 {
        self.entries.lock().values().map(|e| e.bytes).sum()
    }

    /// Whether the artifact is unpacked in the cache.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.entries.lock().contains_key(&digest.hex())
    }

    fn touch(&self, hex: &str) -> Option<UnpackedArtifact> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock();
        let entry = entries.get_mut(hex)?;
        let root = self.dir.join(hex);
        if !root.is_dir() {
            entries.remove(hex);
            return None;
        }
        entry.last_used = tick;
        Some(UnpackedArtifact {
            root,
            _pin: entry.pin.clone(),
        })
    }

    /// The unpacked artifact `digest`, fetching and unpacking it (once, even when asked for
    /// concurrently) on a miss.
    pub async fn get(
        &self,
        digest: &Digest,
        source: &ArtifactSource,
    ) -> Result<UnpackedArtifact, ArtifactError> {
        let hex = digest.hex();
        if let Some(hit) = self.touch(&hex) {
            return Ok(hit);
        }
        let lock = self
            .unpacking
            .lock()
            .entry(hex.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if let Some(hit) = self.touch(&hex) {
            return Ok(hit);
        }
        let result = self.fetch_and_unpack(digest, &hex, source).await;
        self.unpacking.lock().remove(&hex);
        let handle = result?;
        self.evict();
        Ok(handle)
    }

    async fn fetch_and_unpack(
        &self,
        digest: &Digest,
        hex: &str,
        source: &ArtifactSource,
    ) -> Result<UnpackedArtifact, ArtifactError> {
        let bytes = source.fetch(digest).await?;
        let tmp = self.dir.join(format!(
            ".tmp-{hex}-{}",
            self.clock.fetch_add(1, Ordering::Relaxed)
        ));
        let final_dir = self.dir.join(hex);
        let limits = self.limits;
        let name = digest.to_string();
        let unpacked = {
            let tmp = tmp.clone();
            let final_dir = final_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<u64, ArtifactError> {
                let result = ferry_artifact::unpack(&bytes, &tmp, limits);
                match result {
                    Ok(summary) => {
                        let _ = std::fs::remove_dir_all(&final_dir);
                        std::fs::rename(&tmp, &final_dir).map_err(|e| {
                            ArtifactError::Io(format!("{}: {e}", final_dir.display()))
                        })?;
                        Ok(summary.bytes)
                    }
                    Err(source) => {
                        let _ = std::fs::remove_dir_all(&tmp);
                        Err(ArtifactError::Unpack { name, source })
                    }
                }
            })
            .await
            .map_err(|e| ArtifactError::Io(format!("unpack task: {e}")))??
        };
        self.unpacks.fetch_add(1, Ordering::Relaxed);
        let pin = Arc::new(());
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        self.entries.lock().insert(
            hex.to_string(),
            Entry {
                bytes: unpacked,
                last_used: tick,
                pin: pin.clone(),
            },
        );
        Ok(UnpackedArtifact {
            root: final_dir,
            _pin: pin,
        })
    }

    /// Removes least recently used artifacts not in use until the total fits.
    pub fn evict(&self) {
        let mut victims = Vec::new();
        {
            let mut entries = self.entries.lock();
            let mut total: u64 = entries.values().map(|e| e.bytes).sum();
            if total <= self.max_bytes {
                return;
            }
            let mut order: Vec<(u64, String)> = entries
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.pin) == 1)
                .map(|(k, e)| (e.last_used, k.clone()))
                .collect();
            order.sort();
            for (_, hex) in order {
                if total <= self.max_bytes {
                    break;
                }
                if let Some(e) = entries.remove(&hex) {
                    total = total.saturating_sub(e.bytes);
                    victims.push(self.dir.join(&hex));
                }
            }
        }
        for dir in victims {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "Could not remove an evicted artifact.");
            }
        }
    }
}

fn is_hex_digest(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(read) = std::fs::read_dir(path) else {
        return 0;
    };
    read.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
