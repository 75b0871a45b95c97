//! A real `nats-server -js` on a free loopback port with its store in a temp dir.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use async_nats::jetstream::context::GetStreamErrorKind;
use tempfile::TempDir;
use tokio::time::{Instant, sleep};

use crate::error::{HarnessError, Result, require_binary};
use crate::ports::{free_port, loopback};
use crate::process::ServerProcess;
use crate::wait::{STARTUP_TIMEOUT, wait_for_tcp_while};

/// The program this helper runs.
pub const BINARY: &str = "nats-server";
/// The Debian package that provides it.
pub const PACKAGE: &str = "nats-server";
/// Attempts at a fresh port when the server fails to come up (the port may be taken).
const START_ATTEMPTS: usize = 3;

/// A `nats-server` with JetStream, listening on 127.0.0.1 only. Dropping it kills the process
/// and removes its store.
#[derive(Debug)]
pub struct NatsServer {
    process: Option<ServerProcess>,
    binary: PathBuf,
    port: u16,
    starts: usize,
    // Declared last: removed after the process is gone.
    dir: TempDir,
}

impl NatsServer {
    /// Starts `nats-server -js -a 127.0.0.1 -p <free port> -sd <temp dir>` and waits until
    /// JetStream answers. Fails with [`HarnessError::MissingBinary`] naming the `nats-server`
    /// package when the program is not installed.
    pub async fn start() -> Result<Self> {
        Self::start_with_binary(BINARY).await
    }

    /// Like [`NatsServer::start`] with another program (a name looked up on `PATH`, or a
    /// path), e.g. a newer nats-server build.
    pub async fn start_with_binary(binary: &str) -> Result<Self> {
        let binary = require_binary(binary, PACKAGE)?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-nats-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the nats-server store dir", e))?;
        let mut server = Self {
            process: None,
            binary,
            port: 0,
            starts: 0,
            dir,
        };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(error) => {
                    server.process = None;
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| HarnessError::Invalid("nats-server never started".into())))
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// The log of the current process.
    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(ServerProcess::log_tail)
            .unwrap_or_default()
    }

    /// Connects a client.
    pub async fn connect(&self) -> Result<async_nats::Client> {
        async_nats::connect(self.url()).await.map_err(|e| {
            HarnessError::io(
                format!("connecting to {}", self.url()),
                std::io::Error::other(e),
            )
        })
    }

    /// Connects a client and returns its JetStream context.
    pub async fn jetstream(&self) -> Result<async_nats::jetstream::Context> {
        Ok(async_nats::jetstream::new(self.connect().await?))
    }

    /// Kills the server and starts it again on the same port and store (JetStream data kept);
    /// connected clients reconnect by themselves.
    pub async fn restart(&mut self) -> Result<()> {
        self.process = None;
        self.spawn_and_wait().await
    }

    async fn spawn_and_wait(&mut self) -> Result<()> {
        self.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("nats-server-{}.log", self.starts));
        let mut command = Command::new(&self.binary);
        command
            .arg("-js")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .arg("-sd")
            .arg(self.store_dir());
        let mut process = ServerProcess::spawn(BINARY, command, &log)?;
        wait_for_tcp_while(loopback(self.port), STARTUP_TIMEOUT, || {
            process.check_alive()
        })
        .await?;
        self.process = Some(process);
        self.wait_for_jetstream(STARTUP_TIMEOUT).await
    }

    async fn wait_for_jetstream(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let js = self.jetstream().await?;
        loop {
            // Any JetStream answer will do; "stream not found" is the expected one.
            match js.get_stream("FERRY_HARNESS_PROBE").await {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(_)) => return Ok(()),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("JetStream on {}; log:\n{}", self.url(), self.log_tail()),
                    timeout: limit,
                });
            }
            sleep(Duration::from_millis(50)).await;
        }
    }
}
