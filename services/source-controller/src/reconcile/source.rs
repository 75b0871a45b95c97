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
    /// How long listing refs and fetching took.
    pub took: std::time::Duration,
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
    let started = std::time::Instant::now();
    let lock = cache.lock_for(url);
    let _guard = lock.lock();
    let repo = cache.open(url)?;
    let listing = git_ref.listing_refspecs();
    let mut resolution = None;
    // When the refs to fetch are the refs listed (branch, name, commit), the listing's
    // connection fetches too; a tag or semver range fetches its one tag afterwards.
    let (_, fetched_now) =
        git::list_and_fetch_if(&repo, url, creds, &listing, interrupt, |refs| {
            let resolved = git::resolve(git_ref, refs);
            let fetch_now = resolved
                .as_ref()
                .is_ok_and(|r| r.refspecs == listing && repo.find_commit(r.commit).is_err());
            resolution = Some(resolved);
            fetch_now
        })?;
    let resolved = resolution.ok_or_else(|| {
        GitError::RefNotFound(format!("no refs listed for {}", listing.join(", ")))
    })??;
    let cached = !fetched_now && repo.find_commit(resolved.commit).is_ok();
    if !fetched_now && !cached {
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
        took: started.elapsed(),
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
