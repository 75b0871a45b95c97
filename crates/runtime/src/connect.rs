//! Connections to NATS and the Kubernetes API, retried with backoff and never fatal.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::connection::State;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use ferry_bus::Topology;
use kube::config::KubeConfigOptions;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{KubeSource, NatsUrls, error_chain},
    metrics::Metrics,
    readiness::{Dependency, Readiness},
};

/// How often a healthy dependency is checked again.
const CHECK_PERIOD: Duration = Duration::from_secs(2);
/// How long one Kubernetes `/version` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long creating the bus topology may take.
const ENSURE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one NATS connection attempt may take.
const NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Failure to build a Kubernetes client from valid-looking configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeConfigError {
    /// The kubeconfig names no usable context, cluster or user.
    #[error("loading the kubeconfig")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// The pod's service account files are missing or unreadable.
    #[error("loading the in-cluster service account")]
    InCluster(#[source] kube::config::InClusterError),
    /// The client could not be built (for example bad TLS material).
    #[error("building the Kubernetes client")]
    Client(#[source] kube::Error),
}

/// Builds the Kubernetes client; it connects lazily, so this does no network I/O.
pub(crate) async fn kube_client(source: &KubeSource) -> Result<kube::Client, KubeConfigError> {
    let config = match source {
        KubeSource::Kubeconfig { config, .. } => {
            kube::Config::from_custom_kubeconfig((**config).clone(), &KubeConfigOptions::default())
                .await
                .map_err(KubeConfigError::Kubeconfig)?
        }
        KubeSource::InCluster => kube::Config::incluster().map_err(KubeConfigError::InCluster)?,
    };
    kube::Client::try_from(config).map_err(KubeConfigError::Client)
}

/// Exponential backoff from 250 ms to 10 s with jitter, forever.
fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(10))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps for `delay`; false when shutdown came first.
async fn pause(shutdown: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Probes the Kubernetes API until shutdown, keeping readiness up to date.
pub(crate) async fn watch_kubernetes(
    client: kube::Client,
    readiness: Readiness,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let mut retry = backoff();
    let mut failures = 0u64;
    loop {
        let probe = tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await;
        let delay = match probe {
            Ok(Ok(info)) => {
                if failures > 0 || !readiness.status().kubernetes.ready {
                    tracing::info!(version = %info.git_version, "Kubernetes API answers");
                }
                failures = 0;
                retry = backoff();
                readiness.set(
                    Dependency::Kubernetes,
                    true,
                    format!("API server {}", info.git_version),
                );
                CHECK_PERIOD
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => error_chain(&e),
                    _ => format!("no answer within {PROBE_TIMEOUT:?}"),
                };
                failures += 1;
                metrics.connect_failed(Dependency::Kubernetes);
                readiness.set(Dependency::Kubernetes, false, error.clone());
                let delay = retry.next().unwrap_or(CHECK_PERIOD);
                tracing::warn!(%error, attempt = failures, retry_in = ?delay, "Kubernetes API unreachable");
                delay
            }
        };
        if !pause(&shutdown, delay).await {
            return;
        }
    }
}

/// Connects to NATS (retrying forever), creates the bus `topology`, keeps readiness up to date,
/// and publishes the client on `client_tx`. Returns the client, if any, once shutdown begins so the caller can flush it.
pub(crate) async fn run_nats(
    service: &'static str,
    urls: NatsUrls,
    topology: Topology,
    readiness: Readiness,
    metrics: Metrics,
    shutdown: CancellationToken,
    client_tx: watch::Sender<Option<async_nats::Client>>,
) -> Option<async_nats::Client> {
    let events = Arc::new(ConnectionEvents::default());
    let client = connect_nats(service, &urls, &readiness, &metrics, &shutdown, &events).await?;
    tracing::info!(servers = %urls, "connected to NATS");
    client_tx.send_replace(Some(client.clone()));
    monitor_nats(&client, &topology, &readiness, &metrics, &shutdown, &events).await;
    Some(client)
}

/// What the NATS event callback tells the monitor.
#[derive(Debug, Default)]
struct ConnectionEvents {
    /// Woken on every connection event.
    wake: Notify,
    /// Counts (re)connections, so a reconnect between two checks is not missed.
    connects: AtomicU64,
}

async fn connect_nats(
    service: &'static str,
    urls: &NatsUrls,
    readiness: &Readiness,
    metrics: &Metrics,
    shutdown: &CancellationToken,
    events: &Arc<ConnectionEvents>,
) -> Option<async_nats::Client> {
    let mut retry = backoff();
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        let events = events.clone();
        let options = async_nats::ConnectOptions::new()
            .name(service)
            .connection_timeout(NATS_CONNECT_TIMEOUT)
            .max_reconnects(None)
            .event_callback(move |event| {
                let events = events.clone();
                async move {
                    tracing::debug!(%event, "NATS connection event");
                    if matches!(event, async_nats::Event::Connected) {
                        events.connects.fetch_add(1, Ordering::SeqCst);
                    }
                    events.wake.notify_one();
                }
            });
        let connect = options.connect(urls.addrs().to_vec());
        let error = tokio::select! {
            () = shutdown.cancelled() => return None,
            result = connect => match result {
                Ok(client) => return Some(client),
                Err(e) => error_chain(&e),
            },
        };
        metrics.connect_failed(Dependency::Nats);
        readiness.set(
            Dependency::Nats,
            false,
            format!("connecting to {urls}: {error}"),
        );
        let delay = retry.next().unwrap_or(CHECK_PERIOD);
        tracing::warn!(servers = %urls, %error, attempt, retry_in = ?delay, "NATS unreachable");
        if !pause(shutdown, delay).await {
            return None;
        }
    }
}

/// Watches the connection state; after every (re)connect, checks JetStream and the bus topology.
async fn monitor_nats(
    client: &async_nats::Client,
    topology: &Topology,
    readiness: &Readiness,
    metrics: &Metrics,
    shutdown: &CancellationToken,
    events: &ConnectionEvents,
) {
    // The connection the topology was ensured on, and the readiness detail it gave.
    let mut prepared: Option<(u64, String)> = None;
    let mut retry = backoff();
    loop {
        let mut delay = CHECK_PERIOD;
        let connection = events.connects.load(Ordering::SeqCst);
        match (client.connection_state(), &prepared) {
            (State::Connected, Some((on, detail))) if *on == connection => {
                readiness.set(Dependency::Nats, true, detail.clone());
            }
            (State::Connected, _) => match prepare(client, topology).await {
                Ok(detail) => {
                    retry = backoff();
                    tracing::info!(%detail, "NATS ready");
                    readiness.set(Dependency::Nats, true, detail.clone());
                    prepared = Some((connection, detail));
                }
                Err(error) => {
                    metrics.connect_failed(Dependency::Nats);
                    readiness.set(Dependency::Nats, false, error.clone());
                    delay = retry.next().unwrap_or(CHECK_PERIOD);
                    tracing::warn!(%error, retry_in = ?delay, "NATS connected but not usable");
                }
            },
            (state, _) => {
                if prepared.take().is_some() {
                    tracing::warn!(?state, "lost the NATS connection; reconnecting");
                }
                // JetStream is checked again after reconnecting: the server may have lost its store.
                readiness.set(
                    Dependency::Nats,
                    false,
                    format!("connection {state:?}, reconnecting"),
                );
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = events.wake.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Creates or updates the bus topology (streams, consumers, buckets) through JetStream.
async fn prepare(client: &async_nats::Client, topology: &Topology) -> Result<String, String> {
    let jetstream = async_nats::jetstream::new(client.clone());
    tokio::time::timeout(ENSURE_TIMEOUT, ferry_bus::ensure(&jetstream, topology))
        .await
        .map_err(|_| format!("JetStream gave no answer within {ENSURE_TIMEOUT:?}"))?
        .map_err(|e| format!("bus topology: {}", error_chain(&e)))?;
    Ok(format!(
        "connected, bus topology in place ({} streams, {} consumers)",
        topology.streams.len(),
        topology.consumers.len()
    ))
}
