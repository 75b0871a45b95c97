//! Step 4: read the tree, pack a deterministic tar.gz, store it once by digest, record it in
//! the source's index (keeping the last N), and collect what fell off.

use super::error::ARTIFACT_TOO_LARGE;
use super::include::Included;
use super::pack::pack_blocking;
use super::source::Fetched;
use super::{Context, ReconcileError};
use crate::git;
use crate::storage::{self, ArtifactLocation, ArtifactRecord, source_key};
use flux_api::conditions::types;
use flux_api::meta::Artifact;
use flux_api::source::GitRepository;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use std::time::Instant;

/// The artifact now in storage.
#[derive(Debug, Clone)]
pub struct Stored {
    /// `status.artifact`.
    pub artifact: Artifact,
    /// True when the digest differs from the previous artifact's.
    pub new_artifact: bool,
    /// The revision of the previous artifact, when there was one.
    pub previous_revision: Option<String>,
    /// Paths that changed since the previous artifact's commit, when it could be computed.
    pub changed_paths: Option<Vec<String>>,
    /// The included artifacts, for `status.includedArtifacts`.
    pub included: Vec<Artifact>,
}

/// Packs and stores the artifact for `fetched`.
pub async fn reconcile_artifact(
    obj: &GitRepository,
    ctx: &Context,
    fetched: &Fetched,
    included: &[Included],
) -> Result<Stored, ReconcileError> {
    let previous = obj.status.as_ref().and_then(|s| s.artifact.clone());
    if let Some(current) = up_to_date(obj, ctx, fetched, included, previous.as_ref()).await {
        return Ok(current);
    }
    if let Some(stalled) = still_too_large(obj, ctx.limits, fetched) {
        return Err(stalled);
    }
    let outcome = pack_blocking(
        ctx,
        fetched,
        obj.spec.ignore.clone(),
        included,
        previous.as_ref().and_then(|p| commit_of(&p.revision)),
    )
    .await
    .map_err(|e| with_revision(e, fetched))?;
    let (packed, changed_paths) = (outcome.packed, outcome.changed_paths);
    let digest = packed.digest.to_string();
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let file = format!("{}.tar.gz", fetched.commit);
    let location = ArtifactLocation::new(
        &ctx.storage_base_url,
        "GitRepository",
        &namespace,
        &name,
        &file,
    );
    let storage_err = |e: storage::StorageError| ReconcileError::Storage(e.to_string());
    let started = Instant::now();
    ctx.objects
        .put_if_absent(&packed.digest, &packed.bytes)
        .await
        .map_err(storage_err)?;
    let put = started.elapsed();
    let started = Instant::now();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let record = ArtifactRecord {
        path: location.path.clone(),
        digest: digest.clone(),
        revision: fetched.revision.clone(),
        size: packed.size(),
        created_at: now.0.to_string(),
    };
    let key = source_key("GitRepository", &namespace, &name);
    let evicted = ctx.index.record(&key, record).await.map_err(storage_err)?;
    storage::collect_garbage(&ctx.index, &ctx.objects, &evicted)
        .await
        .map_err(storage_err)?;
    tracing::info!(
        list_ms = outcome.list.as_millis() as u64,
        pack_ms = outcome.pack.as_millis() as u64,
        put_ms = put.as_millis() as u64,
        index_ms = started.elapsed().as_millis() as u64,
        chunks = outcome.chunks.0,
        chunks_compressed = outcome.chunks.1,
        size = packed.size(),
        "Packed artifact."
    );
    let new_artifact = previous.as_ref().is_none_or(|p| p.digest != digest);
    let last_update_time = match &previous {
        Some(p) if !new_artifact => p.last_update_time.clone(),
        _ => now,
    };
    Ok(Stored {
        artifact: Artifact {
            path: location.path,
            url: location.url,
            revision: fetched.revision.clone(),
            digest,
            last_update_time,
            size: Some(packed.size() as i64),
            metadata: None,
        },
        new_artifact,
        previous_revision: previous.map(|p| p.revision),
        changed_paths,
        included: included.iter().map(|i| i.artifact.clone()).collect(),
    })
}

/// The stored artifact when nothing that shapes it changed: same revision, same ignore rules,
/// no includes, and the bytes still in storage. Then no tree is read and nothing is packed.
async fn up_to_date(
    obj: &GitRepository,
    ctx: &Context,
    fetched: &Fetched,
    included: &[Included],
    previous: Option<&Artifact>,
) -> Option<Stored> {
    let previous = previous?;
    let status = obj.status.as_ref()?;
    let same_inputs = previous.revision == fetched.revision
        && included.is_empty()
        && status.observed_ignore == obj.spec.ignore
        && status.observed_include.is_none()
        && obj.spec.include.is_none();
    if !same_inputs || !ctx.objects.exists(&previous.digest).await.unwrap_or(false) {
        return None;
    }
    Some(Stored {
        artifact: previous.clone(),
        new_artifact: false,
        previous_revision: Some(previous.revision.clone()),
        changed_paths: Some(Vec::new()),
        included: Vec::new(),
    })
}

/// The oversized-tree stall of the last reconcile, when nothing that could change its verdict
/// moved: same generation, revision and limits, no includes. The tree is then not read again.
fn still_too_large(
    obj: &GitRepository,
    limits: git::TreeLimits,
    fetched: &Fetched,
) -> Option<ReconcileError> {
    if obj.spec.include.is_some() {
        return None;
    }
    let status = obj.status.as_ref()?;
    let stalled = status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == types::STALLED && c.reason == ARTIFACT_TOO_LARGE)?;
    let same = stalled.observed_generation == obj.metadata.generation
        && [("files", limits.max_files), ("bytes", limits.max_bytes)]
            .into_iter()
            .map(|(what, limit)| {
                let tree = git::GitError::TooLarge { what, limit }.to_string();
                with_revision(ReconcileError::TooLarge(tree), fetched).to_string()
            })
            .any(|message| message == stalled.message);
    same.then(|| ReconcileError::TooLarge(stalled.message.clone()))
}

/// Names the revision in an oversized-tree error, so the stall says what it is about.
fn with_revision(err: ReconcileError, fetched: &Fetched) -> ReconcileError {
    match err {
        ReconcileError::TooLarge(message) => ReconcileError::TooLarge(format!(
            "revision '{}': {message}; raise the limit or exclude paths with spec.ignore",
            fetched.revision
        )),
        other => other,
    }
}

/// The commit of a Flux Git revision: `main@sha1:<hex>`, `sha1:<hex>`, or legacy `main/<hex>`.
pub fn commit_of(revision: &str) -> Option<gix::ObjectId> {
    let hex = revision
        .rsplit_once("sha1:")
        .map(|(_, hex)| hex)
        .or_else(|| revision.rsplit_once('/').map(|(_, hex)| hex))?;
    gix::ObjectId::from_hex(hex.as_bytes()).ok()
}

/// The object was deleted: drop its index and collect its artifacts (Flux's finalizer work).
pub async fn forget_source(obj: &GitRepository, ctx: &Context) -> Result<(), ReconcileError> {
    let key = source_key(
        "GitRepository",
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    );
    let storage_err = |e: storage::StorageError| ReconcileError::Storage(e.to_string());
    ctx.pack_caches.forget(&obj.spec.url);
    let evicted = ctx.index.remove(&key).await.map_err(storage_err)?;
    storage::collect_garbage(&ctx.index, &ctx.objects, &evicted)
        .await
        .map_err(storage_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_of_reads_every_flux_revision_form() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        for revision in [
            format!("main@sha1:{sha}"),
            format!("sha1:{sha}"),
            format!("refs/pull/1/head@sha1:{sha}"),
            format!("main/{sha}"),
        ] {
            assert_eq!(
                commit_of(&revision).map(|c| c.to_string()),
                Some(sha.to_string()),
                "{revision}"
            );
        }
        assert_eq!(commit_of("latest@sha256:abc"), None);
    }

    fn fetched(revision: &str) -> Fetched {
        Fetched {
            url: "http://git.example/app.git".into(),
            commit: gix::ObjectId::null(gix::hash::Kind::Sha1),
            revision: revision.into(),
            subject: "change".into(),
            cached: true,
            took: std::time::Duration::ZERO,
        }
    }

    /// A GitRepository whose status is what the reconcile wrote for `result`.
    fn after(result: Result<Stored, ReconcileError>) -> GitRepository {
        let mut obj = GitRepository::new(
            "app",
            serde_json::from_value(serde_json::json!({
                "url": "http://git.example/app.git",
                "interval": "1m",
            }))
            .expect("spec"),
        );
        obj.metadata.generation = Some(3);
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        obj.status = Some(super::super::next_status(&obj, &result, now));
        obj
    }

    fn oversized(limits: git::TreeLimits, revision: &str) -> ReconcileError {
        let tree = git::GitError::TooLarge {
            what: "files",
            limit: limits.max_files,
        };
        with_revision(
            ReconcileError::TooLarge(tree.to_string()),
            &fetched(revision),
        )
    }

    #[test]
    fn oversized_tree_stays_stalled_without_rereading_until_something_changes() {
        let limits = git::TreeLimits {
            max_files: 10,
            max_bytes: 1 << 20,
        };
        let obj = after(Err(oversized(limits, "main@sha1:aaaa")));
        let stalled = still_too_large(&obj, limits, &fetched("main@sha1:aaaa"))
            .expect("same revision, spec and limits: still stalled");
        assert!(stalled.is_stalling());
        assert_eq!(stalled.reason(), ARTIFACT_TOO_LARGE);
        assert!(stalled.to_string().contains("main@sha1:aaaa"), "{stalled}");
        assert!(stalled.to_string().contains("--max-files"), "{stalled}");

        // A new revision, new limits or a new generation is looked at again.
        assert!(still_too_large(&obj, limits, &fetched("main@sha1:bbbb")).is_none());
        let raised = git::TreeLimits {
            max_files: 20,
            ..limits
        };
        assert!(still_too_large(&obj, raised, &fetched("main@sha1:aaaa")).is_none());
        let mut edited = obj.clone();
        edited.metadata.generation = Some(4);
        assert!(still_too_large(&edited, limits, &fetched("main@sha1:aaaa")).is_none());
    }

    #[test]
    fn other_failures_are_not_taken_for_an_oversized_tree() {
        let limits = git::TreeLimits::default();
        let obj = after(Err(ReconcileError::Storage("object store down".into())));
        assert!(still_too_large(&obj, limits, &fetched("main@sha1:aaaa")).is_none());
    }
}
