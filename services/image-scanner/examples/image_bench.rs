//! image-scanner benchmark (`just bench`; results in BENCHMARKS.md, section "image-scanner"):
//! a real docker-registry holding 10,000 tags and 20 ImagePolicies (semver, alphabetical,
//! numerical, extract). In process: the scan (every page of the tag list) and evaluating all 20
//! policies, with peak RSS. Through the release service binary (with nats-server and the API
//! emulator): scan-to-Ready for the ImageRepository and all policies, the service's peak RSS, and
//! push-to-commit latency (manifest pushed to the registry → the automation's commit in Git),
//! the ImageRepository poked with `reconcile.fluxcd.io/requestedAt` as a Receiver does.
//!
//! Sizes: `FERRY_BENCH_TAGS` (10000), `FERRY_BENCH_RUNS` (5 latency samples).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferry_integration_tests::cluster::{KubeTarget, workspace_root};
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::service::RunningService;
use flux_api::image::{ImagePolicySpec, ImageRepository};
use futures::StreamExt as _;
use image_scanner::policy::Policy;
use image_scanner::registry::{ClientOptions, ImageName, RegistryAuthSource, scan_tags};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const REPO: &str = "bench/app";
const WAIT: Duration = Duration::from_secs(300);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tags = env_usize("FERRY_BENCH_TAGS", 10_000);
    let runs = env_usize("FERRY_BENCH_RUNS", 5);
    let registry = Registry::start().await?;
    let started = Instant::now();
    fill_registry(&registry, tags).await?;
    println!(
        "registry: pushed {tags} tags (one manifest, {tags} tag PUTs) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    in_process(&registry, tags).await?;
    through_service(&registry, tags, runs).await
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bench's tag names (all distinct): 4,000 semver, 3,000 `main-<sha>-<unix time>`, 3,000 dated builds.
fn tag_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| match i % 10 {
            0..=3 => format!("1.{}.{}", i / 100, i % 100),
            4..=6 => format!("main-{:07x}-{}", i * 7919 % 0xfffffff, 1_700_000_000 + i),
            _ => format!("build-2024{:02}{:02}-{i:05}", i % 12 + 1, i % 28 + 1),
        })
        .collect()
}

/// Pushes one image, then PUTs its manifest under every tag name (32 at a time).
async fn fill_registry(registry: &Registry, count: usize) -> anyhow::Result<()> {
    push_image(registry, REPO, "seed").await?;
    let http = reqwest::Client::new();
    let base = format!("{}/v2/{REPO}/manifests", registry.url());
    let response = http
        .get(format!("{base}/seed"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await?
        .error_for_status()?;
    let media_type = response
        .headers()
        .get("content-type")
        .context("manifest content type")?
        .clone();
    let manifest = response.bytes().await?;
    let puts = futures::stream::iter(tag_names(count)).map(|tag| {
        let request = http
            .put(format!("{base}/{tag}"))
            .header("content-type", media_type.clone())
            .body(manifest.clone());
        async move { request.send().await?.error_for_status().map(|_| ()) }
    });
    let results: Vec<Result<(), reqwest::Error>> = puts.buffer_unordered(32).collect().await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

/// The 20 policies: 8 semver, 4 semver over an extracted version, 4 numerical over an
/// extracted number, 4 alphabetical (two with a filter).
fn policy_specs() -> Vec<(String, Value)> {
    let semver = |range: &str| json!({"semver": {"range": range}});
    let mut specs = Vec::new();
    for (i, range) in [
        ">=1.0.0",
        "~1.5",
        "^1.0.0",
        "<1.20.0",
        ">=1.10.0 <1.30.0",
        "1.x",
        "*",
        ">=1.2.3 || <0.1.0",
    ]
    .iter()
    .enumerate()
    {
        specs.push((format!("semver-{i}"), json!({"policy": semver(range)})));
    }
    for (i, range) in [">=1.0.0", "~1.7", "<1.9.0", "^1.1.0"].iter().enumerate() {
        specs.push((
            format!("extract-semver-{i}"),
            json!({
            "filterTags": {"pattern": "^(?P<v>1\\.[0-9]+\\.[0-9]+)$", "extract": "$v"},
            "policy": semver(range)}),
        ));
    }
    let numerical = [
        ("^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "$ts", "asc"),
        ("^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "$ts", "desc"),
        ("^build-[0-9]+-(?P<n>[0-9]+)$", "$n", "asc"),
        ("^build-[0-9]+-(?P<n>[0-9]+)$", "$n", "desc"),
    ];
    for (i, (pattern, extract, order)) in numerical.iter().enumerate() {
        specs.push((
            format!("numerical-{i}"),
            json!({
            "filterTags": {"pattern": pattern, "extract": extract},
            "policy": {"numerical": {"order": order}}}),
        ));
    }
    let alphabetical = [
        (None, "asc"),
        (None, "desc"),
        (Some(("^build-(?P<d>[0-9]{8})-", "$d")), "asc"),
        (Some(("^main-(?P<sha>[a-f0-9]+)-[0-9]+$", "$sha")), "asc"),
    ];
    for (i, (filter, order)) in alphabetical.iter().enumerate() {
        let mut spec = json!({"policy": {"alphabetical": {"order": order}}});
        if let Some((pattern, extract)) = filter {
            spec["filterTags"] = json!({"pattern": pattern, "extract": extract});
        }
        specs.push((format!("alphabetical-{i}"), spec));
    }
    specs
}

async fn in_process(registry: &Registry, count: usize) -> anyhow::Result<()> {
    reset_peak_rss();
    let image = ImageName::parse(&format!("{}/{REPO}", registry.host()))?;
    let options = ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    };
    let mut scans = Vec::new();
    let mut scan = None;
    for _ in 0..5 {
        let started = Instant::now();
        let result =
            scan_tags(&image, &RegistryAuthSource::Anonymous, &[], options.clone()).await?;
        scans.push(started.elapsed());
        scan = Some(result);
    }
    let scan = scan.context("a scan")?;
    if scan.tags.len() != count + 1 {
        bail!("scanned {} tags, expected {}", scan.tags.len(), count + 1);
    }
    let policies = policy_specs()
        .into_iter()
        .map(|(name, mut spec)| {
            spec["imageRepositoryRef"] = json!({"name": "app"});
            let spec: ImagePolicySpec = serde_json::from_value(spec)?;
            Ok((name, Policy::from_spec(&spec)?))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut evaluations = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for (name, policy) in &policies {
            policy
                .latest(scan.tags.iter().map(String::as_str))
                .with_context(|| format!("policy {name}"))?;
        }
        evaluations.push(started.elapsed());
    }
    println!(
        "in process: scan of {} tags in {} pages: median {:.0} ms (5 runs); evaluate {} policies over them: median {:.1} ms (5 runs); peak RSS {:.1} MiB",
        scan.tags.len(),
        scan.pages,
        millis(median(&mut scans)),
        policies.len(),
        millis(median(&mut evaluations)),
        peak_rss_kib(Path::new("/proc/self/status")).unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Resets this process's peak RSS (`VmHWM`) so it covers only what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kib(status: &Path) -> Option<u64> {
    std::fs::read_to_string(status)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn service_binary() -> anyhow::Result<PathBuf> {
    // target/release/examples/image_bench → target/release/image-scanner
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("bench binary directory")?;
    let binary = dir.join("image-scanner");
    if !binary.is_file() {
        bail!(
            "{} is missing: run `cargo build --release -p image-scanner` (just bench does)",
            binary.display()
        );
    }
    Ok(binary)
}

async fn kube_client(kube: &KubeTarget) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kube.kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

async fn apply(kube: &KubeTarget, manifests: &[Value]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("manifests.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": manifests});
    std::fs::write(&path, list.to_string())?;
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await?;
    Ok(())
}

async fn get(kube: &KubeTarget, kind: &str) -> anyhow::Result<Vec<Value>> {
    let out = kube
        .kubectl(&["get", kind, "-n", "apps", "-o", "json"])
        .await?;
    let list: Value = serde_json::from_str(&out)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn is_ready(obj: &Value) -> bool {
    obj["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Polls until `count` objects of `kind` are Ready.
async fn wait_ready(kube: &KubeTarget, kind: &str, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let items = get(kube, kind).await?;
        if items.iter().filter(|o| is_ready(o)).count() >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{kind}: not all Ready: {}", Value::from(items));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image} # {{\"$imagepolicy\": \"apps:semver-0\"}}\n"
    )
}

async fn through_service(registry: &Registry, count: usize, runs: usize) -> anyhow::Result<()> {
    let binary = service_binary()?;
    let nats = NatsServer::start().await?;
    let kube = KubeTarget::start().await?;
    let crds = workspace_root().join("deploy/crds").display().to_string();
    kube.kubectl(&["apply", "--server-side", "-k", &crds])
        .await?;
    kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/imagerepositories.image.toolkit.fluxcd.io",
        "crd/imagepolicies.image.toolkit.fluxcd.io",
        "crd/imageupdateautomations.image.toolkit.fluxcd.io",
        "crd/gitrepositories.source.toolkit.fluxcd.io",
    ])
    .await?;
    kube.kubectl(&["create", "namespace", "apps"]).await?;
    let scanner = RunningService::start_binary_with_args(
        "image-scanner",
        &binary,
        &nats.url(),
        kube.kubeconfig(),
        &[],
    )
    .await;
    scanner.wait_ready(Duration::from_secs(60)).await;
    let image = format!("{}/{REPO}", registry.host());
    let git = GitHttpServer::start(Auth::None).await?;
    let mut repo = GitRepoBuilder::create(git.root(), "fleet.git").await?;
    repo.commit_files(
        &[("deploy/app.yaml", &deployment(&format!("{image}:1.0.0")))],
        "initial",
    )
    .await?;
    repo.push().await?;

    let started = Instant::now();
    apply(
        &kube,
        &[
            json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"image": image, "interval": "10m", "insecure": true}}),
        ],
    )
    .await?;
    wait_ready(&kube, "imagerepository", 1).await?;
    let scanned = started.elapsed();
    let started = Instant::now();
    let policies: Vec<Value> = policy_specs()
        .into_iter()
        .map(|(name, mut spec)| {
            spec["imageRepositoryRef"] = json!({"name": "app"});
            json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                "metadata": {"name": name, "namespace": "apps"}, "spec": spec})
        })
        .collect();
    let policy_count = policies.len();
    apply(&kube, &policies).await?;
    wait_ready(&kube, "imagepolicy", policy_count).await?;
    let evaluated = started.elapsed();
    println!(
        "service: ImageRepository of {} tags applied → Ready {:.0} ms; {policy_count} ImagePolicies applied → all Ready {:.0} ms (both include kubectl apply and 50 ms polling)",
        count + 1,
        millis(scanned),
        millis(evaluated)
    );

    let latencies = push_to_commit(&kube, &git, &repo, registry, runs).await?;
    let pid = scanner.pid().context("service pid")?;
    let peak = peak_rss_kib(&PathBuf::from(format!("/proc/{pid}/status"))).unwrap_or(0);
    let mut sorted = latencies.clone();
    println!(
        "push-to-commit over {runs} new tags: median {:.0} ms, max {:.0} ms (samples: {})",
        millis(median(&mut sorted)),
        millis(*sorted.last().context("samples")?),
        latencies
            .iter()
            .map(|d| format!("{:.0}", millis(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "service peak RSS (VmHWM) after all of the above: {:.1} MiB",
        peak as f64 / 1024.0
    );
    Ok(())
}

/// Per run: push a new highest semver tag, annotate the ImageRepository (as a Receiver would),
/// and wait for the automation's commit on `main` in the bare repository.
async fn push_to_commit(
    kube: &KubeTarget,
    git: &GitHttpServer,
    repo: &GitRepoBuilder,
    registry: &Registry,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let initial = repo.remote_sha("main").await?;
    apply(
        kube,
        &[
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "fleet", "namespace": "apps"},
                "spec": {"interval": "10m", "url": git.url_for("fleet.git"), "ref": {"branch": "main"}}}),
            json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
                "metadata": {"name": "fleet", "namespace": "apps"},
                "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                    "git": {"commit": {"author": {"email": "bench@ferry.example"}}}}}),
        ],
    )
    .await?;
    // The first run commits the highest existing tag; wait for it before measuring.
    let mut head = wait_for_new_head(repo, &initial).await?;
    let client = kube_client(kube).await?;
    let repositories: Api<ImageRepository> = Api::namespaced(client, "apps");
    let mut latencies = Vec::new();
    for run in 0..runs {
        let tag = format!("2.0.{run}");
        let started = Instant::now();
        push_image(registry, REPO, &tag).await?;
        let patch = json!({"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": format!("bench-{run}")}}});
        repositories
            .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        head = wait_for_new_head(repo, &head).await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// Polls the bare repository's `main` (the loose ref file, else `git rev-parse`) until it
/// differs from `old`.
async fn wait_for_new_head(repo: &GitRepoBuilder, old: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + WAIT;
    let loose = repo.bare_path().join("refs/heads/main");
    loop {
        let current = match std::fs::read_to_string(&loose) {
            Ok(sha) => sha.trim().to_owned(),
            Err(_) => repo.remote_sha("main").await?,
        };
        if current != old {
            return Ok(current);
        }
        if Instant::now() > deadline {
            bail!("no new commit on main after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
