//! One call per service: configure, start, serve, drain and exit.

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use ferry_bus::Topology;
use tokio::{net::TcpListener, sync::watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use crate::{
    admin::{self, AdminState},
    config::{Config, KubeSource, RuntimeArgs, error_chain},
    connect,
    context::Context,
    exit::{self, UsageError},
    grpc::{self, GrpcServices},
    metrics::Metrics,
    readiness::Readiness,
    shutdown::{self, Drain, Signals, Tasks},
    telemetry,
};

/// Exit code for failures after start-up (a service error, a panic, a port in use).
pub(crate) const EXIT_FAILURE: u8 = 1;
/// How long the span exporter may take to flush at exit.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// A service's error type: anything that converts into a boxed error (including `anyhow`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

type GrpcSetup = Box<dyn FnOnce(&Context, &mut GrpcServices) + Send>;

/// Runs `main` as service `service` with the runtime flags `args`; see [`Builder::run`].
pub fn run<F, Fut, E>(service: &'static str, args: RuntimeArgs, main: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    Builder::new(service, args).run(main)
}

/// Configures one service process.
pub struct Builder {
    service: &'static str,
    version: &'static str,
    args: RuntimeArgs,
    topology: Topology,
    grpc: Vec<GrpcSetup>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("service", &self.service)
            .field("version", &self.version)
            .field("args", &self.args)
            .field("streams", &self.topology.streams.len())
            .field("grpc", &self.grpc.len())
            .finish()
    }
}

impl Builder {
    /// A service named `service` (used in logs, metrics and as the OpenTelemetry service name).
    pub fn new(service: &'static str, args: RuntimeArgs) -> Self {
        Self {
            service,
            version: env!("CARGO_PKG_VERSION"),
            args,
            topology: ferry_bus::topology::ferry(),
            grpc: Vec::new(),
        }
    }

    /// The bus topology created (idempotently) after every NATS (re)connect; default: Ferry's
    /// whole topology, [`ferry_bus::topology::ferry`].
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    /// The version logged at start and reported in `ferry_build_info` (default: the workspace's).
    pub fn version(mut self, version: &'static str) -> Self {
        self.version = version;
        self
    }

    /// Adds the service's own gRPC services, built from the context before serving starts.
    pub fn grpc(
        mut self,
        setup: impl FnOnce(&Context, &mut GrpcServices) + Send + 'static,
    ) -> Self {
        self.grpc.push(Box::new(setup));
        self
    }

    /// Runs the service and returns the process exit code.
    ///
    /// 1. Checks the configuration before any runtime exists; on error prints one line and
    ///    returns 64.
    /// 2. Starts the Tokio runtime, telemetry, the admin and gRPC servers, and the NATS and
    ///    Kubernetes connections (retried forever; readiness reports them).
    /// 3. Runs `main` until it returns or SIGTERM/SIGINT arrives.
    /// 4. On a signal: readiness turns 503/NOT_SERVING, [`Context::shutdown`] is cancelled, and
    ///    `main` plus the tasks from [`Context::spawn`] get the grace period to finish
    ///    (a second signal stops waiting). Then spans are flushed and the code is 0, or 1 when
    ///    `main` failed or panicked.
    pub fn run<F, Fut, E>(self, main: F) -> ExitCode
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let config = match Config::from_args(self.args) {
            Ok(config) => config,
            Err(err) => return exit::usage_exit(&err),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(self.service)
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                eprintln!("error: starting the Tokio runtime: {err}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let spec = Spec {
            service: self.service,
            version: self.version,
            topology: self.topology,
            grpc: self.grpc,
        };
        let code = runtime.block_on(serve(spec, config, main));
        runtime.shutdown_timeout(Duration::from_secs(1));
        ExitCode::from(code)
    }
}

struct Spec {
    service: &'static str,
    version: &'static str,
    topology: Topology,
    grpc: Vec<GrpcSetup>,
}

async fn serve<F, Fut, E>(spec: Spec, config: Config, main: F) -> u8
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    let Spec {
        service,
        version,
        topology,
        grpc: grpc_setup,
    } = spec;
    let telemetry = match telemetry::init(
        service,
        version,
        config.log_format,
        &config.log_filter,
        &config.telemetry,
    ) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            let err = UsageError::invalid(
                "OTEL_EXPORTER_OTLP_* variables",
                config.telemetry.endpoint.clone().unwrap_or_default(),
                "a reachable OTLP/gRPC endpoint configuration",
            )
            .with_cause(error_chain(&err));
            eprintln!("error: {err}");
            return exit::EX_USAGE;
        }
    };
    tracing::info!(
        service,
        version,
        pid = std::process::id(),
        otlp_export = telemetry.exporting(),
        "starting {service} {version}"
    );
    let code = start_and_serve(service, version, topology, grpc_setup, &config, main).await;
    tracing::info!(code, "stopped");
    telemetry.shutdown(FLUSH_TIMEOUT).await;
    code
}

async fn start_and_serve<F, Fut, E>(
    service: &'static str,
    version: &'static str,
    topology: Topology,
    grpc_setup: Vec<GrpcSetup>,
    config: &Config,
    main: F,
) -> u8
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    let Prepared {
        mut signals,
        kube,
        admin,
        grpc,
    } = match prepare(config).await {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let readiness = Readiness::new();
    let metrics = Metrics::new(
        service,
        version,
        readiness.clone(),
        tokio::runtime::Handle::current(),
    );
    let shutdown = CancellationToken::new();
    let (nats_tx, nats_rx) = watch::channel(None);
    let ctx = Context {
        service,
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
        readiness: readiness.clone(),
        metrics: metrics.clone(),
        kube: kube.clone(),
        nats: nats_rx,
    };
    let mut services = GrpcServices::default();
    for setup in grpc_setup {
        setup(&ctx, &mut services);
    }

    let admin_stop = CancellationToken::new();
    let admin_state = AdminState {
        readiness: readiness.clone(),
        metrics: metrics.clone(),
    };
    let tasks = Tasks {
        admin: tokio::spawn(admin::serve(
            admin,
            admin_state,
            admin_stop.clone().cancelled_owned(),
        )),
        admin_stop,
        grpc: tokio::spawn(grpc::serve(
            grpc,
            services,
            readiness.clone(),
            shutdown.clone().cancelled_owned(),
        )),
        nats: tokio::spawn(connect::run_nats(
            service,
            config.nats.clone(),
            topology,
            readiness.clone(),
            metrics.clone(),
            shutdown.clone(),
            nats_tx,
        )),
        kube: tokio::spawn(connect::watch_kubernetes(
            kube,
            readiness.clone(),
            metrics,
            shutdown.clone(),
        )),
    };

    let drain = Drain {
        readiness,
        shutdown,
        tracker: ctx.tracker.clone(),
        grace: config.shutdown_grace,
    };
    let mut work = tokio::spawn(main(ctx));
    let (reason, early) = tokio::select! {
        signal = signals.recv() => (signal, None),
        result = &mut work => ("service finished", Some(shutdown::outcome(result))),
    };
    let span = tracing::info_span!("shutdown", service, reason);
    drain
        .run(work, early, signals, tasks)
        .instrument(span)
        .await
}

/// Signal handlers, the Kubernetes client and the bound listeners.
struct Prepared {
    signals: Signals,
    kube: kube::Client,
    admin: TcpListener,
    grpc: TcpListener,
}

/// Everything that can fail before serving starts; the error is the exit code.
async fn prepare(config: &Config) -> Result<Prepared, u8> {
    let signals = Signals::install().map_err(|error| {
        tracing::error!(%error, "installing signal handlers failed");
        EXIT_FAILURE
    })?;
    let kube = connect::kube_client(&config.kube).await.map_err(|err| {
        let name = match &config.kube {
            KubeSource::Kubeconfig { .. } => "--kubeconfig or KUBECONFIG",
            KubeSource::InCluster => "in-cluster service account (KUBERNETES_SERVICE_HOST)",
        };
        let err = UsageError::invalid(
            name,
            kube_source_label(&config.kube),
            "a usable Kubernetes client configuration",
        )
        .with_cause(error_chain(&err));
        tracing::error!(error = %err, "bad Kubernetes configuration");
        eprintln!("error: {err}");
        exit::EX_USAGE
    })?;
    let (admin, admin_addr) = bind(config.admin_addr, "--admin-addr").await?;
    let (grpc, grpc_addr) = bind(config.grpc_addr, "--grpc-addr").await?;
    tracing::info!(
        admin = %admin_addr,
        grpc = %grpc_addr,
        "listening admin={admin_addr} grpc={grpc_addr}"
    );
    Ok(Prepared {
        signals,
        kube,
        admin,
        grpc,
    })
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<(TcpListener, SocketAddr), u8> {
    let bound = TcpListener::bind(addr)
        .await
        .and_then(|l| l.local_addr().map(|a| (l, a)));
    bound.map_err(|error| {
        tracing::error!(%addr, %error, "cannot listen on {flag} {addr}");
        eprintln!("error: cannot listen on {flag} {addr}: {error}");
        EXIT_FAILURE
    })
}

fn kube_source_label(source: &KubeSource) -> String {
    match source {
        KubeSource::Kubeconfig { paths, .. } => paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
        KubeSource::InCluster => "in-cluster".to_owned(),
    }
}
