//! `ferry`: Ferry's command-line tool.

mod commands;
mod kinds;
mod kube_util;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// Command line utility for Ferry, a GitOps engine that speaks Flux's API.
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    long_about = None,
    propagate_version = true,
    after_help = "Examples:\n  # Check that the cluster and NATS are ready for Ferry\n  ferry check\n\n  # List the Kustomizations of every namespace\n  ferry get kustomizations -A\n\n  # Fetch a new revision and apply it now\n  ferry reconcile kustomization apps --with-source"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace scope for this operation [default: flux-system; ferry-system for
    /// bootstrap and version].
    #[arg(short = 'n', long, global = true, env = "FERRY_NAMESPACE")]
    pub namespace: Option<String>,
    /// Timeout for this operation (e.g. 30s, 5m, 1h).
    #[arg(long, global = true, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// NATS server URL.
    #[arg(
        long,
        global = true,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// Address of the applier's gRPC API.
    #[arg(
        long,
        global = true,
        env = "FERRY_APPLIER_ADDR",
        default_value = "http://127.0.0.1:9090"
    )]
    pub applier_addr: String,
}

impl Global {
    /// The namespace for object commands (`flux-system` unless `-n` says otherwise).
    pub fn ns(&self) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| "flux-system".to_owned())
    }
}

/// Parses a Go-style duration: `90s`, `5m`, `1h30m`, `500ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let bad = || format!("invalid duration '{s}': use a number with a unit, e.g. 30s, 5m, 1h");
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let secs = match unit.as_str() {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(secs);
    }
    if !num.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the objects a kustomization builds, like `kustomize build`.
    Build(commands::build::BuildArgs),
    /// Get the status of Flux resources.
    #[command(subcommand)]
    Get(commands::get::GetCmd),
    /// Trigger a reconciliation and wait for its result.
    #[command(subcommand)]
    Reconcile(commands::target::Target),
    /// Suspend the reconciliation of a resource.
    #[command(subcommand)]
    Suspend(commands::target::Target),
    /// Resume a suspended resource, request a reconciliation and wait for it.
    Resume(commands::suspend::ResumeArgs),
    /// Print the objects a Kustomization manages, as a tree.
    #[command(subcommand)]
    Tree(commands::tree::TreeCmd),
    /// Follow Ferry's events on NATS (`ferry.events.>`).
    Events(commands::events::EventsArgs),
    /// Show what applying a Kustomization would change in the cluster (exit 1 on differences).
    #[command(subcommand)]
    Diff(commands::diff::DiffCmd),
    /// Show the journey of an object's last revision through the pipeline.
    Trace(commands::trace::TraceArgs),
    /// Print the client and server-side versions.
    Version(commands::version::VersionArgs),
    /// Check that the cluster and NATS are ready for Ferry.
    Check(commands::check::CheckArgs),
    /// Install Ferry in a cluster and make it manage itself from a Git repository.
    Bootstrap(commands::bootstrap::BootstrapArgs),
    /// Generate shell completions (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = cli.global;
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Build(args) => {
            // kustomize's own error style, so `ferry build` is a drop-in for `kustomize build`.
            return match commands::build::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(msg) => {
                    eprintln!("Error: {msg}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Completion(args) => {
            use std::io::Write as _;
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "ferry", &mut script);
            // A closed pipe (`ferry completion bash | head`) is not an error.
            let _ = std::io::stdout().write_all(&script);
            Ok(ExitCode::SUCCESS)
        }
        other => run_async(global, other),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("✗ {}", output::chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn run_async(g: Global, command: Command) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            Command::Get(cmd) => commands::get::run(&g, cmd).await,
            Command::Reconcile(t) => commands::reconcile::run(&g, t).await,
            Command::Suspend(t) => commands::suspend::suspend(&g, t).await,
            Command::Resume(a) => commands::suspend::resume(&g, a).await,
            Command::Tree(cmd) => commands::tree::run(&g, cmd).await,
            Command::Events(a) => commands::events::run(&g, a).await,
            Command::Diff(cmd) => commands::diff::run(&g, cmd).await,
            Command::Trace(a) => commands::trace::run(&g, a).await,
            Command::Version(a) => commands::version::run(&g, a).await,
            Command::Check(a) => commands::check::run(&g, a).await,
            Command::Bootstrap(a) => commands::bootstrap::run(&g, a).await,
            Command::Build(_) | Command::Completion(_) => unreachable!("handled without a runtime"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
