//! Flux's MTTP workload: one GitRepository, N Kustomizations of one app each (a Deployment
//! scaled to zero, a ServiceAccount, a Service, an Ingress); time from the commit that adds
//! all N apps (push returned, webhook called) to all N Ready at it, and each process's peak
//! memory over the whole run, and the CPU time each process spent on the measured commit.

use crate::cluster::{apply, call_webhook, webhook_path};
use crate::kwatch::KustomizationWatch;
use crate::latency::revision;
use crate::objects;
use crate::report::{MttpRow, secs};
use anyhow::{Context as _, Result, bail};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::stack::Stack;
use std::time::Duration;
use tokio::time::Instant;

/// The namespace the apps go into.
pub const NAMESPACE: &str = "mttp";

/// Runs the workload for `n` apps on a fresh `stack`; `limit` bounds each wait for all Ready.
pub async fn run(stack: &Stack, n: usize, limit: Duration) -> Result<MttpRow> {
    let watch = KustomizationWatch::start(stack.kube.client().await?, "ferry-system").await?;
    let names: Vec<String> = (0..n).map(|i| format!("app-{i}")).collect();
    let mut repo = GitRepoBuilder::create(stack.git.root(), "mttp.git").await?;
    let empty = repo
        .commit_files(&as_refs(&objects::mttp_empty(n)), "N empty apps")
        .await?;
    repo.push().await?;
    let url = stack.git.url_for("mttp.git");
    let started = Instant::now();
    apply(stack, &objects::mttp_objects(n, &url)).await?;
    let synced = watch
        .wait_ready(&names, &revision(&empty), limit)
        .await
        .context("first sync of the empty apps")?;
    let first_sync = synced.saturating_duration_since(started);
    stack.say(&format!(
        "  N={n}: first sync of the empty apps in {}",
        secs(first_sync)
    ));
    let path = webhook_path(stack, "mttp").await?;
    let sha = repo
        .commit_files(&as_refs(&objects::mttp_apps(n, NAMESPACE)), "N apps")
        .await?;
    repo.push().await?;
    let cpu_before = stack.cpu_time()?;
    let pushed = Instant::now();
    call_webhook(stack, &reqwest::Client::new(), &path).await?;
    let ready = watch
        .wait_ready(&names, &revision(&sha), limit)
        .await
        .with_context(|| format!("N={n}: the commit adding the apps"))?;
    let commit_to_ready = ready.saturating_duration_since(pushed);
    let cpu_during_commit = cpu_before
        .iter()
        .zip(stack.cpu_time()?)
        .map(|((name, before), (_, after))| (*name, after.saturating_sub(*before)))
        .collect();
    stack.say(&format!(
        "  N={n}: commit → all Ready in {}",
        secs(commit_to_ready)
    ));
    check_applied(stack, n).await?;
    Ok(MttpRow {
        n,
        first_sync,
        commit_to_ready,
        peak_rss_kib: stack.peak_rss_kib()?,
        cpu_during_commit,
    })
}

/// Ready must mean applied: all 4 objects of every app exist in the namespace.
async fn check_applied(stack: &Stack, n: usize) -> Result<()> {
    let listed = stack
        .kube
        .kubectl(&[
            "get",
            "deployments,serviceaccounts,services,ingresses",
            "-n",
            NAMESPACE,
            "-o",
            "name",
        ])
        .await?;
    let found = listed.lines().filter(|l| l.contains("/app-")).count();
    if found != n * 4 {
        bail!(
            "N={n}: all Kustomizations are Ready but {found} of {} objects exist",
            n * 4
        );
    }
    Ok(())
}

fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect()
}
