//! Ferry image-scanner: scans image registries, applies image policies and writes the chosen
//! images back to Git.

mod serve;

use std::process::ExitCode;

use clap::Parser;

/// Ferry image-scanner: scans image registries, applies image policies, updates Git.
#[derive(Parser, Debug)]
#[command(name = "image-scanner", version, about)]
pub struct Args {
    #[command(flatten)]
    runtime: ferry_runtime::RuntimeArgs,
    /// Reconciles run at once on this replica.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// This replica's name in leases and events (default: the host name).
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = ferry_runtime::parse_args();
    let runtime = args.runtime.clone();
    ferry_runtime::Builder::new("image-scanner", runtime).run(move |ctx| serve::serve(ctx, args))
}
