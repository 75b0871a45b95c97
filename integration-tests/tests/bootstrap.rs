//! `ferry bootstrap` leads to a self-managed Ferry: the CLI installs `deploy/` into the API
//! emulator and creates the sync objects; the services (run here as processes, standing in for
//! the pods the emulator cannot run) then apply Ferry's own manifests from Git with Ferry's own
//! renderer and applier, take over the fields the install wrote, and roll out a change to Ferry
//! that is committed to Git.
//!
//! Always the emulator: bootstrap installs Ferry for real.

use anyhow::{Context as _, Result, ensure};
use ferry_integration_tests::cluster::{KubeTarget, workspace_root};
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::service::{RunningService, service_binary};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio::time::{Instant, sleep};

const NS: &str = "ferry-system";
const NAME: &str = "ferry-system";
const WAIT: Duration = Duration::from_secs(120);
const CLUSTER_PATH: &str = "clusters/dev";

/// The fleet repository's entry point: Ferry's dev profile, from the copy of `deploy/` in the
/// repository (as `flux bootstrap` commits its own manifests next to the cluster's).
const CLUSTER_KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\n\
kind: Kustomization\nresources:\n  - ../../ferry/overlays/dev\n";

/// The same, with the applier scaled to three replicas: a change to Ferry made in Git.
const CLUSTER_KUSTOMIZATION_SCALED: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\n\
kind: Kustomization\nresources:\n  - ../../ferry/overlays/dev\nreplicas:\n  - name: applier\n    count: 3\n";

/// Every file under `deploy/`, as (path in the fleet repository, content).
fn deploy_files() -> Result<Vec<(String, String)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {dir:?}"))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root)?.display().to_string();
                out.push((format!("ferry/{rel}"), std::fs::read_to_string(&path)?));
            }
        }
        Ok(())
    }
    let root = workspace_root().join("deploy");
    let mut out = Vec::new();
    walk(&root, &root, &mut out)?;
    Ok(out)
}

async fn ferry(kube: &KubeTarget, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new(service_binary("ferry"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--kubeconfig")
        .arg(kube.kubeconfig())
        .args(args)
        .current_dir(workspace_root())
        .kill_on_drop(true)
        .output()
        .await
        .context("running ferry")?;
    ensure!(
        out.status.success(),
        "ferry {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn get(kube: &KubeTarget, kind: &str, name: &str) -> Result<Value> {
    let out = kube
        .kubectl(&[
            "get",
            kind,
            name,
            "-n",
            NS,
            "-o",
            "json",
            "--show-managed-fields",
            "--ignore-not-found",
        ])
        .await?;
    Ok(if out.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out)?
    })
}

fn ready_at(ks: &Value, revision: &str) -> bool {
    ks["status"]["lastAppliedRevision"] == revision
        && ks["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

async fn wait_ready(
    kube: &KubeTarget,
    revision: &str,
    services: &[RunningService],
) -> Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let ks = get(kube, "kustomization", NAME).await?;
        if ready_at(&ks, revision) {
            return Ok(ks);
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = services
                .iter()
                .map(|s| format!("--- {} ---\n{}", s.name, s.logs()))
                .collect();
            anyhow::bail!(
                "Kustomization {NAME} never became Ready at {revision}:\n{}\n{}",
                serde_json::to_string_pretty(&ks)?,
                logs.join("\n")
            );
        }
        sleep(Duration::from_millis(250)).await;
    }
}

/// Inventory ids (`<ns>_<name>_<group>_<kind>`) of what `ferry build` renders from the fleet
/// repository's cluster path.
async fn built_inventory(kube: &KubeTarget, repo: &GitRepoBuilder) -> Result<BTreeSet<String>> {
    let dir = repo.work_dir().join(CLUSTER_PATH).display().to_string();
    let yaml = ferry(kube, &["build", &dir]).await?;
    Ok(yaml.split("\n---\n").map(inventory_id).collect())
}

/// The inventory id of one document of kustomize's output (block style, top-level keys at
/// column 0, `metadata`'s keys indented by two spaces).
fn inventory_id(doc: &str) -> String {
    let (mut api_version, mut kind, mut name, mut namespace) = ("", "", "", "");
    let mut section = "";
    for line in doc.lines() {
        if let Some(v) = line.strip_prefix("apiVersion: ") {
            api_version = v;
        } else if let Some(v) = line.strip_prefix("kind: ") {
            kind = v;
        } else if !line.starts_with(' ') {
            section = line.trim_end_matches(':');
        } else if section == "metadata" {
            if let Some(v) = line.strip_prefix("  name: ") {
                name = v;
            } else if let Some(v) = line.strip_prefix("  namespace: ") {
                namespace = v;
            }
        }
    }
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    format!("{namespace}_{name}_{group}_{kind}")
}

fn inventory(ks: &Value) -> BTreeSet<String> {
    ks["status"]["inventory"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

fn managers(obj: &Value) -> Vec<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e.get("subresource").is_none())
        .filter_map(|e| e["manager"].as_str().map(str::to_owned))
        .collect()
}

async fn start_services(nats: &NatsServer, kube: &KubeTarget, cache: &Path) -> Vec<RunningService> {
    let source_cache = cache.join("source").display().to_string();
    let render_cache = cache.join("render").display().to_string();
    let mut services = Vec::new();
    for (name, env) in [
        (
            "source-controller",
            vec![
                ("FERRY_STORAGE_ADDR", "127.0.0.1:0"),
                ("FERRY_RECEIVER_ADDR", "127.0.0.1:0"),
                ("FERRY_CACHE_DIR", source_cache.as_str()),
            ],
        ),
        (
            "kustomize-renderer",
            vec![("FERRY_CACHE_DIR", render_cache.as_str())],
        ),
        ("applier", Vec::new()),
    ] {
        let s = RunningService::start_with_env(name, &nats.url(), kube.kubeconfig(), &env).await;
        s.wait_ready(WAIT).await;
        services.push(s);
    }
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_leads_to_a_ferry_that_applies_and_updates_its_own_manifests_from_git()
-> Result<()> {
    let kube = KubeTarget::emulator(Default::default()).await?;
    let nats = NatsServer::start().await?;
    let git = GitHttpServer::start(Auth::None).await?;
    let mut repo = GitRepoBuilder::create(git.root(), "fleet.git").await?;
    let mut files = deploy_files()?;
    files.push((
        format!("{CLUSTER_PATH}/kustomization.yaml"),
        CLUSTER_KUSTOMIZATION.to_owned(),
    ));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let sha = repo
        .commit_files(&files, "Add Ferry and the dev cluster")
        .await?;
    repo.push().await?;
    let revision = format!("main@sha1:{sha}");

    ferry(
        &kube,
        &[
            "bootstrap",
            "--path",
            CLUSTER_PATH,
            "--url",
            &git.url_for("fleet.git"),
            "--overlay",
            "deploy/overlays/dev",
            "--interval",
            "1m",
        ],
    )
    .await?;
    let installed = get(&kube, "deployment", "applier").await?;
    ensure!(
        managers(&installed).contains(&"ferry".to_owned()),
        "bootstrap applied the Deployment as `ferry`: {:?}",
        managers(&installed)
    );

    let cache = tempfile::tempdir()?;
    let services = start_services(&nats, &kube, cache.path()).await;
    let ks = wait_ready(&kube, &revision, &services).await?;

    let expected = built_inventory(&kube, &repo).await?;
    let applied = inventory(&ks);
    ensure!(
        applied == expected,
        "the inventory is what `ferry build {CLUSTER_PATH}` renders:\nonly applied: {:?}\nonly built: {:?}",
        applied.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&applied).collect::<Vec<_>>()
    );
    for id in [
        "ferry-system_applier_apps_Deployment",
        "ferry-system_source-controller_apps_Deployment",
        "_kustomizations.kustomize.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition",
        "_ferry-system__Namespace",
    ] {
        ensure!(
            applied.contains(id),
            "{id} is in the inventory: {applied:?}"
        );
    }
    let applier = get(&kube, "deployment", "applier").await?;
    ensure!(
        applier["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == NAME,
        "Ferry's Deployment is owned by its Kustomization: {}",
        applier["metadata"]["labels"]
    );
    let owners = managers(&applier);
    ensure!(
        owners.contains(&"ferry-applier".to_owned()) && !owners.contains(&"ferry".to_owned()),
        "the applier took over the install's fields: {owners:?}"
    );

    let sha = repo
        .commit_files(
            &[(
                &format!("{CLUSTER_PATH}/kustomization.yaml"),
                CLUSTER_KUSTOMIZATION_SCALED,
            )],
            "Scale the applier to three replicas",
        )
        .await?;
    repo.push().await?;
    kube.kubectl(&[
        "annotate",
        "--overwrite",
        "-n",
        NS,
        &format!("gitrepository/{NAME}"),
        "reconcile.fluxcd.io/requestedAt=scale",
    ])
    .await?;
    wait_ready(&kube, &format!("main@sha1:{sha}"), &services).await?;
    let applier = get(&kube, "deployment", "applier").await?;
    ensure!(
        applier["spec"]["replicas"] == 3,
        "Ferry rolled out its own change: {}",
        applier["spec"]
    );
    Ok(())
}
