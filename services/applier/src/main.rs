//! Ferry applier: applies rendered manifests to the cluster with server-side apply.

mod serve;

use clap::Parser;
use std::process::ExitCode;

/// Ferry applier: applies rendered manifests to the cluster with server-side apply.
#[derive(Parser, Debug)]
#[command(name = "applier", version, about)]
pub struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
    /// Messages handled at once per consumer on this replica.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Objects applied at once within a stage (Flux's `--concurrent-ssa`).
    #[arg(long, env = "FERRY_CONCURRENT_SSA", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrent_ssa: u16,
    /// This replica's name in leases and events (default: the host name).
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    let apply = applier::grpc::Apply::default();
    let service = apply.clone();
    let runtime = args.runtime.clone();
    ferry_runtime::Builder::new("applier", runtime)
        .grpc(move |_, services| {
            services.add_service(
                ferry_proto::apply::v1::apply_service_server::ApplyServiceServer::new(service),
            );
        })
        .run(move |ctx| serve::serve(ctx, args, apply))
}
