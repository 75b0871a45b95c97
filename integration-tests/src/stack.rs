//! The whole Ferry stack for the demo and the pipeline benchmark: nats-server, the Kubernetes
//! API (emulator or `KUBECONFIG`), a git smart-HTTP server, a registry, an in-process OTLP
//! collector, and the four Ferry services as child processes.

mod emulator;

pub use emulator::EmulatorProcess;

use crate::cluster::{KubeTarget, workspace_root};
use crate::error::{HarnessError, Result};
use crate::git_http::{Auth, GitHttpServer};
use crate::nats::NatsServer;
use crate::otlp::OtlpCollector;
use crate::registry::Registry;
use crate::service::{RunningService, logged_addr};
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

/// The four services, in start order.
pub const SERVICES: [&str; 4] = [
    "source-controller",
    "kustomize-renderer",
    "applier",
    "image-scanner",
];

/// Where the stack's progress lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Standard output (the demo).
    Stdout,
    /// Standard error (the benchmark, whose standard output is its report).
    Stderr,
}

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Without `KUBECONFIG`: run the emulator as a `kube-emulator` process (true) rather than
    /// inside this process (false), so its memory and CPU are its own.
    pub emulator_process: bool,
    /// For the emulator process: how long its workload controllers take to report a rollout
    /// (`--workload-delay-ms`; `None` keeps the emulator's default of 300 ms).
    pub workload_delay: Option<Duration>,
    /// Have the services export spans to the collector every 200 ms.
    pub traces: bool,
    /// Namespaces to create besides `ferry-system`.
    pub namespaces: Vec<String>,
    /// Where progress lines go.
    pub progress: Progress,
}

impl StackOptions {
    /// The demo's stack: in-process emulator, traces on, `dev` and `prod`, progress on stdout.
    pub fn demo() -> Self {
        Self {
            emulator_process: false,
            workload_delay: None,
            traces: true,
            namespaces: vec!["dev".into(), "prod".into()],
            progress: Progress::Stdout,
        }
    }
}

/// Everything running; dropping it stops it all.
pub struct Stack {
    /// The NATS server the services talk over.
    pub nats: NatsServer,
    /// The Kubernetes API.
    pub kube: KubeTarget,
    /// The emulator process, when [`StackOptions::emulator_process`] asked for one.
    pub emulator: Option<EmulatorProcess>,
    /// The git smart-HTTP server (no auth).
    pub git: GitHttpServer,
    /// The OCI registry.
    pub registry: Registry,
    /// The OTLP collector (receives spans only with [`StackOptions::traces`]).
    pub collector: OtlpCollector,
    /// The services, in [`SERVICES`] order.
    pub services: Vec<RunningService>,
    /// The source-controller's webhook receiver address.
    pub receiver: SocketAddr,
    progress: Progress,
    _dirs: tempfile::TempDir,
}

impl Stack {
    /// The demo's stack ([`StackOptions::demo`]).
    pub async fn start() -> Result<Stack> {
        Self::start_with(StackOptions::demo()).await
    }

    /// Starts the stack and waits until every service reports ready.
    pub async fn start_with(options: StackOptions) -> Result<Stack> {
        let announce = |line: String| say(options.progress, &line);
        let dirs = tempfile::tempdir().map_err(|e| HarnessError::io("creating a temp dir", e))?;
        let nats = NatsServer::start().await?;
        announce(format!("  nats-server        {}", nats.url()));
        let (kube, emulator) = start_kube(&options, dirs.path()).await?;
        match (&emulator, kube.as_emulator()) {
            (Some(process), _) => {
                announce(format!("  kube-emulator      {} (process)", process.url()))
            }
            (None, Some(emulator)) => announce(format!("  kube-emulator      {}", emulator.url())),
            (None, None) => announce("  kubernetes         from KUBECONFIG".into()),
        }
        install_crds(&kube).await?;
        for ns in std::iter::once("ferry-system").chain(options.namespaces.iter().map(|s| &**s)) {
            // An existing namespace (a real cluster) is fine.
            kube.kubectl(&["create", "namespace", ns]).await.ok();
        }
        let git = GitHttpServer::start(Auth::None).await?;
        announce(format!("  git smart-HTTP     {}", git.url()));
        let registry = Registry::start().await?;
        announce(format!("  registry           {}", registry.url()));
        let collector = OtlpCollector::start().await?;
        let services = start_services(&nats, &kube, &collector, &options, dirs.path()).await;
        let line = services[0].wait_for_log("listening storage=", READY).await;
        let receiver = logged_addr(&line, "receiver").ok_or_else(|| {
            HarnessError::Invalid(format!("no receiver address in the log line {line:?}"))
        })?;
        Ok(Stack {
            nats,
            kube,
            emulator,
            git,
            registry,
            collector,
            services,
            receiver,
            progress: options.progress,
            _dirs: dirs,
        })
    }

    /// Prints a progress line where the options said.
    pub fn say(&self, line: &str) {
        say(self.progress, line);
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&RunningService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Every service's log, for a failure report.
    pub fn logs(&self) -> String {
        self.services
            .iter()
            .map(|s| format!("--- {} ---\n{}", s.name, s.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Peak resident memory (`VmHWM`, KiB) of each service process and of the emulator process
    /// when there is one, in [`SERVICES`] order then `kube-emulator`.
    pub fn peak_rss_kib(&self) -> Result<Vec<(&'static str, u64)>> {
        let mut out = Vec::new();
        for service in &self.services {
            out.push((service.name, peak_rss_of(service.name, service.pid())?));
        }
        if let Some(emulator) = &self.emulator {
            out.push((
                "kube-emulator",
                peak_rss_of("kube-emulator", emulator.pid())?,
            ));
        }
        Ok(out)
    }

    /// CPU time (user + system) each process has used so far, in the same order as
    /// [`Stack::peak_rss_kib`].
    pub fn cpu_time(&self) -> Result<Vec<(&'static str, Duration)>> {
        let mut out = Vec::new();
        for service in &self.services {
            out.push((service.name, cpu_time_of(service.name, service.pid())?));
        }
        if let Some(emulator) = &self.emulator {
            out.push((
                "kube-emulator",
                cpu_time_of("kube-emulator", emulator.pid())?,
            ));
        }
        Ok(out)
    }
}

fn say(progress: Progress, line: &str) {
    match progress {
        Progress::Stdout => println!("{line}"),
        Progress::Stderr => eprintln!("{line}"),
    }
}

async fn start_kube(
    options: &StackOptions,
    dir: &std::path::Path,
) -> Result<(KubeTarget, Option<EmulatorProcess>)> {
    let from_env = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
    if from_env || !options.emulator_process {
        return Ok((KubeTarget::start().await?, None));
    }
    let process = EmulatorProcess::start(dir, options.workload_delay).await?;
    let kube = KubeTarget::external(process.kubeconfig().to_path_buf());
    Ok((kube, Some(process)))
}

async fn install_crds(kube: &KubeTarget) -> Result<()> {
    let crds = workspace_root().join("deploy/crds").display().to_string();
    kube.kubectl(&["apply", "--server-side", "-k", &crds])
        .await?;
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    wait.extend_from_slice(CRDS);
    kube.kubectl(&wait).await?;
    Ok(())
}

/// `VmHWM` of process `pid` in KiB, from `/proc/<pid>/status`.
pub fn peak_rss_of(name: &str, pid: Option<u32>) -> Result<u64> {
    let pid = pid.ok_or_else(|| HarnessError::Invalid(format!("{name} is no longer running")))?;
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .map_err(|e| HarnessError::io(format!("reading {path}"), e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| HarnessError::Invalid(format!("no VmHWM line in {path} ({name})")))
}

/// User + system CPU time of process `pid`, from `/proc/<pid>/stat`.
pub fn cpu_time_of(name: &str, pid: Option<u32>) -> Result<Duration> {
    // /proc reports clock ticks of USER_HZ, which the kernel ABI fixes at 100 on Linux.
    const TICKS_PER_SECOND: u64 = 100;
    let pid = pid.ok_or_else(|| HarnessError::Invalid(format!("{name} is no longer running")))?;
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .map_err(|e| HarnessError::io(format!("reading {path}"), e))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start at field 3, so utime and stime (fields 14 and 15) are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok(Duration::from_millis(
            (user + system) * 1000 / TICKS_PER_SECOND,
        )),
        _ => Err(HarnessError::Invalid(format!(
            "no utime/stime in {path} ({name})"
        ))),
    }
}

async fn start_services(
    nats: &NatsServer,
    kube: &KubeTarget,
    collector: &OtlpCollector,
    options: &StackOptions,
    dir: &std::path::Path,
) -> Vec<RunningService> {
    let endpoint = collector.endpoint();
    // Export spans every 200 ms so each step's trace can be shown right after it.
    let env: Vec<(&str, &str)> = if options.traces {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ]
    } else {
        Vec::new()
    };
    let source_cache = dir.join("source-cache").display().to_string();
    let render_cache = dir.join("render-cache").display().to_string();
    let mut services = Vec::new();
    for name in SERVICES {
        let args: Vec<&str> = match name {
            "source-controller" => vec![
                "--storage-addr",
                "127.0.0.1:0",
                "--receiver-addr",
                "127.0.0.1:0",
                "--cache-dir",
                &source_cache,
            ],
            "kustomize-renderer" => vec!["--cache-dir", &render_cache],
            _ => Vec::new(),
        };
        let service =
            RunningService::spawn(name, &nats.url(), kube.kubeconfig(), &args, &env).await;
        service.wait_ready(READY).await;
        say(
            options.progress,
            &format!("  {name:<18} ready (admin http://{})", service.admin),
        );
        services.push(service);
    }
    services
}
