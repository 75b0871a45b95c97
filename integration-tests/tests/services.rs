//! The four service binaries against a real nats-server and the Kubernetes API emulator:
//! readiness, SIGTERM, bad configuration and unreachable dependencies.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use ferry_integration_tests::{
    nats::NatsServer,
    otlp::OtlpCollector,
    ports::{free_port, loopback},
    process::ServerProcess,
    wait::{STARTUP_TIMEOUT, wait_for_tcp},
};
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::watch,
    time::{Instant, sleep, timeout},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Every service binary.
const SERVICES: [&str; 4] = [
    "source-controller",
    "image-scanner",
    "kustomize-renderer",
    "applier",
];
/// How long a service may take to report ready once its dependencies answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SIGTERM may take to stop a service.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// How long an unreachable dependency is watched before the test moves on.
const NOT_READY_WATCH: Duration = Duration::from_secs(4);

/// The service binary next to this test's executable (`target/<profile>/<name>`).
fn service_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    // target/<profile>/deps/services-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "service binary {} is missing: build it with `cargo build -p {name}` \
         (`cargo test --workspace` and `cargo nextest run --workspace` build every binary)",
        path.display()
    );
    path
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A command for service `name` with a clean environment (no inherited KUBECONFIG, OTEL_*).
fn service_command(name: &str) -> Command {
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
async fn run_to_exit(mut command: Command) -> (ExitStatus, String) {
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
struct RunningService {
    name: &'static str,
    child: Child,
    lines: watch::Receiver<Vec<String>>,
    admin: SocketAddr,
    grpc: SocketAddr,
    http: reqwest::Client,
}

impl RunningService {
    /// Starts `name` against `nats_url` and `kubeconfig` on free loopback ports and waits for its
    /// `listening` line.
    async fn start(name: &'static str, nats_url: &str, kubeconfig: &Path) -> Self {
        Self::start_with_env(name, nats_url, kubeconfig, &[]).await
    }

    /// Like [`RunningService::start`], with extra environment variables.
    async fn start_with_env(
        name: &'static str,
        nats_url: &str,
        kubeconfig: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        install_crypto();
        let mut command = service_command(name);
        command
            .envs(env.iter().copied())
            .args(["--admin-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
            .args(["--nats-url", nats_url, "--shutdown-grace", "3s"])
            .arg("--kubeconfig")
            .arg(kubeconfig);
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

    fn logs(&self) -> String {
        self.lines.borrow().join("\n")
    }

    async fn get(&self, path: &str) -> (u16, String) {
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

    async fn readyz(&self) -> (u16, Value) {
        let (status, body) = self.get("/readyz").await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{} /readyz is not JSON ({e}): {body}", self.name));
        (status, json)
    }

    async fn grpc_health(&self) -> Result<ServingStatus, String> {
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
    async fn wait_ready(&self, limit: Duration) {
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
    async fn assert_not_ready_because(&mut self, dependency: &str) {
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
    async fn terminate(mut self) -> (ExitStatus, Duration, String) {
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
    async fn stop_cleanly(self) {
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
fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
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

/// The emulator with its kubeconfig written into `dir`.
async fn emulator(dir: &Path, listen: SocketAddr) -> (Emulator, PathBuf) {
    let emulator = Emulator::start(EmulatorConfig {
        listen,
        ..EmulatorConfig::default()
    })
    .await
    .expect("Kubernetes API emulator starts");
    let path = dir.join("kubeconfig");
    emulator
        .write_kubeconfig(&path)
        .expect("kubeconfig is written");
    (emulator, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_reports_ready_and_stops_on_sigterm() {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_emulator, kubeconfig) = emulator(dir.path(), loopback(0)).await;

    let mut running = Vec::new();
    for name in SERVICES {
        running.push(RunningService::start(name, &nats.url(), &kubeconfig).await);
    }
    for service in &running {
        service.wait_ready(READY_TIMEOUT).await;
        let (status, body) = service.get("/healthz").await;
        assert_eq!(status, 200, "{} /healthz: {body}", service.name);
        let (status, metrics) = service.get("/metrics").await;
        assert_eq!(status, 200, "{} /metrics", service.name);
        assert!(
            metrics.contains(&format!("ferry_build_info{{service=\"{}\"", service.name)),
            "{} /metrics lacks build info:\n{metrics}",
            service.name
        );
        assert!(
            metrics.contains("ferry_ready{dependency=\"service\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("process_resident_memory_bytes"),
            "{metrics}"
        );
    }
    for service in running {
        service.stop_cleanly().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_value_exits_64_with_one_line_naming_the_flag() {
    for name in SERVICES {
        let mut command = service_command(name);
        command.args(["--admin-addr", "nowhere"]);
        let (status, stderr) = run_to_exit(command).await;
        assert_eq!(status.code(), Some(64), "{name}: {stderr}");
        let stderr = stderr.trim_end();
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name} printed more than one line:\n{stderr}"
        );
        assert!(stderr.contains("--admin-addr"), "{name}: {stderr}");
        assert!(stderr.contains("FERRY_ADMIN_ADDR"), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_environment_and_missing_kubeconfig_exit_64() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kube_emulator::kubeconfig_for("http://127.0.0.1:1"),
    )
    .expect("kubeconfig is written");

    let mut command = service_command("applier");
    command
        .env("FERRY_SHUTDOWN_GRACE", "soon")
        .arg("--kubeconfig")
        .arg(&kubeconfig);
    let (status, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("FERRY_SHUTDOWN_GRACE"), "{stderr}");

    // No flag, no KUBECONFIG, no HOME, not in a pod: nothing to talk to.
    let (status, stderr) = run_to_exit(service_command("applier")).await;
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("KUBECONFIG"), "{stderr}");

    let mut command = service_command("applier");
    command.env("KUBECONFIG", dir.path().join("absent"));
    let (status, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("KUBECONFIG"), "{stderr}");

    let mut command = service_command("applier");
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")
        .arg("--kubeconfig")
        .arg(&kubeconfig);
    let (status, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_unreachable_keeps_the_service_alive_and_not_ready_until_it_appears() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_emulator, kubeconfig) = emulator(dir.path(), loopback(0)).await;
    let port = free_port().expect("free port");
    let url = format!("nats://127.0.0.1:{port}");

    let mut service = RunningService::start("kustomize-renderer", &url, &kubeconfig).await;
    service.assert_not_ready_because("nats").await;

    let mut command = std::process::Command::new(ferry_integration_tests::nats::BINARY);
    command
        .arg("-js")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .arg("-sd")
        .arg(dir.path().join("jetstream"));
    let _nats = ServerProcess::spawn("nats-server", command, &dir.path().join("nats.log"))
        .expect("nats-server starts");
    wait_for_tcp(loopback(port), STARTUP_TIMEOUT)
        .await
        .expect("nats-server accepts connections");

    service.wait_ready(READY_TIMEOUT).await;
    service.stop_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_unreachable_means_not_ready_until_it_answers() {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("free port");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kube_emulator::kubeconfig_for(&format!("http://127.0.0.1:{port}")),
    )
    .expect("kubeconfig is written");

    let mut service = RunningService::start("image-scanner", &nats.url(), &kubeconfig).await;
    service.assert_not_ready_because("kubernetes").await;

    let (_emulator, _) = emulator(dir.path(), loopback(port)).await;
    service.wait_ready(READY_TIMEOUT).await;
    service.stop_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_and_json_logs_carry_their_trace_ids() {
    let collector = OtlpCollector::start().await.expect("OTLP collector starts");
    let nats = NatsServer::start().await.expect("nats-server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_emulator, kubeconfig) = emulator(dir.path(), loopback(0)).await;

    let service = RunningService::start_with_env(
        "source-controller",
        &nats.url(),
        &kubeconfig,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint())],
    )
    .await;
    let (status, _, logs) = service.terminate().await;
    assert_eq!(status.code(), Some(0), "{logs}");

    // The shutdown span is flushed before the process exits.
    let span = collector
        .wait_for_span("shutdown", Duration::from_secs(5))
        .await
        .expect("the shutdown span reaches the collector");
    assert_eq!(span.service_name.as_deref(), Some("source-controller"));
    assert_eq!(span.attribute("reason"), Some("SIGTERM"));

    let draining: Value = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "draining")
        .unwrap_or_else(|| panic!("no JSON draining line in:\n{logs}"));
    assert_eq!(draining["trace_id"], span.trace_id.as_str(), "{draining}");
    assert_eq!(draining["span_id"], span.span_id.as_str(), "{draining}");
}

#[test]
fn listening_line_parses_in_both_log_formats() {
    let json =
        r#"{"message":"listening admin=127.0.0.1:1 grpc=127.0.0.1:2","admin":"127.0.0.1:1"}"#;
    let text = "INFO ferry_runtime::run: listening admin=127.0.0.1:1 grpc=127.0.0.1:2 admin=x";
    for line in [json, text] {
        assert_eq!(
            parse_listening(line),
            Some((loopback(1), loopback(2))),
            "{line}"
        );
    }
}
