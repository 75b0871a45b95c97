//! `kube-emulator`: runs the in-memory Kubernetes API emulator as a process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kube_emulator::{Emulator, EmulatorConfig};

/// In-memory Kubernetes API server for tests and demos.
#[derive(Parser, Debug)]
#[command(name = "kube-emulator", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "KUBE_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Write a kubeconfig pointing at the emulator to this path.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Delay before workload controllers report status, in milliseconds.
    #[arg(long, default_value_t = 300)]
    workload_delay_ms: u64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction of API requests answered with 500 (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Number of watch events kept for resuming watches.
    #[arg(long, default_value_t = 2000)]
    watch_history: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        listen: args.listen,
        workload_delay: Duration::from_millis(args.workload_delay_ms),
        latency: Duration::from_millis(args.latency_ms),
        error_rate: args.error_rate,
        watch_history: args.watch_history,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await.context("starting emulator")?;
    if let Some(path) = &args.kubeconfig {
        emulator
            .write_kubeconfig(path)
            .with_context(|| format!("writing kubeconfig to {}", path.display()))?;
    }
    println!("listening on {}", emulator.url());
    wait_for_signal().await?;
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
