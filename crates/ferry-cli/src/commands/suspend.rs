//! `ferry suspend KIND NAME` and `ferry resume KIND NAME`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::reconcile::request_and_wait;
use super::target::Target;
use crate::Global;
use crate::kube_util;
use crate::output;

/// Arguments of `ferry resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Wait for the reconciliation the resume requests (`--wait=false` to return at once).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub wait: bool,
    #[command(subcommand)]
    pub target: Target,
}

/// Runs `ferry suspend ...`.
pub async fn suspend(g: &Global, target: Target) -> anyhow::Result<ExitCode> {
    let (kind, name, _) = target.resolve();
    let client = kube_util::client(g).await?;
    let ns = g.ns();
    kube_util::get(&client, &kind, &ns, name).await?;
    output::action(&format!(
        "suspending {} {name} in {ns} namespace",
        kind.noun
    ));
    kube_util::merge_patch(
        &client,
        &kind,
        &ns,
        name,
        json!({"spec": {"suspend": true}}),
    )
    .await?;
    output::success(&format!("{} suspended", kind.noun));
    Ok(ExitCode::SUCCESS)
}

/// Runs `ferry resume ...`.
pub async fn resume(g: &Global, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let (kind, name, _) = args.target.resolve();
    let client = kube_util::client(g).await?;
    let ns = g.ns();
    kube_util::get(&client, &kind, &ns, name).await?;
    output::action(&format!("resuming {} {name} in {ns} namespace", kind.noun));
    if args.wait {
        request_and_wait(
            &client,
            &kind,
            &ns,
            name,
            g.timeout,
            json!({"spec": {"suspend": false}}),
        )
        .await?;
    } else {
        let requested = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        kube_util::merge_patch(
            &client,
            &kind,
            &ns,
            name,
            json!({"spec": {"suspend": false},
                   "metadata": {"annotations": {super::reconcile::REQUESTED_AT: requested}}}),
        )
        .await?;
        output::success(&format!("{} resumed", kind.noun));
    }
    Ok(ExitCode::SUCCESS)
}
