//! Ferry applier: applies rendered manifests to the cluster with server-side apply.

use std::process::ExitCode;

use clap::Parser;

/// Ferry applier: applies rendered manifests to the cluster with server-side apply.
#[derive(Parser, Debug)]
#[command(name = "applier", version, about)]
struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    ferry_runtime::run("applier", args.runtime, |ctx| async move {
        // No domain work yet: stay up (readiness reports NATS and Kubernetes) until shutdown.
        ctx.shutdown().cancelled().await;
        anyhow::Ok(())
    })
}
