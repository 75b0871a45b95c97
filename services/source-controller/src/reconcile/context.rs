//! What a reconcile needs from the outside world, built once per replica.

use super::pack::PackCaches;
use crate::git::{RepoCache, TreeLimits};
use crate::storage::{ArtifactIndex, ArtifactObjects};
use ferry_bus::Publisher;
use std::time::Duration;

/// Shared by every reconcile on a replica.
#[derive(Clone)]
pub struct Context {
    /// Kubernetes client (status writes, secrets, events).
    pub kube: kube::Client,
    /// Per-URL Git object cache.
    pub cache: RepoCache,
    /// Per-URL compressed chunks of the last artifact, so a new revision re-packs only changes.
    pub pack_caches: PackCaches,
    /// Artifact bytes, by digest.
    pub objects: ArtifactObjects,
    /// Recent artifacts per source.
    pub index: ArtifactIndex,
    /// Event publisher.
    pub publisher: Publisher,
    /// Base URL artifacts are served from (Flux's `status.artifact.url` prefix).
    pub storage_base_url: String,
    /// Bounds on a repository's tree.
    pub limits: TreeLimits,
    /// Timeout used when `spec.timeout` is unset (Flux: 60s).
    pub default_timeout: Duration,
    /// The `ferry-journeys` bucket (`ferry trace`).
    pub journeys: async_nats::jetstream::kv::Store,
    /// Name written as the reporting instance on Kubernetes events.
    pub instance: String,
}
