//! Ferry kustomize-renderer: renders Kustomizations from source artifacts.

use std::process::ExitCode;

use clap::Parser;

/// Ferry kustomize-renderer: renders Kustomizations from source artifacts.
#[derive(Parser, Debug)]
#[command(name = "kustomize-renderer", version, about)]
struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    ferry_runtime::run("kustomize-renderer", args.runtime, |ctx| async move {
        // No domain work yet: stay up (readiness reports NATS and Kubernetes) until shutdown.
        ctx.shutdown().cancelled().await;
        anyhow::Ok(())
    })
}
