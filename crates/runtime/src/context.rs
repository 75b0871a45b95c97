//! What a service's code receives: shutdown signal, task tracking, clients and metrics.

use std::future::Future;

use tokio::{sync::watch, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{metrics::Metrics, readiness::Readiness};

/// Handles shared by a service's tasks; cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub(crate) service: &'static str,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) readiness: Readiness,
    pub(crate) metrics: Metrics,
    pub(crate) kube: kube::Client,
    pub(crate) nats: watch::Receiver<Option<async_nats::Client>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("service", &self.service)
            .field("shutting_down", &self.shutdown.is_cancelled())
            .field("readiness", &self.readiness.status())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The service name given to [`crate::run`].
    pub fn service_name(&self) -> &'static str {
        self.service
    }

    /// Cancelled when SIGTERM or SIGINT arrives: take no new work, finish or hand back what is
    /// in flight (e.g. nak NATS messages) before the grace period ends.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Spawns a task that shutdown waits for (up to the grace period).
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// The tracker behind [`Context::spawn`], for `spawn_blocking` or custom runtimes.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Readiness state (NATS, Kubernetes, shutdown).
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Waits until NATS and the Kubernetes API both answer; false if shutdown came first.
    pub async fn ready(&self) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = self.readiness.wait_ready() => true,
        }
    }

    /// The metrics registry served on `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Kubernetes client (it connects lazily; readiness tells whether the API answers).
    pub fn kube(&self) -> kube::Client {
        self.kube.clone()
    }

    /// The NATS client once the first connection succeeded; `None` if shutdown came first.
    ///
    /// After that the client reconnects by itself; readiness tells whether it is connected.
    pub async fn nats(&self) -> Option<async_nats::Client> {
        let mut rx = self.nats.clone();
        tokio::select! {
            () = self.shutdown.cancelled() => None,
            client = rx.wait_for(Option::is_some) => client.ok().and_then(|c| c.clone()),
        }
    }

    /// A JetStream context over [`Context::nats`].
    pub async fn jetstream(&self) -> Option<async_nats::jetstream::Context> {
        self.nats().await.map(async_nats::jetstream::new)
    }
}
