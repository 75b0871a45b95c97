//! Step 4: read the tree, pack a deterministic tar.gz, store it once by digest, record it in
//! the source's index (keeping the last N), and collect what fell off.

use super::include::Included;
use super::source::Fetched;
use super::{Context, ReconcileError};
use crate::git;
use crate::storage::{self, ArtifactLocation, ArtifactRecord, source_key};
use flux_api::meta::Artifact;
use flux_api::source::GitRepository;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

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
    let (packed, changed_paths) =
        pack_blocking(obj, ctx, fetched, included, previous.as_ref()).await?;
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
    ctx.objects
        .put_if_absent(&packed.digest, &packed.bytes)
        .await
        .map_err(storage_err)?;
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

async fn pack_blocking(
    obj: &GitRepository,
    ctx: &Context,
    fetched: &Fetched,
    included: &[Included],
    previous: Option<&Artifact>,
) -> Result<(ferry_artifact::Packed, Option<Vec<String>>), ReconcileError> {
    let cache = ctx.cache.clone();
    let url = fetched.url.clone();
    let commit = fetched.commit;
    let ignore = obj.spec.ignore.clone();
    let limits = ctx.limits;
    let extra: Vec<_> = included.iter().flat_map(|i| i.entries.clone()).collect();
    let previous_commit = previous.and_then(|p| commit_of(&p.revision));
    tokio::task::spawn_blocking(move || {
        let repo = cache.open(&url).map_err(|e| e.to_string())?;
        let mut entries =
            git::read_tree(&repo, commit, ignore.as_deref(), limits).map_err(|e| e.to_string())?;
        // Included files win over the repository's own at the same path, as in Flux.
        entries.retain(|e| !extra.iter().any(|x| x.path == e.path));
        entries.extend(extra);
        let changed = previous_commit
            .filter(|prev| repo.find_commit(*prev).is_ok())
            .and_then(|prev| git::changed_paths(&repo, prev, commit).ok());
        let packed = ferry_artifact::pack(entries).map_err(|e| e.to_string())?;
        Ok((packed, changed))
    })
    .await
    .map_err(|e| ReconcileError::Storage(format!("packing task failed: {e}")))?
    .map_err(|e: String| ReconcileError::Storage(format!("failed to archive artifact: {e}")))
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
}
