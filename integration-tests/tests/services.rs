//! The four service binaries against a real nats-server and the Kubernetes API emulator:
//! readiness, SIGTERM, bad configuration and unreachable dependencies.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use ferry_integration_tests::{
    nats::NatsServer,
    otlp::OtlpCollector,
    ports::{free_port, loopback},
    process::ServerProcess,
    service::{RunningService, parse_listening, run_to_exit, service_command},
    wait::{STARTUP_TIMEOUT, wait_for_tcp},
};
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

/// Every service binary.
const SERVICES: [&str; 4] = [
    "source-controller",
    "image-scanner",
    "kustomize-renderer",
    "applier",
];
/// How long a service may take to report ready once its dependencies answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

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
