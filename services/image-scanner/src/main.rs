//! Ferry image-scanner: scans image registries and applies image policies.

use std::process::ExitCode;

use clap::Parser;

/// Ferry image-scanner: scans image registries and applies image policies.
#[derive(Parser, Debug)]
#[command(name = "image-scanner", version, about)]
struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    ferry_runtime::run("image-scanner", args.runtime, |ctx| async move {
        // No domain work yet: stay up (readiness reports NATS and Kubernetes) until shutdown.
        ctx.shutdown().cancelled().await;
        anyhow::Ok(())
    })
}
