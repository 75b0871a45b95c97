//! Packing on the blocking pool: list the tree, pack it incrementally against the previous
//! artifact's compressed chunks (kept per URL), and compute the changed paths.

use super::include::Included;
use super::source::Fetched;
use super::{Context, ReconcileError};
use crate::git::{self, GitError, TreeLimits};
use ferry_artifact::{PackCache, PackError, Packed, TreeItem};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Each URL's [`PackCache`]: the compressed chunks of the last artifact packed from it. What
/// is cached never changes the bytes; it only spares re-reading and re-compressing.
#[derive(Clone, Default)]
pub struct PackCaches(Arc<Mutex<HashMap<String, PackCache>>>);

impl PackCaches {
    /// Takes `url`'s cache out (empty if none): a concurrent pack of the same URL starts cold
    /// rather than waiting.
    fn take(&self, url: &str) -> PackCache {
        self.0.lock().remove(url).unwrap_or_default()
    }

    fn put(&self, url: &str, cache: PackCache) {
        self.0.lock().insert(url.to_string(), cache);
    }

    /// Drops `url`'s cache (its last GitRepository is gone).
    pub fn forget(&self, url: &str) {
        self.0.lock().remove(url);
    }
}

/// A packed artifact with what it took.
pub struct PackOutcome {
    /// The artifact.
    pub packed: Packed,
    /// Paths changed since the previous artifact's commit, when known.
    pub changed_paths: Option<Vec<String>>,
    /// Listing the tree (ignore rules included).
    pub list: Duration,
    /// Reading changed blobs, compressing changed chunks, hashing.
    pub pack: Duration,
    /// Chunks in the artifact and chunks compressed afresh.
    pub chunks: (usize, usize),
}

/// Packs `fetched`'s tree (plus includes) on the blocking pool.
pub async fn pack_blocking(
    ctx: &Context,
    fetched: &Fetched,
    ignore: Option<String>,
    included: &[Included],
    previous_commit: Option<gix::ObjectId>,
) -> Result<PackOutcome, ReconcileError> {
    let (repos, caches) = (ctx.cache.clone(), ctx.pack_caches.clone());
    let (url, commit, limits) = (fetched.url.clone(), fetched.commit, ctx.limits);
    let extra: Vec<TreeItem> = included
        .iter()
        .flat_map(|i| i.entries.iter().cloned().map(TreeItem::from))
        .collect();
    tokio::task::spawn_blocking(move || {
        let repo = repos.open(&url).map_err(archive_err)?;
        let started = Instant::now();
        let mut items =
            git::tree_items(&repo, commit, ignore.as_deref(), limits).map_err(tree_err)?;
        // Included files win over the repository's own at the same path, as in Flux.
        items.retain(|i| !extra.iter().any(|x| x.path == i.path));
        items.extend(extra);
        let list = started.elapsed();
        let started = Instant::now();
        let mut cache = caches.take(&url);
        let result = ferry_artifact::pack_tree(items, &mut cache, limits.max_bytes, |id, path| {
            git::load_blob(&repo, id, path)
        });
        let (packed, stats) = match result {
            Ok(done) => done,
            Err(e) => return Err(pack_err(e, limits)),
        };
        caches.put(&url, cache);
        let pack = started.elapsed();
        let changed_paths = previous_commit
            .filter(|prev| repo.find_commit(*prev).is_ok())
            .and_then(|prev| git::changed_paths(&repo, prev, commit).ok());
        Ok(PackOutcome {
            packed,
            changed_paths,
            list,
            pack,
            chunks: (stats.chunks, stats.compressed),
        })
    })
    .await
    .map_err(|e| ReconcileError::Storage(format!("packing task failed: {e}")))?
}

fn tree_err(e: GitError) -> ReconcileError {
    match e {
        GitError::TooLarge { .. } => ReconcileError::TooLarge(e.to_string()),
        other => archive_err(other),
    }
}

fn pack_err(e: PackError, limits: TreeLimits) -> ReconcileError {
    match e {
        PackError::TooLarge { .. } => tree_err(GitError::TooLarge {
            what: "bytes",
            limit: limits.max_bytes,
        }),
        other => archive_err(error_chain(&other)),
    }
}

fn archive_err(e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Storage(format!("failed to archive artifact: {e}"))
}

/// The error and its sources on one line, so the loader's reason reaches the condition.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
