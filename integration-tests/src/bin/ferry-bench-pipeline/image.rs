//! Image push to Git and to Ready (issue 8): the demo's fleet (a base with the image marked for
//! an ImagePolicy, dev and prod overlays, one Kustomization each). Per sample a new tag is pushed
//! to the registry and the ImageRepository asked to scan (what a registry webhook's Receiver
//! does); measured from the push returning to the automation's commit on `main`, and to both
//! Kustomizations Ready at that commit.

use crate::cluster::apply;
use crate::kwatch::KustomizationWatch;
use crate::latency::revision;
use crate::report::{LatencyRow, Summary, secs};
use anyhow::{Context as _, Result, bail};
use ferry_integration_tests::fleet;
use ferry_integration_tests::git_repo::{GitRepoBuilder, run_git};
use ferry_integration_tests::registry::push_image;
use ferry_integration_tests::stack::Stack;
use std::path::Path;
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// How long one image update may take before the run fails.
const PER_SAMPLE: Duration = Duration::from_secs(120);
/// How often the bare repository's `main` is read while waiting for the commit.
const HEAD_POLL: Duration = Duration::from_millis(10);

/// Namespaces the fleet's overlays apply into.
pub const NAMESPACES: [&str; 2] = ["dev", "prod"];

/// Runs `samples` image updates; returns the push-to-commit and push-to-Ready rows.
pub async fn run(
    stack: &Stack,
    watch: &KustomizationWatch,
    samples: usize,
) -> Result<[LatencyRow; 2]> {
    let image = format!("{}/podinfo", stack.registry.host());
    push_image(&stack.registry, "podinfo", "1.0.0").await?;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "fleet.git").await?;
    let files = fleet::files(&image, "1.0.0");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let mut head = repo.commit_files(&refs, "Add the fleet").await?;
    repo.push().await?;
    apply(
        stack,
        &fleet::ferry_objects(&stack.git.url_for("fleet.git"), &image),
    )
    .await?;
    let names = ["apps-dev".to_string(), "apps-prod".to_string()];
    watch
        .wait_ready(&names, &revision(&head), PER_SAMPLE)
        .await
        .context("first sync of the fleet")?;
    let (mut to_commit, mut to_ready) = (Vec::new(), Vec::new());
    for n in 1..=samples {
        let tag = format!("1.{n}.0");
        push_image(&stack.registry, "podinfo", &tag).await?;
        let pushed = Instant::now();
        stack
            .kube
            .kubectl(&[
                "annotate",
                "--overwrite",
                "-n",
                "ferry-system",
                "imagerepository/podinfo",
                &format!("reconcile.fluxcd.io/requestedAt=bench-{n}"),
            ])
            .await?;
        let (sha, committed) = new_head(repo.bare_path(), &head).await?;
        let ready = watch
            .wait_ready(&names, &revision(&sha), PER_SAMPLE)
            .await
            .with_context(|| format!("image {tag}: Kustomizations Ready at {sha}"))?;
        let (commit, ready) = (committed - pushed, ready.saturating_duration_since(pushed));
        stack.say(&format!(
            "  image {tag}: commit in {}, Ready in {}",
            secs(commit),
            secs(ready)
        ));
        to_commit.push(commit);
        to_ready.push(ready);
        head = sha;
    }
    let row = |label: &str, samples: &[Duration]| -> Result<LatencyRow> {
        Ok(LatencyRow {
            delivery: label.to_string(),
            summary: Summary::of(samples).context("no image updates were measured")?,
        })
    };
    Ok([
        row("image pushed → automation's commit on main", &to_commit)?,
        row(
            "image pushed → dev and prod Ready at that commit",
            &to_ready,
        )?,
    ])
}

/// Waits for `main` of the bare repository to move from `old`; returns the new head and when
/// it was seen.
async fn new_head(bare: &Path, old: &str) -> Result<(String, Instant)> {
    let deadline = Instant::now() + PER_SAMPLE;
    loop {
        let head = run_git(bare, &["rev-parse", "refs/heads/main"]).await?;
        let head = head.trim();
        if head != old {
            return Ok((head.to_string(), Instant::now()));
        }
        if Instant::now() > deadline {
            bail!("the image automation made no commit on main within {PER_SAMPLE:?}");
        }
        sleep(HEAD_POLL).await;
    }
}
