//! What a reconcile needs from the outside world, built once per replica.

use std::time::Duration;

use ferry_bus::Publisher;

use crate::apply::KindCache;

/// Shared by every reconcile on a replica.
#[derive(Clone)]
pub struct Context<R> {
    /// Kubernetes client of the controller (status, events, dependencies, secrets, applies
    /// without impersonation).
    pub kube: kube::Client,
    /// The client's configuration, needed to impersonate `spec.serviceAccountName`.
    pub kube_config: Option<kube::Config>,
    /// Resolved kinds of the local cluster, shared by all appliers.
    pub kinds: KindCache,
    /// Where renders come from.
    pub renders: R,
    /// Publisher of `ApplyResult` events; `None` publishes nothing (tools, tests).
    pub publisher: Option<Publisher>,
    /// The `ferry-journeys` bucket (`ferry trace`); `None` records nothing (tools, tests).
    pub journeys: Option<async_nats::jetstream::kv::Store>,
    /// Reporting instance written on Kubernetes events.
    pub instance: String,
    /// Objects applied at once within a stage (Flux's `--concurrent-ssa`, default 4).
    pub concurrency: usize,
    /// Re-check period of a dependency that is not ready (Flux's `--requeue-dependency`, 30s).
    pub dependency_requeue: Duration,
}

impl<R> Context<R> {
    /// A context with Flux's defaults (concurrency 4, dependency re-check 30s), no publisher
    /// and no journeys.
    pub fn new(kube: kube::Client, renders: R) -> Self {
        Self {
            kube,
            kube_config: None,
            kinds: KindCache::default(),
            renders,
            publisher: None,
            journeys: None,
            instance: "applier".to_owned(),
            concurrency: 4,
            dependency_requeue: Duration::from_secs(30),
        }
    }
}
