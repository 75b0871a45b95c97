//! `ferry-bench-pipeline` (run by `just bench`): whole-stack benchmarks on the release service
//! binaries next to this executable. Commit-to-Ready latency of one Kustomization with a
//! webhook and with polling (issue 7), and Flux's MTTP workload for N Kustomizations (issue 6).
//! Progress goes to standard error, the Markdown report to standard output.

mod cluster;
mod image;
mod kwatch;
mod latency;
mod mttp;
mod objects;
mod report;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use ferry_integration_tests::stack::{Progress, Stack, StackOptions};
use latency::Delivery;
use std::process::ExitCode;
use std::time::Duration;

/// Whole-stack benchmarks: commit-to-Ready latency and Flux's MTTP workload.
#[derive(Parser, Debug)]
#[command(name = "ferry-bench-pipeline")]
struct Args {
    /// Commits per delivery mode in the commit-to-Ready measurement (0 skips it).
    #[arg(long, default_value_t = 50)]
    commits: usize,
    /// Image updates in the image-push-to-Ready measurement, on the same stack (0 skips it).
    #[arg(long, default_value_t = 20)]
    image_updates: usize,
    /// The GitRepository interval of the polling measurement, in ms.
    #[arg(long, default_value_t = 1000)]
    poll_interval_ms: u64,
    /// MTTP workload sizes, comma-separated, each on a fresh stack (0 skips the workload).
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
    mttp: Vec<usize>,
    /// The emulator's workload-controller delay in ms (how long a rollout takes to report;
    /// the emulator's default is 300). Ignored with KUBECONFIG.
    #[arg(long, default_value_t = 300)]
    workload_delay_ms: u64,
    /// Seconds one MTTP wait for all Ready may take before the run fails.
    #[arg(long, default_value_t = 600)]
    mttp_limit_secs: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    ferry_integration_tests::registry::install_crypto_provider();
    match run(&args).await {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("✗ {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<String> {
    check(args)?;
    let mut report = header(args);
    if args.commits > 0 || args.image_updates > 0 {
        let (commits, images) = latency(args).await?;
        if !commits.is_empty() {
            report.push_str(&report::latency_table(&commits));
            report.push('\n');
        }
        if !images.is_empty() {
            report.push_str(&report::image_table(&images));
            report.push('\n');
        }
    }
    let sizes: Vec<usize> = args.mttp.iter().copied().filter(|n| *n > 0).collect();
    let mut rows = Vec::new();
    for n in sizes {
        eprintln!("MTTP workload, N = {n}: starting a fresh stack");
        let stack = start(args, vec![mttp::NAMESPACE.to_string()]).await?;
        let limit = Duration::from_secs(args.mttp_limit_secs);
        let row = mttp::run(&stack, n, limit)
            .await
            .map_err(|e| with_logs(e, &stack))?;
        rows.push(row);
    }
    report.push_str(&report::mttp_table(&rows));
    report.push_str(&report::mttp_cpu_table(&rows));
    Ok(report)
}

/// Commit-to-Ready rows, then image-update rows, on one stack.
async fn latency(args: &Args) -> Result<(Vec<report::LatencyRow>, Vec<report::LatencyRow>)> {
    eprintln!("Commit to Ready and image updates: starting the stack");
    let namespaces = latency::NAMESPACES
        .iter()
        .chain(image::NAMESPACES.iter())
        .map(|s| s.to_string())
        .collect();
    let stack = start(args, namespaces).await?;
    let watch =
        kwatch::KustomizationWatch::start(stack.kube.client().await?, "ferry-system").await?;
    let mut rows = Vec::new();
    let deliveries = if args.commits > 0 {
        vec![Delivery::Webhook, Delivery::Polling]
    } else {
        Vec::new()
    };
    for delivery in deliveries {
        let row = latency::run(
            &stack,
            &watch,
            delivery,
            args.commits,
            Duration::from_millis(args.poll_interval_ms),
        )
        .await
        .map_err(|e| with_logs(e, &stack))?;
        rows.push(row);
    }
    let images = if args.image_updates > 0 {
        image::run(&stack, &watch, args.image_updates)
            .await
            .map_err(|e| with_logs(e, &stack))?
            .into()
    } else {
        Vec::new()
    };
    Ok((rows, images))
}

/// The stack as benchmarked: the emulator in its own process, no span export.
async fn start(args: &Args, namespaces: Vec<String>) -> Result<Stack> {
    let options = StackOptions {
        emulator_process: true,
        workload_delay: Some(Duration::from_millis(args.workload_delay_ms)),
        traces: false,
        namespaces,
        progress: Progress::Stderr,
    };
    Stack::start_with(options)
        .await
        .context("starting the stack")
}

fn with_logs(e: anyhow::Error, stack: &Stack) -> anyhow::Error {
    let logs = stack.logs();
    // The tail is what explains a stall; whole logs of a 1,000-app run would bury it.
    let tail: Vec<&str> = logs.lines().rev().take(80).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    e.context(format!(
        "service logs (last 80 lines):\n{}",
        tail.join("\n")
    ))
}

fn header(args: &Args) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug build (numbers are not representative: run `just bench`)"
    } else {
        "release build"
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kube = if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        "the cluster in KUBECONFIG".to_string()
    } else {
        format!(
            "kube-emulator (its own process, workload delay {} ms)",
            args.workload_delay_ms
        )
    };
    format!(
        "<!-- ferry-bench-pipeline --commits {} --image-updates {} --poll-interval-ms {} \
         --workload-delay-ms {} --mttp {} -->\n\
         {profile}, {cores} cores, Kubernetes API: {kube}\n\n",
        args.commits,
        args.image_updates,
        args.poll_interval_ms,
        args.workload_delay_ms,
        args.mttp
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// Rejects flags that cannot produce a measurement.
fn check(args: &Args) -> Result<()> {
    if args.commits == 0 && args.image_updates == 0 && args.mttp.iter().all(|n| *n == 0) {
        bail!("nothing to measure: --commits 0, --image-updates 0 and no MTTP size");
    }
    Ok(())
}
