//! Service binaries as child processes: started on free loopback ports against a NATS URL and
//! a kubeconfig, their output collected, readiness polled, stopped with SIGTERM or SIGKILL.

use crate::wait::STARTUP_TIMEOUT;
use serde_json::Value;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::watch,
    time::{Instant, sleep, timeout},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long SIGTERM may take to stop a service.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);
/// How long an unreachable dependency is watched before the test moves on.
pub const NOT_READY_WATCH: Duration = Duration::from_secs(4);

/// The service binary next to this test's executable (`target/<profile>/<name>`).
pub fn service_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    // A test runs from target/<profile>/deps/, a harness binary (the demo) from
    // target/<profile>/; the services live in target/<profile>/ either way.
    let exe_dir = exe.parent().expect("executable has a directory");
    let dir = if exe_dir.ends_with("deps") {
        exe_dir.parent().unwrap_or(exe_dir)
    } else {
        exe_dir
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "service binary {} is missing: build it with `cargo build -p {name}` \
         (`cargo test --workspace` and `cargo nextest run --workspace` build every binary)",
        path.display()
    );
    path
}

/// Installs the ring TLS provider once (gRPC and HTTP clients need a provider).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A command for service `name` with a clean environment (no inherited KUBECONFIG, OTEL_*).
pub fn service_command(name: &str) -> Command {
    let mut command = Command::new(service_binary(name));
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs service `name` to completion; returns its exit status and standard error.
pub async fn run_to_exit(mut command: Command) -> (ExitStatus, String) {
    let output = timeout(Duration::from_secs(10), command.output())
        .await
        .expect("service exits on bad configuration")
        .expect("service starts");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running service binary whose output is collected line by line.
pub struct RunningService {
    /// The binary name.
    pub name: &'static str,
    child: Child,
    lines: watch::Receiver<Vec<String>>,
    /// The admin (metrics, health) address.
    pub admin: SocketAddr,
    /// The gRPC address.
    pub grpc: SocketAddr,
    http: reqwest::Client,
}

impl RunningService {
    /// Starts `name` against `nats_url` and `kubeconfig` on free loopback ports and waits for its
    /// `listening` line.
    pub async fn start(name: &'static str, nats_url: &str, kubeconfig: &Path) -> Self {
        Self::start_with_env(name, nats_url, kubeconfig, &[]).await
    }

    /// Like [`RunningService::start`], with extra environment variables.
    pub async fn start_with_env(
        name: &'static str,
        nats_url: &str,
        kubeconfig: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(name, nats_url, kubeconfig, &[], env).await
    }

    /// Starts `name` with extra arguments and environment variables.
    pub async fn spawn(
        name: &'static str,
        nats_url: &str,
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn_command(name, service_command(name), nats_url, kubeconfig, args, env).await
    }

    async fn spawn_command(
        name: &'static str,
        mut command: Command,
        nats_url: &str,
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        install_crypto();
        command
            .envs(env.iter().copied())
            .args(["--admin-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
            .args(["--nats-url", nats_url, "--shutdown-grace", "3s"])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args);
        let mut child = command.spawn().expect("service starts");
        let (tx, mut lines) = watch::channel(Vec::new());
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, tx));
        }
        let listening = timeout(
            STARTUP_TIMEOUT,
            lines.wait_for(|l| l.iter().any(|line| line.contains("listening admin="))),
        )
        .await
        .unwrap_or_else(|_| panic!("{name} never logged its addresses"))
        .unwrap_or_else(|_| panic!("{name} exited before listening"))
        .iter()
        .find_map(|line| parse_listening(line))
        .unwrap_or_else(|| panic!("{name} logged an unreadable listening line"));
        Self {
            name,
            child,
            lines,
            admin: listening.0,
            grpc: listening.1,
            http: reqwest::Client::new(),
        }
    }

    /// Everything the process printed so far, one line per entry.
    pub fn logs(&self) -> String {
        self.lines.borrow().join("\n")
    }

    /// `GET` on the admin address; returns status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("http://{}{path}", self.admin))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} GET {path}: {e}\n{}", self.name, self.logs()));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        (status, body)
    }

    /// `/readyz` as status and JSON.
    pub async fn readyz(&self) -> (u16, Value) {
        let (status, body) = self.get("/readyz").await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{} /readyz is not JSON ({e}): {body}", self.name));
        (status, json)
    }

    /// The `grpc.health.v1` status of the whole server.
    pub async fn grpc_health(&self) -> Result<ServingStatus, String> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let mut client = HealthClient::new(channel);
        let response = client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(response.into_inner().status())
    }

    /// Waits until `/readyz` answers 200 and gRPC health says SERVING.
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.readyz().await;
            if status == 200 && self.grpc_health().await == Ok(ServingStatus::Serving) {
                assert_eq!(body["ready"], true, "{body}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready after {limit:?}: {status} {body}\n{}",
                self.name,
                self.logs()
            );
            sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asserts for a while that the service stays alive and not ready because of `dependency`.
    pub async fn assert_not_ready_because(&mut self, dependency: &str) {
        let deadline = Instant::now() + NOT_READY_WATCH;
        while Instant::now() < deadline {
            let (status, body) = self.readyz().await;
            assert_eq!(status, 503, "{} must not be ready: {body}", self.name);
            assert_eq!(body["ready"], false, "{body}");
            let not_ready = body["not_ready"].as_array().cloned().unwrap_or_default();
            assert!(
                not_ready.iter().any(|d| d == dependency),
                "{} must name {dependency} as not ready: {body}",
                self.name
            );
            assert_eq!(
                self.grpc_health().await,
                Ok(ServingStatus::NotServing),
                "{} gRPC health",
                self.name
            );
            assert!(
                self.child.try_wait().ok().flatten().is_none(),
                "{} exited while {dependency} was unreachable:\n{}",
                self.name,
                self.logs()
            );
            sleep(Duration::from_millis(500)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(mut self) -> (ExitStatus, Duration, String) {
        let pid = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw)
            .expect("service still running");
        let started = Instant::now();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
        let status = timeout(Duration::from_secs(15), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} ignored SIGTERM:\n{}", self.name, self.logs()))
            .expect("wait for the service");
        let elapsed = started.elapsed();
        // Let the output readers see end-of-file.
        sleep(Duration::from_millis(50)).await;
        (status, elapsed, self.logs())
    }

    /// SIGTERM, then exit code 0 within [`STOP_LIMIT`].
    pub async fn stop_cleanly(self) {
        let name = self.name;
        let (status, elapsed, logs) = self.terminate().await;
        assert_eq!(status.code(), Some(0), "{name} exit status\n{logs}");
        assert!(
            elapsed < STOP_LIMIT,
            "{name} took {elapsed:?} to stop\n{logs}"
        );
    }
}

async fn collect(stream: impl AsyncRead + Unpin, tx: watch::Sender<Vec<String>>) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        tx.send_modify(|lines| lines.push(line));
    }
}

/// Reads `listening admin=A grpc=B` out of a log line (JSON or text).
pub fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = &line[line.find("listening admin=")? + "listening admin=".len()..];
    let field = |s: &str| -> Option<SocketAddr> {
        s.split(|c: char| c.is_whitespace() || c == '"')
            .next()?
            .parse()
            .ok()
    };
    let admin = field(rest)?;
    let grpc = field(&rest[rest.find("grpc=")? + "grpc=".len()..])?;
    Some((admin, grpc))
}

impl RunningService {
    /// Starts `name` with extra command-line arguments (after the common ones).
    pub async fn start_with_args(
        name: &'static str,
        nats_url: &str,
        kubeconfig: &Path,
        args: &[&str],
    ) -> Self {
        Self::spawn(name, nats_url, kubeconfig, args, &[]).await
    }

    /// Starts the service binary at `binary` (e.g. a release build, for benchmarks) like
    /// [`RunningService::start_with_args`].
    pub async fn start_binary_with_args(
        name: &'static str,
        binary: &Path,
        nats_url: &str,
        kubeconfig: &Path,
        args: &[&str],
    ) -> Self {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Self::spawn_command(name, command, nats_url, kubeconfig, args, &[]).await
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub async fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let mut lines = self.lines.clone();
        let found = timeout(
            limit,
            lines.wait_for(|l| l.iter().any(|line| line.contains(needle))),
        )
        .await
        .unwrap_or_else(|_| panic!("{} never logged {needle:?}:\n{}", self.name, self.logs()))
        .unwrap_or_else(|_| panic!("{} exited before logging {needle:?}", self.name))
        .iter()
        .find(|line| line.contains(needle))
        .cloned();
        found.unwrap_or_default()
    }

    /// Kills the process with SIGKILL (no chance to hand work back) and waits for it.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The value of `key=ADDR` in a log line (JSON or text), e.g. `storage=127.0.0.1:4000`.
pub fn logged_addr(line: &str, key: &str) -> Option<SocketAddr> {
    let needle = format!("{key}=");
    let rest = &line[line.find(&needle)? + needle.len()..];
    rest.split(|c: char| c.is_whitespace() || c == '"')
        .next()?
        .parse()
        .ok()
}
