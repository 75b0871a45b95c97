//! Telemetry, admin endpoints, readiness and graceful shutdown: one call per Ferry service.
//!
//! ```no_run
//! use clap::Parser;
//!
//! /// Flags of an example service.
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     runtime: ferry_runtime::RuntimeArgs,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let args: Args = ferry_runtime::parse_args();
//!     ferry_runtime::run("example", args.runtime, |ctx| async move {
//!         ctx.shutdown().cancelled().await;
//!         Ok::<(), std::io::Error>(())
//!     })
//! }
//! ```

mod admin;
mod config;
mod connect;
mod context;
mod exit;
mod grpc;
mod metrics;
mod readiness;
mod run;
mod shutdown;
mod telemetry;

pub use self::{
    config::{
        AdminArgs, Config, DEFAULT_LOG_FILTER, ENV_ADMIN_ADDR, ENV_GRPC_ADDR, ENV_KUBECONFIG,
        ENV_LOG_FORMAT, ENV_NATS_URL, ENV_RUST_LOG, ENV_SHUTDOWN_GRACE, GrpcArgs, KubeArgs,
        KubeSource, LogArgs, LogFormat, NatsArgs, NatsUrls, RuntimeArgs, ShutdownArgs,
    },
    connect::KubeConfigError,
    context::Context,
    exit::{EX_USAGE, UsageError, parse_args, try_parse_args_from, usage_exit},
    grpc::{GrpcError, GrpcServices},
    metrics::{Metrics, SERVICE_PREFIX},
    readiness::{Check, Dependency, Readiness, Status},
    run::{BoxError, Builder, run},
    telemetry::{TelemetryConfig, TelemetryError},
};
