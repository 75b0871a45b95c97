//! Command-line and environment configuration shared by every service.

use std::{ffi::OsString, fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use async_nats::ServerAddr;
use clap::{Args, ValueEnum};
use kube::config::Kubeconfig;

use crate::{exit::UsageError, telemetry::TelemetryConfig};

/// Environment variable naming the NATS servers.
pub const ENV_NATS_URL: &str = "FERRY_NATS_URL";
/// Environment variable naming the kubeconfig file(s), as kubectl reads it.
pub const ENV_KUBECONFIG: &str = "KUBECONFIG";
/// Environment variable naming the HTTP admin listen address.
pub const ENV_ADMIN_ADDR: &str = "FERRY_ADMIN_ADDR";
/// Environment variable naming the gRPC listen address.
pub const ENV_GRPC_ADDR: &str = "FERRY_GRPC_ADDR";
/// Environment variable choosing the log format.
pub const ENV_LOG_FORMAT: &str = "FERRY_LOG_FORMAT";
/// Environment variable setting the shutdown grace period.
pub const ENV_SHUTDOWN_GRACE: &str = "FERRY_SHUTDOWN_GRACE";
/// Environment variable with the log filter directives.
pub const ENV_RUST_LOG: &str = "RUST_LOG";
/// The log filter when RUST_LOG is unset: `info`, without kube's per-request error lines (the
/// runtime logs failed probes itself, with retry information).
pub const DEFAULT_LOG_FILTER: &str = "info,kube_client::client::builder=off";
/// Environment variable set inside a Kubernetes pod.
const ENV_K8S_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";

/// Every runtime flag, ready to `#[command(flatten)]` into a service's arguments.
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Kubernetes API access.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// HTTP admin endpoint.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// gRPC endpoint.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Log output.
    #[command(flatten)]
    pub log: LogArgs,
    /// Graceful shutdown.
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
}

/// NATS connection flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "NATS")]
pub struct NatsArgs {
    /// NATS server URL(s), comma separated.
    #[arg(
        long = "nats-url",
        env = ENV_NATS_URL,
        value_name = "URL",
        default_value = "nats://127.0.0.1:4222",
        value_parser = parse_nats_urls,
    )]
    pub nats_url: NatsUrls,
}

/// Kubernetes API flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Kubernetes")]
pub struct KubeArgs {
    /// Kubeconfig path (a `:`-separated list, as kubectl reads it); in-cluster config when unset.
    #[arg(long = "kubeconfig", env = ENV_KUBECONFIG, value_name = "PATH")]
    pub kubeconfig: Option<OsString>,
}

/// HTTP admin endpoint flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Admin")]
pub struct AdminArgs {
    /// Listen address for /metrics, /healthz and /readyz (port 0 picks a free port).
    #[arg(
        long = "admin-addr",
        env = ENV_ADMIN_ADDR,
        value_name = "ADDR",
        default_value = "0.0.0.0:9090",
        value_parser = parse_socket_addr,
    )]
    pub admin_addr: SocketAddr,
}

/// gRPC endpoint flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "gRPC")]
pub struct GrpcArgs {
    /// Listen address for gRPC, including grpc.health.v1 (port 0 picks a free port).
    #[arg(
        long = "grpc-addr",
        env = ENV_GRPC_ADDR,
        value_name = "ADDR",
        default_value = "0.0.0.0:9091",
        value_parser = parse_socket_addr,
    )]
    pub grpc_addr: SocketAddr,
}

/// Log output flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log line format; the filter comes from RUST_LOG (default `info`).
    #[arg(
        long = "log-format",
        env = ENV_LOG_FORMAT,
        value_name = "FORMAT",
        value_enum,
        default_value_t = LogFormat::Json,
    )]
    pub log_format: LogFormat,
}

/// Shutdown flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Shutdown")]
pub struct ShutdownArgs {
    /// How long in-flight work may run after SIGTERM or SIGINT (e.g. 25s, 500ms, 2m).
    #[arg(
        long = "shutdown-grace",
        env = ENV_SHUTDOWN_GRACE,
        value_name = "DURATION",
        default_value = "25s",
        value_parser = parse_duration,
    )]
    pub shutdown_grace: Duration,
}

/// How log lines are written to standard output.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, with `trace_id` and `span_id` of the current span.
    Json,
    /// Human-readable text.
    Text,
}

/// One or more NATS server addresses.
#[derive(Debug, Clone)]
pub struct NatsUrls(Vec<ServerAddr>);

impl NatsUrls {
    /// The server addresses, in the order given.
    pub fn addrs(&self) -> &[ServerAddr] {
        &self.0
    }
}

impl fmt::Display for NatsUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.0.iter().map(|a| a.as_url_str().to_owned()).collect();
        f.write_str(&urls.join(","))
    }
}

/// Where the Kubernetes client configuration comes from.
#[derive(Debug, Clone)]
pub enum KubeSource {
    /// Kubeconfig file(s), already read and merged.
    Kubeconfig {
        /// The merged kubeconfig.
        config: Box<Kubeconfig>,
        /// The paths it was read from, for log lines.
        paths: Vec<PathBuf>,
    },
    /// The pod's service account (`KUBERNETES_SERVICE_HOST` and the mounted token).
    InCluster,
}

/// Validated runtime configuration, built before the async runtime starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// NATS servers.
    pub nats: NatsUrls,
    /// Kubernetes client source.
    pub kube: KubeSource,
    /// HTTP admin listen address.
    pub admin_addr: SocketAddr,
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter directives (RUST_LOG, default [`DEFAULT_LOG_FILTER`]).
    pub log_filter: String,
    /// OpenTelemetry settings from the `OTEL_*` variables.
    pub telemetry: TelemetryConfig,
    /// Grace period for in-flight work on shutdown.
    pub shutdown_grace: Duration,
}

impl Config {
    /// Validates `args` against the process environment.
    pub fn from_args(args: RuntimeArgs) -> Result<Self, UsageError> {
        Self::from_args_with(args, |key| std::env::var_os(key), home_kubeconfig())
    }

    /// Validates `args`, reading environment variables through `env` (tests pass a map) and
    /// falling back to `home_kubeconfig` when no kubeconfig flag or variable is given.
    pub fn from_args_with(
        args: RuntimeArgs,
        env: impl Fn(&str) -> Option<OsString>,
        home_kubeconfig: Option<PathBuf>,
    ) -> Result<Self, UsageError> {
        let kube = kube_source(args.kube.kubeconfig, &env, home_kubeconfig)?;
        let log_filter = log_filter(&env)?;
        let telemetry = TelemetryConfig::from_env(&env)?;
        Ok(Self {
            nats: args.nats.nats_url,
            kube,
            admin_addr: args.admin.admin_addr,
            grpc_addr: args.grpc.grpc_addr,
            log_format: args.log.log_format,
            log_filter,
            telemetry,
            shutdown_grace: args.shutdown.shutdown_grace,
        })
    }
}

/// `~/.kube/config` when it exists, kubectl's default.
fn home_kubeconfig() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".kube").join("config");
    path.is_file().then_some(path)
}

fn kube_source(
    flag: Option<OsString>,
    env: &impl Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
) -> Result<KubeSource, UsageError> {
    const NAME: &str = "--kubeconfig or KUBECONFIG";
    const EXPECTED: &str = "a readable kubeconfig file (or a ':'-separated list of them)";
    let paths: Vec<PathBuf> = match flag.filter(|v| !v.is_empty()) {
        Some(value) => std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None if env(ENV_K8S_SERVICE_HOST).is_some_and(|v| !v.is_empty()) => {
            return Ok(KubeSource::InCluster);
        }
        None => match home {
            Some(path) => vec![path],
            None => {
                return Err(UsageError::missing(
                    NAME,
                    "a kubeconfig path, or run in a pod (KUBERNETES_SERVICE_HOST)",
                ));
            }
        },
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        let next = Kubeconfig::read_from(path).map_err(|e| {
            UsageError::invalid(NAME, path.display().to_string(), EXPECTED)
                .with_cause(error_chain(&e))
        })?;
        merged = Some(match merged {
            None => next,
            Some(prev) => prev.merge(next).map_err(|e| {
                UsageError::invalid(NAME, path.display().to_string(), EXPECTED)
                    .with_cause(error_chain(&e))
            })?,
        });
    }
    match merged {
        Some(config) => Ok(KubeSource::Kubeconfig {
            config: Box::new(config),
            paths,
        }),
        None => Err(UsageError::missing(NAME, EXPECTED)),
    }
}

fn log_filter(env: &impl Fn(&str) -> Option<OsString>) -> Result<String, UsageError> {
    const EXPECTED: &str = "tracing filter directives such as info or ferry=debug,info";
    let Some(raw) = env(ENV_RUST_LOG) else {
        return Ok(DEFAULT_LOG_FILTER.to_owned());
    };
    let Some(value) = raw.to_str() else {
        return Err(UsageError::invalid(
            ENV_RUST_LOG,
            raw.to_string_lossy(),
            EXPECTED,
        ));
    };
    if value.trim().is_empty() {
        return Ok(DEFAULT_LOG_FILTER.to_owned());
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(value)
        .map_err(|e| {
            UsageError::invalid(ENV_RUST_LOG, value, EXPECTED).with_cause(e.to_string())
        })?;
    Ok(value.to_owned())
}

/// Renders an error and its sources on one line.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out.replace('\n', " ")
}

fn parse_nats_urls(value: &str) -> Result<NatsUrls, String> {
    const EXPECTED: &str = "expected nats://host:port (comma separated for several servers)";
    let mut addrs = Vec::new();
    for part in value.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(EXPECTED.to_owned());
        }
        let addr = ServerAddr::from_str(part).map_err(|e| format!("{e}; {EXPECTED}"))?;
        if addr.host().is_empty() {
            return Err(EXPECTED.to_owned());
        }
        addrs.push(addr);
    }
    Ok(NatsUrls(addrs))
}

fn parse_socket_addr(value: &str) -> Result<SocketAddr, String> {
    value.trim().parse().map_err(|_| {
        "expected host:port with an IP address, such as 0.0.0.0:9090 or 127.0.0.1:0".to_owned()
    })
}

/// Parses `25s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub(crate) fn parse_duration(value: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a duration such as 25s, 500ms or 2m";
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| EXPECTED.to_owned())?;
    let duration = match unit {
        "ms" => Duration::from_millis(amount),
        "" | "s" => Duration::from_secs(amount),
        "m" => Duration::from_secs(amount.saturating_mul(60)),
        "h" => Duration::from_secs(amount.saturating_mul(3600)),
        _ => return Err(EXPECTED.to_owned()),
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn durations_parse_in_the_documented_forms() {
        assert_eq!(parse_duration("25s"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn nats_urls_accept_lists_and_reject_garbage() {
        let urls = parse_nats_urls("nats://a:4222, b:4223").expect("valid list");
        assert_eq!(urls.addrs().len(), 2);
        assert!(parse_nats_urls("nats://a:4222,,").is_err());
        assert!(parse_nats_urls("http://[::1").is_err());
    }

    #[test]
    fn flags_parse_with_port_zero() {
        let cli = Cli::try_parse_from([
            "svc",
            "--admin-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--log-format",
            "text",
            "--shutdown-grace",
            "3s",
        ])
        .expect("valid flags");
        assert_eq!(cli.runtime.admin.admin_addr.port(), 0);
        assert_eq!(cli.runtime.log.log_format, LogFormat::Text);
        assert_eq!(cli.runtime.shutdown.shutdown_grace, Duration::from_secs(3));
    }

    #[test]
    fn missing_kube_config_is_a_usage_error() {
        let cli = Cli::try_parse_from(["svc"]).expect("defaults parse");
        let mut runtime = cli.runtime;
        runtime.kube.kubeconfig = None;
        let err = Config::from_args_with(runtime, env_of(&[]), None).expect_err("no kube config");
        assert!(err.to_string().contains("KUBECONFIG"), "{err}");
    }

    #[test]
    fn in_cluster_is_chosen_inside_a_pod() {
        let cli = Cli::try_parse_from(["svc"]).expect("defaults parse");
        let mut runtime = cli.runtime;
        runtime.kube.kubeconfig = None;
        let config = Config::from_args_with(
            runtime,
            env_of(&[("KUBERNETES_SERVICE_HOST", "10.0.0.1")]),
            None,
        )
        .expect("in-cluster config");
        assert!(matches!(config.kube, KubeSource::InCluster));
    }

    #[test]
    fn unreadable_kubeconfig_names_the_flag() {
        let cli = Cli::try_parse_from(["svc", "--kubeconfig", "/nonexistent/kubeconfig"])
            .expect("flags parse");
        let err = Config::from_args_with(cli.runtime, env_of(&[]), None).expect_err("unreadable");
        let text = err.to_string();
        assert!(text.contains("--kubeconfig"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn bad_rust_log_names_the_variable() {
        let err = log_filter(&env_of(&[("RUST_LOG", "info,[[[")])).expect_err("bad filter");
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
        assert_eq!(log_filter(&env_of(&[])), Ok(DEFAULT_LOG_FILTER.to_owned()));
    }
}
