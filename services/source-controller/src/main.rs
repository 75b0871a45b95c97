//! Ferry source-controller: fetches Git sources into content-addressed artifacts, serves them,
//! and receives webhooks.

mod serve;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Ferry source-controller: fetches Git sources into content-addressed artifacts.
#[derive(Parser, Debug)]
#[command(name = "source-controller", version, about)]
pub struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
    /// Where artifacts are served over HTTP at Flux's URL layout (port 0 picks one).
    #[arg(long, env = "FERRY_STORAGE_ADDR", default_value = "0.0.0.0:9080")]
    storage_addr: SocketAddr,
    /// The base URL written into status.artifact.url (default: http:// plus the bound address).
    #[arg(long, env = "FERRY_STORAGE_ADV_ADDR")]
    storage_adv_addr: Option<String>,
    /// Where Receiver webhooks are served (`/hook/<sha256>`).
    #[arg(long, env = "FERRY_RECEIVER_ADDR", default_value = "0.0.0.0:9292")]
    receiver_addr: SocketAddr,
    /// Local directory of the per-URL Git object caches.
    #[arg(
        long,
        env = "FERRY_CACHE_DIR",
        default_value = "/tmp/ferry-source-cache"
    )]
    cache_dir: PathBuf,
    /// Artifacts kept per source; older ones are garbage-collected.
    #[arg(long, env = "FERRY_ARTIFACT_RETENTION", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    artifact_retention: u16,
    /// Reconciles run at once on this replica.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Most files a repository's artifact may hold.
    #[arg(long, env = "FERRY_MAX_FILES", default_value_t = 100_000)]
    max_files: u64,
    /// Most bytes of file content an artifact may hold.
    #[arg(long, env = "FERRY_MAX_BYTES", default_value_t = 512 << 20)]
    max_bytes: u64,
    /// This replica's name in leases and events (default: the host name).
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    let artifacts = source_controller::grpc::Artifacts::default();
    let service = artifacts.clone();
    let runtime = args.runtime.clone();
    ferry_runtime::Builder::new("source-controller", runtime)
        .grpc(move |_, services| {
            services.add_service(
                ferry_proto::source::v1::artifact_service_server::ArtifactServiceServer::new(
                    service,
                ),
            );
        })
        .run(move |ctx| serve::serve(ctx, args, artifacts))
}
