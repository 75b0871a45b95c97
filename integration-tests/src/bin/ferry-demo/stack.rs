//! Starts everything the demo runs on: nats-server, the Kubernetes API (emulator or
//! `KUBECONFIG`), a git smart-HTTP server, a registry, an in-process OTLP collector, and the
//! four Ferry services as child processes.

use anyhow::{Context as _, Result};
use ferry_integration_tests::cluster::{KubeTarget, workspace_root};
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::otlp::OtlpCollector;
use ferry_integration_tests::registry::Registry;
use ferry_integration_tests::service::{RunningService, logged_addr};
use std::net::SocketAddr;
use std::time::Duration;

const READY: Duration = Duration::from_secs(60);

const CRDS: &[&str] = &[
    "crd/gitrepositories.source.toolkit.fluxcd.io",
    "crd/kustomizations.kustomize.toolkit.fluxcd.io",
    "crd/receivers.notification.toolkit.fluxcd.io",
    "crd/imagerepositories.image.toolkit.fluxcd.io",
    "crd/imagepolicies.image.toolkit.fluxcd.io",
    "crd/imageupdateautomations.image.toolkit.fluxcd.io",
];

/// Everything running; dropping it stops it all.
pub struct Stack {
    pub nats: NatsServer,
    pub kube: KubeTarget,
    pub git: GitHttpServer,
    pub registry: Registry,
    pub collector: OtlpCollector,
    pub services: Vec<RunningService>,
    pub receiver: SocketAddr,
    pub _dirs: tempfile::TempDir,
}

impl Stack {
    /// Starts the stack and waits until every service reports ready.
    pub async fn start() -> Result<Stack> {
        let nats = NatsServer::start().await.context("starting nats-server")?;
        println!("  nats-server        {}", nats.url());
        let kube = KubeTarget::start()
            .await
            .context("starting the Kubernetes API")?;
        match kube.as_emulator() {
            Some(emulator) => println!("  kube-emulator      {}", emulator.url()),
            None => println!("  kubernetes         from KUBECONFIG"),
        }
        let crds = workspace_root().join("deploy/crds").display().to_string();
        kube.kubectl(&["apply", "--server-side", "-k", &crds])
            .await?;
        let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
        wait.extend_from_slice(CRDS);
        kube.kubectl(&wait).await?;
        for ns in ["ferry-system", "dev", "prod"] {
            kube.kubectl(&["create", "namespace", ns]).await.ok();
        }
        let git = GitHttpServer::start(Auth::None)
            .await
            .context("starting the git server")?;
        println!("  git smart-HTTP     {}", git.url());
        let registry = Registry::start()
            .await
            .context("starting docker-registry")?;
        println!("  registry           {}", registry.url());
        let collector = OtlpCollector::start()
            .await
            .context("starting the OTLP collector")?;
        let dirs = tempfile::tempdir()?;
        let services = start_services(&nats, &kube, &collector, &dirs).await;
        let line = services[0].wait_for_log("listening storage=", READY).await;
        let receiver = logged_addr(&line, "receiver").context("receiver address")?;
        Ok(Stack {
            nats,
            kube,
            git,
            registry,
            collector,
            services,
            receiver,
            _dirs: dirs,
        })
    }

    /// Every service's log, for a failure report.
    pub fn logs(&self) -> String {
        self.services
            .iter()
            .map(|s| format!("--- {} ---\n{}", s.name, s.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn start_services(
    nats: &NatsServer,
    kube: &KubeTarget,
    collector: &OtlpCollector,
    dirs: &tempfile::TempDir,
) -> Vec<RunningService> {
    let endpoint = collector.endpoint();
    // Export spans every 200 ms so each step's trace can be shown right after it.
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    let source_cache = dirs.path().join("source-cache").display().to_string();
    let render_cache = dirs.path().join("render-cache").display().to_string();
    let plans: [(&'static str, Vec<&str>); 4] = [
        (
            "source-controller",
            vec![
                "--storage-addr",
                "127.0.0.1:0",
                "--receiver-addr",
                "127.0.0.1:0",
                "--cache-dir",
                &source_cache,
            ],
        ),
        ("kustomize-renderer", vec!["--cache-dir", &render_cache]),
        ("applier", vec![]),
        ("image-scanner", vec![]),
    ];
    let mut services = Vec::new();
    for (name, args) in plans {
        let service =
            RunningService::spawn(name, &nats.url(), kube.kubeconfig(), &args, &env).await;
        service.wait_ready(READY).await;
        println!("  {name:<18} ready (admin http://{})", service.admin);
        services.push(service);
    }
    services
}
