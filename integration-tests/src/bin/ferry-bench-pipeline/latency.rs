//! Commit-to-Ready for one Kustomization: per commit, the time from `git push` returning to
//! the watch seeing the Kustomization Ready=True at the new revision; once with a Receiver
//! webhook called right after the push, once with GitRepository polling only.

use crate::cluster::{apply, call_webhook, webhook_path};
use crate::kwatch::KustomizationWatch;
use crate::objects;
use crate::report::{LatencyRow, Summary, secs};
use anyhow::{Context as _, Result};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::stack::Stack;
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// How long one commit may take to become Ready before the run fails.
const PER_COMMIT: Duration = Duration::from_secs(120);

/// How a new commit reaches the source-controller.
#[derive(Debug, Clone, Copy)]
pub enum Delivery {
    /// A `generic` Receiver is called right after the push.
    Webhook,
    /// The GitRepository's interval only.
    Polling,
}

/// Namespaces the runs apply their app into.
pub const NAMESPACES: [&str; 2] = ["bench-webhook", "bench-polling"];

/// Runs `commits` commits with `delivery`; `interval` is the polling GitRepository's interval.
pub async fn run(
    stack: &Stack,
    watch: &KustomizationWatch,
    delivery: Delivery,
    commits: usize,
    interval: Duration,
) -> Result<LatencyRow> {
    let ms = interval.as_millis();
    let interval_text = if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    };
    let (name, namespace, label) = match delivery {
        Delivery::Webhook => (
            "latency-webhook",
            NAMESPACES[0],
            "webhook (Receiver called right after the push)".to_string(),
        ),
        Delivery::Polling => (
            "latency-polling",
            NAMESPACES[1],
            format!("polling (GitRepository interval {interval_text}, no webhook)"),
        ),
    };
    let mut repo = GitRepoBuilder::create(stack.git.root(), &format!("{name}.git")).await?;
    let sha = commit(&mut repo, namespace, 0).await?;
    repo.push().await?;
    let url = stack.git.url_for(&format!("{name}.git"));
    let webhook = matches!(delivery, Delivery::Webhook);
    let spec_interval = if webhook { "60m" } else { &interval_text };
    apply(
        stack,
        &objects::latency_objects(name, &url, spec_interval, webhook),
    )
    .await?;
    let names = [name.to_string()];
    watch
        .wait_ready(&names, &revision(&sha), PER_COMMIT)
        .await
        .context("first sync")?;
    let path = match delivery {
        Delivery::Webhook => Some(webhook_path(stack, name).await?),
        Delivery::Polling => None,
    };
    let client = reqwest::Client::new();
    let mut samples = Vec::with_capacity(commits);
    for n in 1..=commits {
        let sha = commit(&mut repo, namespace, n).await?;
        if path.is_none() {
            // Each push would otherwise come a fixed time after the previous revision's poll,
            // so every sample would wait the same part of the interval; spreading the pushes
            // over the interval (golden-ratio steps) samples the wait evenly.
            sleep(interval.mul_f64((n as f64 * 0.618_033_988_7).fract())).await;
        }
        repo.push().await?;
        let pushed = Instant::now();
        if let Some(path) = &path {
            call_webhook(stack, &client, path).await?;
        }
        let ready = watch
            .wait_ready(&names, &revision(&sha), PER_COMMIT)
            .await
            .with_context(|| format!("commit {n} of {commits} ({label})"))?;
        let took = ready.saturating_duration_since(pushed);
        stack.say(&format!(
            "  {label}: commit {n}/{commits} Ready in {}",
            secs(took)
        ));
        samples.push(took);
    }
    let summary = Summary::of(&samples).context("no commits were measured")?;
    Ok(LatencyRow {
        delivery: label,
        summary,
    })
}

async fn commit(repo: &mut GitRepoBuilder, namespace: &str, n: usize) -> Result<String> {
    let files = objects::latency_app(namespace, n);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    Ok(repo.commit_files(&refs, &format!("commit {n}")).await?)
}

/// The revision a Kustomization reports for commit `sha` on `main`.
pub fn revision(sha: &str) -> String {
    format!("main@sha1:{sha}")
}
