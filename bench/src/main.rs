//! `just bench`: source-controller against plain git on one generated repository.
//!
//! 1. **Fetch + artifact vs `git clone --depth 1`**: a repository of thousands of files and
//!    hundreds of commits served by the harness's smart-HTTP server (`git http-backend`). Ferry's
//!    git layer and packer run in-process on cold caches (`list_remote_refs`, `resolve`,
//!    `fetch`, `tree_items`, `ferry_artifact::pack_tree`); git clones the same ref with
//!    `--depth 1`. Median of several runs each, interleaved, and the wall-time ratio; then one
//!    incremental update on warm caches, step by step.
//! 2. **Push → `ArtifactReady` latency** end to end with the release service binary, a
//!    nats-server, the Kubernetes API emulator and a generic Receiver webhook: commit, push,
//!    POST the webhook, wait for the event carrying the new revision. p50 over the commits,
//!    with the push, the webhook and the service's logged per-step timings as medians.
//! 3. **Peak memory** of the service process (`VmHWM` from `/proc/<pid>/status`).
//!
//! Sizes can be changed with `FERRY_BENCH_FILES`, `FERRY_BENCH_COMMITS`, `FERRY_BENCH_RUNS`
//! and `FERRY_BENCH_UPDATES`.

use anyhow::{Context as _, bail};
use ferry_integration_tests::cluster::{KubeTarget, workspace_root};
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::{GitRepoBuilder, run_git};
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::service::{RunningService, logged_addr};
use ferry_proto::events::v1::ArtifactReady;
use futures::StreamExt as _;
use prost::Message as _;
use source_controller::git::{self, Credentials, GitRef, RepoCache, TreeLimits};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    ferry_integration_tests::service::install_crypto();
    let files = env_usize("FERRY_BENCH_FILES", 5_000);
    let commits = env_usize("FERRY_BENCH_COMMITS", 300);
    let runs = env_usize("FERRY_BENCH_RUNS", 5);
    let updates = env_usize("FERRY_BENCH_UPDATES", 20);

    let git_server = GitHttpServer::start(Auth::None).await?;
    let started = Instant::now();
    let mut repo = GitRepoBuilder::create(git_server.root(), "big.git").await?;
    generate(&mut repo, files, commits).await?;
    repo.push().await?;
    let pack_size = dir_size(&repo.bare_path().join("objects"));
    println!(
        "generated {files} files, {commits} commits ({:.1} MiB of objects) in {:.1?}",
        pack_size as f64 / (1 << 20) as f64,
        started.elapsed()
    );
    let url = git_server.url_for("big.git");

    // 1. Cold fetch + artifact vs git clone --depth 1, interleaved.
    let mut ferry_times = Vec::new();
    let mut git_times = Vec::new();
    let mut artifact_size = 0;
    let mut entry_count = 0;
    for _ in 0..runs {
        let (elapsed, size, entries) = ferry_cold(&url).await?;
        ferry_times.push(elapsed);
        artifact_size = size;
        entry_count = entries;
        git_times.push(git_clone_depth1(&url).await?);
    }
    let ferry_p50 = median(&mut ferry_times);
    let git_p50 = median(&mut git_times);
    println!(
        "cold fetch+artifact: ferry p50 {:.0} ms, git clone --depth 1 p50 {:.0} ms, ratio ferry/git {:.2} \
         (artifact {entry_count} entries, {:.1} KiB)",
        ms(ferry_p50),
        ms(git_p50),
        ferry_p50.as_secs_f64() / git_p50.as_secs_f64(),
        artifact_size as f64 / 1024.0
    );
    println!(
        "  sorted runs (ms): ferry {:?}, git {:?}",
        ferry_times
            .iter()
            .map(|d| ms(*d).round())
            .collect::<Vec<_>>(),
        git_times.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );

    // Where an incremental update spends its time, in-process on a warm cache.
    let steps = ferry_incremental(&url, &mut repo).await?;
    println!(
        "incremental (one new commit, warm caches), in-process: list refs {:.0} ms, fetch {:.0} ms, \
         list tree {:.0} ms, pack {:.0} ms",
        ms(steps[0]),
        ms(steps[1]),
        ms(steps[2]),
        ms(steps[3])
    );

    // 2 + 3. End to end with the service.
    let run = end_to_end(&git_server, &mut repo, updates).await?;
    let mut sorted = run.latencies.clone();
    sorted.sort();
    let pct = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "push -> ArtifactReady via webhook over {} commits: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        sorted.len(),
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(pct(1.0))
    );
    print_breakdown(&run);
    println!(
        "source-controller peak RSS (VmHWM): {:.1} MiB",
        run.hwm_kib as f64 / 1024.0
    );
    println!("total bench time {:.1?}", started.elapsed());
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `files` YAML-ish files in 50 directories, then `commits` commits each touching 10 files.
async fn generate(repo: &mut GitRepoBuilder, files: usize, commits: usize) -> anyhow::Result<()> {
    let work = repo.work_dir().to_owned();
    for i in 0..files {
        let path = file_path(&work, i);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content(i, 0))?;
    }
    repo.git(&["add", "--all"]).await?;
    repo.git(&["commit", "--quiet", "-m", "initial"]).await?;
    for c in 1..commits {
        for k in 0..10 {
            let i = (c * 7919 + k * 104_729) % files;
            std::fs::write(file_path(&work, i), content(i, c))?;
        }
        repo.git(&["commit", "--quiet", "-am", &format!("change {c}")])
            .await?;
    }
    Ok(())
}

fn file_path(work: &Path, i: usize) -> PathBuf {
    work.join(format!("apps/team-{:02}/svc-{i:05}/deploy.yaml", i % 50))
}

fn content(i: usize, revision: usize) -> String {
    let mut out = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  labels:\n    rev: \"{revision}\"\nspec:\n  replicas: {}\n  template:\n    spec:\n      containers:\n",
        i % 5 + 1
    );
    for c in 0..(i % 4 + 1) {
        out.push_str(&format!(
            "      - name: c{c}\n        image: registry.example/team-{}/svc-{i}:{}.{}.{}\n        env:\n        - name: SEED\n          value: \"{:x}\"\n",
            i % 50,
            revision / 100,
            revision % 100,
            c,
            (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ revision as u64
        ));
    }
    out
}

/// Ferry's git layer and packer on a cold cache: returns time, artifact size, entries.
async fn ferry_cold(url: &str) -> anyhow::Result<(Duration, u64, usize)> {
    let cache_dir = tempfile::tempdir()?;
    let url = url.to_string();
    let root = cache_dir.path().to_owned();
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let started = Instant::now();
        let cache = RepoCache::new(root);
        let creds = Credentials::default();
        let interrupt = AtomicBool::new(false);
        let git_ref = GitRef::Branch("main".into());
        let repo = cache.open(&url)?;
        let refs =
            git::list_remote_refs(&repo, &url, &creds, &git_ref.listing_refspecs(), &interrupt)?;
        let resolved = git::resolve(&git_ref, &refs)?;
        git::fetch(&repo, &url, &creds, &resolved.refspecs, &interrupt)?;
        let repo = cache.open(&url)?;
        let items = git::tree_items(&repo, resolved.commit, None, TreeLimits::default())?;
        let count = items.len();
        let (packed, _) = pack_cold(&repo, items)?;
        Ok((started.elapsed(), packed.size(), count))
    })
    .await??;
    drop(cache_dir);
    Ok(result)
}

/// Packs `items` on an empty pack cache, reading every blob.
fn pack_cold(
    repo: &gix::Repository,
    items: Vec<ferry_artifact::TreeItem>,
) -> anyhow::Result<(ferry_artifact::Packed, ferry_artifact::PackStats)> {
    let mut cache = ferry_artifact::PackCache::default();
    Ok(ferry_artifact::pack_tree(
        items,
        &mut cache,
        u64::MAX,
        |id, path| git::load_blob(repo, id, path),
    )?)
}

/// Warms a Git cache and a pack cache, pushes one commit, then times each step of the update
/// the way the service runs it: list refs, fetch, list the tree, pack against the warm cache.
async fn ferry_incremental(url: &str, repo: &mut GitRepoBuilder) -> anyhow::Result<[Duration; 4]> {
    let cache_dir = tempfile::tempdir()?;
    let cache = RepoCache::new(cache_dir.path());
    let git_ref = GitRef::Branch("main".into());
    let run = |cache: RepoCache, url: String, mut packs: ferry_artifact::PackCache| {
        let git_ref = git_ref.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let creds = Credentials::default();
            let interrupt = AtomicBool::new(false);
            let t = Instant::now();
            let repo = cache.open(&url)?;
            let refs = git::list_remote_refs(
                &repo,
                &url,
                &creds,
                &git_ref.listing_refspecs(),
                &interrupt,
            )?;
            let resolved = git::resolve(&git_ref, &refs)?;
            let listed = t.elapsed();
            let t = Instant::now();
            git::fetch(&repo, &url, &creds, &resolved.refspecs, &interrupt)?;
            let repo = cache.open(&url)?;
            let fetched = t.elapsed();
            let t = Instant::now();
            let items = git::tree_items(&repo, resolved.commit, None, TreeLimits::default())?;
            let read = t.elapsed();
            let t = Instant::now();
            ferry_artifact::pack_tree(items, &mut packs, u64::MAX, |id, path| {
                git::load_blob(&repo, id, path)
            })?;
            Ok(([listed, fetched, read, t.elapsed()], packs))
        })
    };
    let (_, packs) = run(cache.clone(), url.to_string(), Default::default()).await??;
    let work = repo.work_dir().to_owned();
    std::fs::write(
        work.join("apps/team-01/svc-00001/deploy.yaml"),
        content(1, 5_000),
    )?;
    repo.git(&["commit", "--quiet", "-am", "incremental"])
        .await?;
    repo.push().await?;
    let (steps, _) = run(cache, url.to_string(), packs).await??;
    Ok(steps)
}

async fn git_clone_depth1(url: &str) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    run_git(
        dir.path(),
        &[
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            "main",
            "--single-branch",
            url,
            "clone",
        ],
    )
    .await?;
    Ok(started.elapsed())
}

/// The service, a GitRepository on the big repository and a generic Receiver; returns the
/// push-to-event latency of each commit, its phases, the service's logs and peak RSS.
async fn end_to_end(
    git_server: &GitHttpServer,
    repo: &mut GitRepoBuilder,
    updates: usize,
) -> anyhow::Result<EndToEnd> {
    let binary = std::env::current_exe()?
        .parent()
        .context("bench binary directory")?
        .join("source-controller");
    if !binary.is_file() {
        bail!(
            "{} is missing: run `cargo build --release -p source-controller` (just bench does)",
            binary.display()
        );
    }
    let nats = NatsServer::start().await?;
    let kube = KubeTarget::start().await?;
    let crds = workspace_root().join("deploy/crds").display().to_string();
    kube.kubectl(&["apply", "--server-side", "-k", &crds])
        .await?;
    kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/gitrepositories.source.toolkit.fluxcd.io",
        "crd/receivers.notification.toolkit.fluxcd.io",
    ])
    .await?;
    kube.kubectl(&["create", "namespace", "apps"]).await?;
    let cache = tempfile::tempdir()?;
    let cache_path = cache.path().display().to_string();
    let service = RunningService::start_binary_with_args(
        "source-controller",
        &binary,
        &nats.url(),
        kube.kubeconfig(),
        &[
            "--storage-addr",
            "127.0.0.1:0",
            "--receiver-addr",
            "127.0.0.1:0",
            "--cache-dir",
            &cache_path,
        ],
    )
    .await;
    service.wait_ready(Duration::from_secs(60)).await;
    let line = service
        .wait_for_log("listening storage=", Duration::from_secs(30))
        .await;
    let receiver = logged_addr(&line, "receiver").context("receiver address")?;
    let client = nats.connect().await?;
    let mut events = client.subscribe("ferry.events.artifact.ready").await?;

    let manifest = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: big\n  namespace: apps\nspec:\n  interval: 10m\n  url: {}\n  ref:\n    branch: main\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\n  namespace: apps\nstringData:\n  token: bench-token\n---\napiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata:\n  name: push\n  namespace: apps\nspec:\n  type: generic\n  secretRef:\n    name: hook\n  resources:\n  - kind: GitRepository\n    name: big\n",
        git_server.url_for("big.git")
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.yaml");
    std::fs::write(&path, manifest)?;
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await?;
    let head = repo.head_sha().await?;
    wait_event(
        &mut events,
        &format!("main@sha1:{head}"),
        Duration::from_secs(120),
    )
    .await?;
    let hook_path = loop {
        let out = kube
            .kubectl(&[
                "get",
                "receiver",
                "push",
                "-n",
                "apps",
                "-o",
                "jsonpath={.status.webhookPath}",
            ])
            .await?;
        if !out.trim().is_empty() {
            break out.trim().to_string();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let hook = format!("http://{receiver}{hook_path}");
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut phases = Vec::new();
    let work = repo.work_dir().to_owned();
    for n in 0..updates {
        std::fs::write(
            work.join("apps/team-00/svc-00000/deploy.yaml"),
            content(0, 10_000 + n),
        )?;
        repo.git(&["commit", "--quiet", "-am", &format!("update {n}")])
            .await?;
        let sha = repo.head_sha().await?;
        let started = Instant::now();
        repo.push().await?;
        let pushed = started.elapsed();
        let response = http.post(&hook).body("{}").send().await?;
        if !response.status().is_success() {
            bail!("webhook answered {}", response.status());
        }
        phases.push((pushed, started.elapsed() - pushed));
        wait_event(
            &mut events,
            &format!("main@sha1:{sha}"),
            Duration::from_secs(30),
        )
        .await?;
        latencies.push(started.elapsed());
    }
    let pid = service.pid().context("service pid")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")?;
    let logs = service.logs();
    service.stop_cleanly().await;
    Ok(EndToEnd {
        latencies,
        phases,
        logs,
        hwm_kib: hwm,
    })
}

/// What the end-to-end run measured.
struct EndToEnd {
    latencies: Vec<Duration>,
    /// Per commit: `git push`, then the webhook's round trip.
    phases: Vec<(Duration, Duration)>,
    /// The service's JSON log lines, with its per-step timings.
    logs: String,
    hwm_kib: u64,
}

/// The median of each numeric `fields` of the service's last `n` log lines with `message`.
fn logged_medians(logs: &str, message: &str, fields: &[&str], n: usize) -> Vec<(String, u64)> {
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect();
    let recent = &lines[lines.len().saturating_sub(n)..];
    fields
        .iter()
        .map(|field| {
            let mut values: Vec<u64> = recent.iter().filter_map(|v| v[*field].as_u64()).collect();
            values.sort_unstable();
            let median = values.get(values.len() / 2).copied().unwrap_or_default();
            (field.to_string(), median)
        })
        .collect()
}

fn print_breakdown(run: &EndToEnd) {
    let mut push: Vec<Duration> = run.phases.iter().map(|p| p.0).collect();
    let mut hook: Vec<Duration> = run.phases.iter().map(|p| p.1).collect();
    println!(
        "  client side, medians: git push {:.0} ms, webhook round trip {:.0} ms",
        ms(median(&mut push)),
        ms(median(&mut hook))
    );
    let n = run.latencies.len();
    for (message, fields) in [
        (
            "Packed artifact.",
            &[
                "list_ms",
                "pack_ms",
                "put_ms",
                "index_ms",
                "chunks",
                "chunks_compressed",
                "size",
            ][..],
        ),
        (
            "Stored artifact.",
            &["source_ms", "steps_ms", "status_ms", "total_ms"][..],
        ),
    ] {
        let medians = logged_medians(&run.logs, message, fields, n);
        let text: Vec<String> = medians.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  service \"{message}\" medians: {}", text.join(", "));
    }
}

async fn wait_event(
    events: &mut async_nats::Subscriber,
    revision: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let message = tokio::time::timeout_at(deadline, events.next())
            .await
            .with_context(|| format!("no ArtifactReady for {revision} within {limit:?}"))?
            .context("event subscription closed")?;
        let event = ArtifactReady::decode(message.payload.as_ref())?;
        if event.revision == revision {
            return Ok(());
        }
    }
}
