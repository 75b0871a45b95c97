//! Journeys (`ferry_bus::journey`) in the real `ferry-journeys` bucket of a `nats-server -js`,
//! and the journey an image update starts, written by the image-scanner and source-controller
//! binaries against a real registry, git server and the Kubernetes API (emulator or
//! `KUBECONFIG`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use async_nats::jetstream::kv;
use ferry_bus::journey::{self, Step, Timer};
use ferry_bus::topology::JOURNEYS_BUCKET;
use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::otlp::OtlpCollector;
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::service::RunningService;
use serde_json::Value;

/// Upper bound for any one test.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const STEPS_PER_WRITER: usize = 12;

async fn bounded<T>(test: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .context("test exceeded its time bound")?
}

/// A server with Ferry's topology, and the journeys bucket on a fresh connection.
async fn bucket(server: &NatsServer) -> Result<kv::Store> {
    let js = server.jetstream().await?;
    Ok(js.get_key_value(JOURNEYS_BUCKET).await?)
}

async fn ferry_server() -> Result<NatsServer> {
    let server = NatsServer::start().await?;
    ferry_bus::ensure(&server.jetstream().await?, &ferry_bus::topology::ferry()).await?;
    Ok(server)
}

fn step(name: &str, service: &str) -> Step {
    Timer::start().ok(name, service)
}

#[tokio::test]
async fn concurrent_record_step_calls_from_two_connections_keep_every_step() -> Result<()> {
    bounded(async {
        let server = ferry_server().await?;
        let key = journey::key("Kustomization", "flux-system", "apps");
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let mut writers = Vec::new();
        for service in ["kustomize-renderer", "applier"] {
            // One connection each, so the writes really race at the server.
            let kv = bucket(&server).await?;
            let key = key.clone();
            let start = start.clone();
            writers.push(tokio::spawn(async move {
                start.wait().await;
                for i in 0..STEPS_PER_WRITER {
                    journey::record_step(
                        &kv,
                        &key,
                        "main@sha1:1",
                        "t",
                        step(&format!("{i}"), service),
                    )
                    .await?;
                }
                anyhow::Ok(())
            }));
        }
        for w in writers {
            w.await??;
        }
        let (stored, _) = journey::read(&bucket(&server).await?, &key)
            .await?
            .context("a journey is stored")?;
        ensure!(
            stored.steps.len() == 2 * STEPS_PER_WRITER,
            "every step is kept: {:?}",
            stored.steps
        );
        for service in ["kustomize-renderer", "applier"] {
            let names: Vec<_> = stored
                .steps
                .iter()
                .filter(|s| s.service == service)
                .map(|s| s.name.clone())
                .collect();
            let expected: Vec<_> = (0..STEPS_PER_WRITER).map(|i| i.to_string()).collect();
            ensure!(
                names == expected,
                "{service}'s steps in its order: {names:?}"
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_kustomization_journey_is_seeded_from_its_source_and_reset_by_a_new_revision()
-> Result<()> {
    bounded(async {
        let server = ferry_server().await?;
        let kv = bucket(&server).await?;
        let source = journey::key("GitRepository", "flux-system", "repo");
        let target = journey::key("Kustomization", "flux-system", "apps");

        ensure!(
            !journey::seed_from(&kv, &source, &target, "main@sha1:1").await?,
            "no source journey: nothing to seed"
        );
        journey::record_step(
            &kv,
            &source,
            "main@sha1:1",
            "trace-1",
            step("fetch", "source-controller"),
        )
        .await?;
        journey::record_step(
            &kv,
            &source,
            "main@sha1:1",
            "other",
            step("artifact", "source-controller"),
        )
        .await?;
        ensure!(journey::seed_from(&kv, &source, &target, "main@sha1:1").await?);
        ensure!(
            !journey::seed_from(&kv, &source, &target, "main@sha1:1").await?,
            "a journey already for the revision is not seeded again"
        );
        journey::record(
            &kv,
            &target,
            "main@sha1:1",
            "renderer-trace",
            vec![step("render", "kustomize-renderer")],
            Some("Ready".into()),
        )
        .await?;
        let (seeded, _) = journey::read(&kv, &target).await?.context("seeded")?;
        let names: Vec<_> = seeded.steps.iter().map(|s| s.name.as_str()).collect();
        ensure!(names == ["fetch", "artifact", "render"], "{names:?}");
        ensure!(
            seeded.trace_id == "trace-1",
            "the source's trace id: {seeded:?}"
        );
        ensure!(seeded.outcome.as_deref() == Some("Ready"));

        journey::record_step(
            &kv,
            &target,
            "main@sha1:2",
            "trace-2",
            step("render", "kustomize-renderer"),
        )
        .await?;
        let (next, _) = journey::read(&kv, &target).await?.context("stored")?;
        ensure!(next.revision == "main@sha1:2" && next.trace_id == "trace-2");
        ensure!(next.steps.len() == 1 && next.outcome.is_none(), "{next:?}");

        journey::record_step_unknown_revision(
            &kv,
            &target,
            "trace-3",
            Timer::start().failed("fetch", "source-controller", "unreachable"),
        )
        .await?;
        let (appended, _) = journey::read(&kv, &target).await?.context("stored")?;
        ensure!(
            appended.revision == "main@sha1:2" && appended.steps.len() == 2,
            "{appended:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_value_that_is_not_a_journey_is_replaced() -> Result<()> {
    bounded(async {
        let server = ferry_server().await?;
        let kv = bucket(&server).await?;
        let key = journey::key("GitRepository", "ns", "repo");
        kv.put(&key, "not json".into()).await?;
        journey::record_step(&kv, &key, "r", "t", step("fetch", "source-controller")).await?;
        let (j, _) = journey::read(&kv, &key).await?.context("stored")?;
        ensure!(j.revision == "r" && j.steps.len() == 1, "{j:?}");
        let bad = journey::record_step(&kv, ".bad.", "r", "t", step("x", "y")).await;
        ensure!(
            matches!(bad, Err(ferry_bus::JourneyError::InvalidKey { .. })),
            "{bad:?}"
        );
        Ok(())
    })
    .await
}

async fn kubectl_apply(kube: &KubeTarget, manifest: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("manifest.yaml");
    std::fs::write(&path, manifest)?;
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await?;
    Ok(())
}

/// Polls `kind/name` in namespace `apps` until `done` holds.
async fn wait_for(
    kube: &KubeTarget,
    services: &[&RunningService],
    kind: &str,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + TEST_TIMEOUT / 2;
    loop {
        let out = kube
            .kubectl(&[
                "get",
                kind,
                name,
                "-n",
                "apps",
                "-o",
                "json",
                "--ignore-not-found",
            ])
            .await?;
        let obj: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if done(&obj) {
            return Ok(obj);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{kind}/{name} never got there: {}\n{}",
            obj["status"],
            services
                .iter()
                .map(|s| s.logs())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const FLEET: &str = "apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: apps
spec:
  imageRepositoryRef:
    name: web
  policy:
    semver:
      range: 1.x
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: fleet
  namespace: apps
spec:
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: fleet
  git:
    commit:
      author:
        email: bot@ferry.example
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_update_leads_the_pushed_revisions_journey_before_the_fetch() -> Result<()> {
    bounded(async {
        let collector = OtlpCollector::start().await?;
        let endpoint = collector.endpoint();
        let server = ferry_server().await?;
        let kube = KubeTarget::start().await?;
        kube.install_crds().await?;
        kube.kubectl(&["create", "namespace", "apps"]).await?;
        let cache = tempfile::tempdir()?;
        let cache = cache.path().display().to_string();
        let otel = ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str());
        let scanner = RunningService::start_with_env(
            "image-scanner",
            &server.url(),
            kube.kubeconfig(),
            &[otel],
        )
        .await;
        let source_controller = RunningService::start_with_env(
            "source-controller",
            &server.url(),
            kube.kubeconfig(),
            &[
                otel,
                ("FERRY_STORAGE_ADDR", "127.0.0.1:0"),
                ("FERRY_RECEIVER_ADDR", "127.0.0.1:0"),
                ("FERRY_CACHE_DIR", &cache),
            ],
        )
        .await;
        scanner.wait_ready(TEST_TIMEOUT).await;
        source_controller.wait_ready(TEST_TIMEOUT).await;
        let services = [&scanner, &source_controller];

        let registry = Registry::start().await?;
        push_image(&registry, "team/web", "1.0.0").await?;
        let image = format!("{}/team/web", registry.host());
        let git = GitHttpServer::start(Auth::None).await?;
        let mut repo = GitRepoBuilder::create(git.root(), "fleet.git").await?;
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"apps:app\"}}\n"
        );
        repo.commit_files(&[("deploy/app.yaml", deployment.as_str())], "initial")
            .await?;
        repo.push().await?;
        let initial = format!("main@sha1:{}", repo.head_sha().await?);
        kubectl_apply(
            &kube,
            &format!(
                "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  image: {image}\n  interval: 10m\n  insecure: true\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 1h\n  url: {}\n  ref:\n    branch: main\n---\n{FLEET}",
                git.url_for("fleet.git")
            ),
        )
        .await?;
        wait_for(&kube, &services, "gitrepository", "fleet", |o| {
            o["status"]["artifact"]["revision"] == initial.as_str()
        })
        .await?;

        push_image(&registry, "team/web", "1.1.0").await?;
        kube.kubectl(&[
            "annotate",
            "--overwrite",
            "-n",
            "apps",
            "imagerepository/web",
            "reconcile.fluxcd.io/requestedAt=ci-build-2",
        ])
        .await?;
        let auto = wait_for(&kube, &services, "imageupdateautomation", "fleet", |o| {
            o["status"]["lastPushCommit"].is_string()
        })
        .await?;
        let revision = format!(
            "main@sha1:{}",
            auto["status"]["lastPushCommit"].as_str().context("commit")?
        );
        let source = wait_for(&kube, &services, "gitrepository", "fleet", |o| {
            o["status"]["artifact"]["revision"] == revision.as_str()
        })
        .await?;
        let trace_id = source["metadata"]["annotations"]["ferry.dev/traceparent"]
            .as_str()
            .and_then(|tp| tp.split('-').nth(1))
            .context("ferry.dev/traceparent")?
            .to_owned();

        // The source's journey: the image update, then the fetch, in the image-scanner's trace.
        let kv = bucket(&server).await?;
        let (fleet, _) = journey::read(&kv, "GitRepository.apps.fleet")
            .await?
            .context("the GitRepository's journey")?;
        ensure!(fleet.revision == revision, "{fleet:?}");
        ensure!(fleet.trace_id == trace_id, "{fleet:?} vs {trace_id}");
        ensure!(fleet.outcome.as_deref() == Some("Ready"), "{fleet:?}");
        let steps: Vec<_> = fleet
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.service.as_str(), s.outcome.as_str()))
            .collect();
        ensure!(
            steps
                == [
                    ("image-update", "image-scanner", "ok"),
                    ("fetch", "source-controller", "ok"),
                    ("artifact", "source-controller", "ok"),
                ],
            "{steps:?}"
        );
        let (automation, _) = journey::read(&kv, "ImageUpdateAutomation.apps.fleet")
            .await?
            .context("the automation's journey")?;
        ensure!(automation.revision == revision, "{automation:?}");
        ensure!(
            automation.steps.len() == 1 && automation.steps[0].name == "push",
            "{automation:?}"
        );
        ensure!(
            automation.outcome.as_deref() == Some(format!("pushed {revision}").as_str()),
            "{automation:?}"
        );
        Ok(())
    })
    .await
}
