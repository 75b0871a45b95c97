//! Step 2: list the remote's refs (one cheap round trip), resolve `spec.ref`, and fetch only
//! when the commit is not already in the per-URL cache. Runs on the blocking pool under
//! `spec.timeout`; a stuck server frees the worker at the timeout and is interrupted.

use super::{Context, ReconcileError, git_ref};
use crate::git::{self, Credentials, GitError, GitRef};
use flux_api::source::GitRepository;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The commit the spec selects, now present in the cache.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The remote URL.
    pub url: String,
    /// The selected commit.
    pub commit: gix::ObjectId,
    /// Flux revision string.
    pub revision: String,
    /// First line of the commit message, for the NewArtifact event.
    pub subject: String,
    /// True when no objects were downloaded (the commit was cached).
    pub cached: bool,
}

/// Resolves and fetches the commit selected by `spec.ref`.
pub async fn reconcile_source(
    obj: &GitRepository,
    ctx: &Context,
    creds: &Credentials,
) -> Result<Fetched, ReconcileError> {
    let git_ref = git_ref::from_spec(obj.spec.reference.as_ref());
    let url = obj.spec.url.clone();
    let timeout = obj
        .spec
        .timeout
        .as_ref()
        .map(|t| t.as_duration())
        .unwrap_or(ctx.default_timeout);
    let interrupt = Arc::new(AtomicBool::new(false));
    let task = {
        let (cache, creds, interrupt) = (ctx.cache.clone(), creds.clone(), interrupt.clone());
        tokio::task::spawn_blocking(move || {
            fetch_blocking(&cache, &url, &creds, &git_ref, &interrupt)
        })
    };
    match tokio::time::timeout(timeout, task).await {
        Err(_) => {
            interrupt.store(true, Ordering::Relaxed);
            Err(ReconcileError::Timeout(timeout))
        }
        Ok(Err(join)) => Err(ReconcileError::GitOperation(format!(
            "fetch task failed: {join}"
        ))),
        Ok(Ok(result)) => result.map_err(|e| classify(&obj.spec.url, e)),
    }
}

fn fetch_blocking(
    cache: &git::RepoCache,
    url: &str,
    creds: &Credentials,
    git_ref: &GitRef,
    interrupt: &AtomicBool,
) -> Result<Fetched, GitError> {
    let lock = cache.lock_for(url);
    let _guard = lock.lock();
    let repo = cache.open(url)?;
    let refs = git::list_remote_refs(&repo, url, creds, &git_ref.listing_refspecs(), interrupt)?;
    let resolved = git::resolve(git_ref, &refs)?;
    let cached = repo.find_commit(resolved.commit).is_ok();
    if !cached {
        git::fetch(&repo, url, creds, &resolved.refspecs, interrupt)?;
    }
    // Reopen so the objects of a fresh pack are visible.
    let repo = cache.open(url)?;
    let commit = repo.find_commit(resolved.commit).map_err(|_| {
        GitError::RefNotFound(format!(
            "spec.ref.commit: commit '{}' not found in the fetched refs",
            resolved.commit
        ))
    })?;
    let subject = commit
        .message_raw_sloppy()
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(Fetched {
        url: url.to_string(),
        commit: resolved.commit,
        revision: resolved.revision,
        subject,
        cached,
    })
}

fn classify(url: &str, err: GitError) -> ReconcileError {
    // Ref and semver errors already name their field; remote errors name spec.url.
    let remote = || format!("unable to fetch '{url}' (spec.url): {err}");
    match &err {
        GitError::Authentication { .. } => ReconcileError::Authentication(remote()),
        GitError::InvalidUrl { .. } => ReconcileError::InvalidSpec(format!("spec.url: {err}")),
        GitError::RefNotFound(_) | GitError::Semver(_) => {
            ReconcileError::GitOperation(err.to_string())
        }
        _ => ReconcileError::GitOperation(remote()),
    }
}
