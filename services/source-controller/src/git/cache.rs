//! A bare repository per remote URL, shared by every GitRepository of that URL, so fetches are
//! incremental; a per-URL lock keeps two reconciles on one replica from fetching into it at once.

use super::error::GitError;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The on-disk object cache of one replica.
#[derive(Clone)]
pub struct RepoCache {
    root: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl RepoCache {
    /// A cache rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RepoCache {
            root: root.into(),
            locks: Arc::default(),
        }
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock for `url`: hold it for the whole list-fetch-read sequence.
    pub fn lock_for(&self, url: &str) -> Arc<Mutex<()>> {
        self.locks
            .lock()
            .entry(url.to_string())
            .or_default()
            .clone()
    }

    /// Opens the bare repository for `url`, creating it on first use.
    pub fn open(&self, url: &str) -> Result<gix::Repository, GitError> {
        let path = self.path_for(url);
        let cache_err = |message: String| GitError::Cache {
            path: path.display().to_string(),
            message,
        };
        if path.join("HEAD").exists() {
            gix::open(&path).map_err(|e| cache_err(format!("{e:#}")))
        } else {
            std::fs::create_dir_all(&path).map_err(|e| cache_err(e.to_string()))?;
            gix::init_bare(&path).map_err(|e| cache_err(format!("{e:#}")))
        }
    }

    /// Where the repository for `url` lives: a hash of the URL, so any URL is a safe file name.
    pub fn path_for(&self, url: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(url.as_bytes()));
        self.root.join(format!("{}.git", &hash[..32]))
    }
}
