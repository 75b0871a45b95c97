//! In-memory Kubernetes API server emulator for tests and demos.
//!
//! Start one with [`Emulator::start`]; point `kubectl` or kube-rs at it with
//! [`Emulator::kubeconfig_yaml`] / [`Emulator::write_kubeconfig`].

mod crd;
mod crd_validation;
mod defaults;
mod discovery;
mod faults;
mod handlers;
mod openapi;
mod patch;
mod protobuf;
mod resources;
mod selectors;
mod server;
mod status;
mod store;
mod table;
mod util;
mod validation;
mod watch;
mod workloads;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use faults::{FaultKind, FaultRule};
#[doc(hidden)]
pub use openapi::generate as openapi_gen;

/// Annotation that makes the workload stand-in report a failure.
///
/// On a Deployment the value `progress-deadline` yields `Progressing=False`
/// with reason `ProgressDeadlineExceeded`; on a Job any value yields
/// `Failed=True` with reason `BackoffLimitExceeded`; on a StatefulSet or
/// DaemonSet any value keeps the ready/available counts at zero.
pub const FAIL_ANNOTATION: &str = "emulator.ferry.dev/fail";

/// Errors returned by the emulator's library API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address that was requested.
        addr: SocketAddr,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Path that could not be written.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Configuration of an emulator instance.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Delay before the workload stand-in writes controller status. Default 300ms.
    pub workload_delay: Duration,
    /// Number of watch events kept for resuming watches; older versions get 410 Gone.
    pub watch_history: usize,
    /// Maximum accepted request body in bytes (the real server uses 3 MiB).
    pub max_body_bytes: usize,
    /// Interval between watch BOOKMARK events when a client allows them.
    pub bookmark_interval: Duration,
    /// Latency added to every API request.
    pub latency: Duration,
    /// Fraction (0.0..=1.0) of API requests answered with a 500 error.
    pub error_rate: f64,
    /// Tick of the background controllers (GC, namespace termination, workloads).
    pub controller_interval: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            workload_delay: Duration::from_millis(300),
            watch_history: 2000,
            max_body_bytes: 3 * 1024 * 1024,
            bookmark_interval: Duration::from_secs(5),
            latency: Duration::ZERO,
            error_rate: 0.0,
            controller_interval: Duration::from_millis(100),
        }
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<store::Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// Binds the listen address and starts serving the Kubernetes API.
    pub async fn start(config: EmulatorConfig) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let shared = Arc::new(store::Shared::new(config));
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let server_task = tokio::spawn(server::serve(listener, shared.clone(), rx.clone()));
        let controller_task = tokio::spawn(workloads::run_controllers(shared.clone(), rx));
        Ok(Self {
            addr,
            shared,
            shutdown,
            tasks: vec![server_task, controller_task],
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:43211`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig document (context `kube-emulator`, namespace `default`).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_for(&self.url())
    }

    /// Writes [`Emulator::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Adds a fault rule (the same as `POST /emulator/faults`).
    pub fn inject_fault(&self, rule: FaultRule) {
        self.shared.faults.add(rule);
    }

    /// Removes all fault rules and resets latency and error rate to zero.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Sets the latency added to every API request.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults.set_latency(latency);
    }

    /// Sets the fraction of API requests answered with a 500 error.
    pub fn set_error_rate(&self, rate: f64) {
        self.shared.faults.set_error_rate(rate);
    }

    /// Drops the whole watch history: every watch resuming from an older
    /// resourceVersion now gets `410 Gone` (as after etcd compaction).
    pub fn compact(&self) {
        self.shared.compact();
    }

    /// The current (latest) global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.state.lock().store.rv()
    }

    /// Stops the server and its background tasks and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Renders a kubeconfig pointing at `server`.
pub fn kubeconfig_for(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-emulator\n  cluster:\n    server: {server}\ncontexts:\n- name: kube-emulator\n  context:\n    cluster: kube-emulator\n    user: kube-emulator\n    namespace: default\ncurrent-context: kube-emulator\nusers:\n- name: kube-emulator\n  user: {{}}\npreferences: {{}}\n"
    )
}
