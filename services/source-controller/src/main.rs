//! Ferry source-controller: fetches Git and OCI sources into content-addressed artifacts.

use std::process::ExitCode;

use clap::Parser;

/// Ferry source-controller: fetches Git and OCI sources into content-addressed artifacts.
#[derive(Parser, Debug)]
#[command(name = "source-controller", version, about)]
struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    ferry_runtime::run("source-controller", args.runtime, |ctx| async move {
        // No domain work yet: stay up (readiness reports NATS and Kubernetes) until shutdown.
        ctx.shutdown().cancelled().await;
        anyhow::Ok(())
    })
}
