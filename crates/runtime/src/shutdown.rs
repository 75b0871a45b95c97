//! SIGTERM and SIGINT handling, and draining: stop taking work, finish what is in flight.

use std::{io, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{config::error_chain, grpc::GrpcError, readiness::Readiness, run::BoxError};

/// How long each server and the NATS client may take to stop once the service has drained.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// The termination signals this process listens for.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; from now on the signals no longer kill the process directly.
    pub(crate) fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next signal and returns its name.
    pub(crate) async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Background tasks started next to the service.
pub(crate) struct Tasks {
    pub(crate) admin: JoinHandle<std::io::Result<()>>,
    pub(crate) admin_stop: CancellationToken,
    pub(crate) grpc: JoinHandle<Result<(), GrpcError>>,
    pub(crate) nats: JoinHandle<Option<async_nats::Client>>,
    pub(crate) kube: JoinHandle<()>,
}

/// What draining needs: stop taking work, let in-flight work finish, stop the servers.
pub(crate) struct Drain {
    pub(crate) readiness: Readiness,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) grace: Duration,
}

impl Drain {
    /// Drains and returns the exit code; `early` is the code when `work` already finished.
    pub(crate) async fn run<E: Into<BoxError>>(
        self,
        mut work: JoinHandle<Result<(), E>>,
        early: Option<u8>,
        mut signals: Signals,
        tasks: Tasks,
    ) -> u8 {
        tracing::info!(grace = ?self.grace, "draining");
        self.readiness.set_draining();
        self.shutdown.cancel();
        self.tracker.close();
        let finish = async {
            let code = match early {
                Some(code) => code,
                None => outcome((&mut work).await),
            };
            self.tracker.wait().await;
            code
        };
        let code = tokio::select! {
            result = tokio::time::timeout(self.grace, finish) => result.unwrap_or_else(|_| {
                tracing::warn!(
                    grace = ?self.grace,
                    "in-flight work did not finish within the grace period; abandoning it"
                );
                early.unwrap_or(0)
            }),
            signal = signals.recv() => {
                tracing::warn!(signal, "second signal; abandoning in-flight work");
                early.unwrap_or(0)
            }
        };
        work.abort();
        stop_background(tasks).await;
        code
    }
}

/// Stops the servers and flushes the NATS client, each within a short bound.
async fn stop_background(tasks: Tasks) {
    let bound = STOP_TIMEOUT;
    match tokio::time::timeout(bound, tasks.grpc).await {
        Ok(Ok(Err(error))) => tracing::warn!(error = %error_chain(&error), "gRPC server failed"),
        Err(_) => tracing::warn!("gRPC server did not stop in time"),
        Ok(_) => {}
    }
    if let Ok(Ok(Some(client))) = tokio::time::timeout(bound, tasks.nats).await
        && tokio::time::timeout(STOP_TIMEOUT, client.flush())
            .await
            .map_or(true, |r| r.is_err())
    {
        tracing::warn!("flushing the NATS connection failed");
    }
    tasks.kube.abort();
    tasks.admin_stop.cancel();
    match tokio::time::timeout(bound, tasks.admin).await {
        Ok(Ok(Err(error))) => tracing::warn!(%error, "admin server failed"),
        Err(_) => tracing::warn!("admin server did not stop in time"),
        Ok(_) => {}
    }
}

/// The exit code for the service's result, logging failures.
pub(crate) fn outcome<E: Into<BoxError>>(
    result: Result<Result<(), E>, tokio::task::JoinError>,
) -> u8 {
    match result {
        Ok(Ok(())) => 0,
        Ok(Err(err)) => {
            let err: BoxError = err.into();
            tracing::error!(error = %error_chain(err.as_ref()), "service failed");
            crate::run::EXIT_FAILURE
        }
        Err(join) if join.is_panic() => {
            tracing::error!("service panicked");
            crate::run::EXIT_FAILURE
        }
        Err(_) => 0,
    }
}
