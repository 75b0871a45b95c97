//! The walkthrough: first sync, a commit delivered by webhook, a drift that gets corrected, and
//! an image push that becomes a commit and a rollout; each step timed, with its trace.

use anyhow::{Context as _, Result, bail};
use ferry_integration_tests::fleet;
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::registry::push_image;
use ferry_integration_tests::stack::Stack;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::time::{Instant, sleep};

const STEP_LIMIT: Duration = Duration::from_secs(120);

/// Runs every step in order; stops at the first that does not reach its goal.
pub async fn walk(stack: &Stack) -> Result<()> {
    let image = format!("{}/podinfo", stack.registry.host());
    let mut repo = step(
        "seed Git with the example app and push image 1.0.0",
        seed(stack, &image),
    )
    .await?;
    step("first sync: dev and prod become Ready", first_sync(stack)).await?;
    show_trace(stack, "fleet");
    step(
        "a commit, announced by webhook, reaches dev and prod",
        commit(stack, &mut repo),
    )
    .await?;
    show_trace(stack, "fleet");
    step(
        "a manual change in dev is detected and corrected",
        drift(stack),
    )
    .await?;
    step(
        "image 1.1.0 is pushed: commit to Git, rollout in dev and prod",
        image_push(stack),
    )
    .await?;
    show_trace(stack, "fleet");
    Ok(())
}

async fn step<T>(title: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
    println!("\n▶ {title}");
    let started = Instant::now();
    let out = work.await.with_context(|| format!("step '{title}'"))?;
    println!("✔ {title} ({:.2}s)", started.elapsed().as_secs_f64());
    Ok(out)
}

async fn seed(stack: &Stack, image: &str) -> Result<GitRepoBuilder> {
    push_image(&stack.registry, "podinfo", "1.0.0").await?;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "fleet.git").await?;
    let files = fleet::files(image, "1.0.0");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let sha = repo
        .commit_files(&refs, "Add podinfo with dev and prod overlays")
        .await?;
    repo.push().await?;
    println!(
        "  pushed {} to {}",
        &sha[..12],
        stack.git.url_for("fleet.git")
    );
    apply(
        stack,
        &fleet::ferry_objects(&stack.git.url_for("fleet.git"), image),
    )
    .await?;
    Ok(repo)
}

async fn first_sync(stack: &Stack) -> Result<()> {
    for ks in ["apps-dev", "apps-prod"] {
        let obj = wait_for(stack, "kustomization", ks, |o| ready(o) == Some(true)).await?;
        println!("  {ks}: {}", message(&obj));
    }
    let deployments = stack
        .kube
        .kubectl(&[
            "get",
            "deployments",
            "-A",
            "-l",
            "app.kubernetes.io/managed-by!=x",
        ])
        .await?;
    print!("{}", indent(&deployments));
    Ok(())
}

async fn commit(stack: &Stack, repo: &mut GitRepoBuilder) -> Result<()> {
    let sha = repo
        .commit_files(
            &[(
                "apps/base/configmap.yaml",
                &fleet::configmap("hello again from Ferry"),
            )],
            "New greeting",
        )
        .await?;
    repo.push().await?;
    let receiver = get(stack, "receiver", "fleet-push").await?;
    let path = receiver["status"]["webhookPath"]
        .as_str()
        .context("Receiver has no webhookPath")?;
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", stack.receiver))
        .body("{}")
        .send()
        .await?;
    println!(
        "  pushed {}; webhook answered {}",
        &sha[..12],
        response.status()
    );
    let revision = format!("main@sha1:{sha}");
    for ks in ["apps-dev", "apps-prod"] {
        wait_for(stack, "kustomization", ks, |o| {
            o["status"]["lastAppliedRevision"] == revision.as_str()
        })
        .await?;
    }
    let cm = stack
        .kube
        .kubectl(&[
            "get",
            "configmap",
            "podinfo-config",
            "-n",
            "dev",
            "-o",
            "jsonpath={.data.message}",
        ])
        .await?;
    println!("  dev ConfigMap now says: {cm}");
    Ok(())
}

async fn drift(stack: &Stack) -> Result<()> {
    stack
        .kube
        .kubectl(&[
            "scale",
            "deployment",
            "podinfo",
            "-n",
            "dev",
            "--replicas=5",
        ])
        .await?;
    println!("  kubectl scale deployment/podinfo -n dev --replicas=5");
    request(stack, "kustomization", "apps-dev").await?;
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        let replicas = stack
            .kube
            .kubectl(&[
                "get",
                "deployment",
                "podinfo",
                "-n",
                "dev",
                "-o",
                "jsonpath={.spec.replicas}",
            ])
            .await?;
        if replicas.trim() == "1" {
            println!("  replicas back to 1, as Git declares");
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("drift was not corrected: replicas {replicas}");
        }
        sleep(Duration::from_millis(200)).await;
    }
}

async fn image_push(stack: &Stack) -> Result<()> {
    push_image(&stack.registry, "podinfo", "1.1.0").await?;
    request(stack, "imagerepository", "podinfo").await?;
    let policy = wait_for(stack, "imagepolicy", "podinfo", |o| {
        o["status"]["latestRef"]["tag"] == "1.1.0"
    })
    .await?;
    println!(
        "  ImagePolicy latest: {}",
        policy["status"]["latestRef"]["tag"]
    );
    let automation = wait_for(stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["lastPushCommit"].is_string()
    })
    .await?;
    println!("  pushed commit {}", automation["status"]["lastPushCommit"]);
    for ns in ["dev", "prod"] {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let image = stack
                .kube
                .kubectl(&[
                    "get",
                    "deployment",
                    "podinfo",
                    "-n",
                    ns,
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}",
                ])
                .await?;
            if image.ends_with(":1.1.0") {
                println!("  {ns} runs {image}");
                break;
            }
            if Instant::now() > deadline {
                bail!("{ns} still runs {image}");
            }
            sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Prints the newest trace that runs through more than one service (a revision's journey:
/// fetch, render, apply), as a tree of spans with the service of each.
fn show_trace(stack: &Stack, _source: &str) {
    let spans = stack.collector.spans();
    let mut traces: std::collections::BTreeMap<&str, (std::collections::BTreeSet<&str>, u64)> =
        std::collections::BTreeMap::new();
    for span in &spans {
        let entry = traces.entry(span.trace_id.as_str()).or_default();
        entry.0.insert(span.service_name.as_deref().unwrap_or("?"));
        entry.1 = entry.1.max(span.end_time_unix_nano);
    }
    let newest = traces
        .iter()
        .filter(|(_, (services, _))| services.len() > 1)
        .max_by_key(|(_, (_, end))| *end);
    let Some((trace_id, (services, _))) = newest else {
        println!("  (no trace spanning several services has been exported yet)");
        return;
    };
    let names: Vec<&str> = services.iter().copied().collect();
    println!("  trace {trace_id} across {}", names.join(", "));
    for tree in stack.collector.trace_tree(trace_id) {
        print!("{}", indent(&tree.render()));
    }
}

async fn apply(stack: &Stack, manifest: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ferry.yaml");
    std::fs::write(&path, manifest)?;
    stack
        .kube
        .kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await?;
    Ok(())
}

async fn request(stack: &Stack, kind: &str, name: &str) -> Result<()> {
    let token = format!("reconcile.fluxcd.io/requestedAt={}", chrono_like_now());
    stack
        .kube
        .kubectl(&[
            "annotate",
            "--overwrite",
            "-n",
            "ferry-system",
            &format!("{kind}/{name}"),
            &token,
        ])
        .await?;
    Ok(())
}

fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

async fn get(stack: &Stack, kind: &str, name: &str) -> Result<Value> {
    let out = stack
        .kube
        .kubectl(&["get", kind, name, "-n", "ferry-system", "-o", "json"])
        .await?;
    Ok(serde_json::from_str(&out)?)
}

async fn wait_for(
    stack: &Stack,
    kind: &str,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        let obj = get(stack, kind, name).await?;
        if done(&obj) {
            return Ok(obj);
        }
        if Instant::now() > deadline {
            bail!("{kind}/{name} did not get there; status: {}", obj["status"]);
        }
        sleep(Duration::from_millis(200)).await;
    }
}

fn ready(obj: &Value) -> Option<bool> {
    let conditions = obj["status"]["conditions"].as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    Some(ready["status"] == "True")
}

fn message(obj: &Value) -> String {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
