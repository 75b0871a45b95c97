//! The whole pipeline end to end: source-controller, kustomize-renderer and applier as
//! separate processes against a real nats-server, a real git smart-HTTP server and the
//! Kubernetes API (emulator, or `KUBECONFIG`). A commit becomes an artifact, a render and an
//! apply with status; the spans of one revision form one trace.

use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::otlp::OtlpCollector;
use ferry_integration_tests::service::RunningService;
use ferry_proto::apply::v1::DiffRequest;
use ferry_proto::apply::v1::apply_service_client::ApplyServiceClient;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::{Instant, sleep};

const WAIT: Duration = Duration::from_secs(90);
const NS: &str = "apps";

struct Stack {
    _nats: NatsServer,
    kube: KubeTarget,
    git: GitHttpServer,
    services: Vec<RunningService>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Stack {
    async fn start(otlp: Option<&OtlpCollector>) -> Stack {
        Self::start_with_appliers(otlp, 1).await
    }

    async fn start_with_appliers(otlp: Option<&OtlpCollector>, appliers: usize) -> Stack {
        let nats = NatsServer::start().await.expect("nats-server starts");
        let kube = KubeTarget::start().await.expect("Kubernetes API");
        kube.install_crds()
            .await
            .expect("CRDs installed and Established");
        kube.kubectl(&["create", "namespace", NS])
            .await
            .expect("namespace");
        let git = GitHttpServer::start(Auth::None)
            .await
            .expect("git server starts");
        let source_cache = tempfile::tempdir().expect("cache dir");
        let render_cache = tempfile::tempdir().expect("cache dir");
        let source_cache_path = source_cache.path().display().to_string();
        let render_cache_path = render_cache.path().display().to_string();
        let endpoint = otlp.map(OtlpCollector::endpoint);
        let with_otel = |mut env: Vec<(&'static str, String)>| {
            if let Some(endpoint) = &endpoint {
                env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()));
                env.push(("OTEL_BSP_SCHEDULE_DELAY", "200".into()));
            }
            env
        };
        let mut services = Vec::new();
        for (name, env) in [
            (
                "source-controller",
                with_otel(vec![
                    ("FERRY_STORAGE_ADDR", "127.0.0.1:0".into()),
                    ("FERRY_RECEIVER_ADDR", "127.0.0.1:0".into()),
                    ("FERRY_CACHE_DIR", source_cache_path.clone()),
                ]),
            ),
            (
                "kustomize-renderer",
                with_otel(vec![("FERRY_CACHE_DIR", render_cache_path.clone())]),
            ),
        ]
        .into_iter()
        .chain((0..appliers).map(|_| ("applier", with_otel(Vec::new()))))
        {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let service =
                RunningService::start_with_env(name, &nats.url(), kube.kubeconfig(), &env).await;
            service.wait_ready(WAIT).await;
            services.push(service);
        }
        Stack {
            _nats: nats,
            kube,
            git,
            services,
            _dirs: vec![source_cache, render_cache],
        }
    }

    fn service(&self, name: &str) -> &RunningService {
        self.services
            .iter()
            .find(|s| s.name == name)
            .expect("service started")
    }

    fn logs(&self) -> String {
        self.services
            .iter()
            .map(|s| format!("--- {} ---\n{}", s.name, s.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn apply(&self, manifest: &str) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("manifest.yaml");
        std::fs::write(&path, manifest).expect("manifest written");
        self.kube
            .kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
            .await
            .expect("kubectl apply");
    }

    /// The object as JSON, `Value::Null` when it does not exist.
    async fn get(&self, kind: &str, name: &str) -> Value {
        let out = self
            .kube
            .kubectl(&[
                "get",
                kind,
                name,
                "-n",
                NS,
                "-o",
                "json",
                "--ignore-not-found",
            ])
            .await
            .expect("kubectl get");
        if out.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&out).expect("JSON")
        }
    }

    /// Polls `kind/name` until `done` holds; fails with its last state and every service's log.
    async fn wait_for(
        &self,
        kind: &str,
        name: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let obj = self.get(kind, name).await;
            if done(&obj) {
                return obj;
            }
            assert!(
                Instant::now() < deadline,
                "{kind}/{name}: {what} never happened. Last state:\n{}\n{}\n\
                 (no render at all means the kustomize-renderer consumes no RenderRequests: \
                 is its main wired to worker::run?)",
                serde_json::to_string_pretty(&obj).unwrap_or_default(),
                self.logs()
            );
            sleep(Duration::from_millis(250)).await;
        }
    }

    async fn request_reconcile(&self, kind: &str, name: &str, token: &str) {
        self.kube
            .kubectl(&[
                "annotate",
                "--overwrite",
                "-n",
                NS,
                &format!("{kind}/{name}"),
                &format!("reconcile.fluxcd.io/requestedAt={token}"),
            ])
            .await
            .expect("annotate");
    }
}

const BASE_KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- configmap.yaml
- deployment.yaml
";

const BASE_WITHOUT_DEPLOYMENT: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- configmap.yaml
";

fn configmap(greeting: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  greeting: {greeting}\n"
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
      - name: app
        image: nginx:1.27
";

const DEV_OVERLAY: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: apps
resources:
- ../../base
commonLabels:
  env: dev
";

fn git_repository(url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: {NS}
spec:
  interval: 10m
  url: {url}
  ref:
    branch: main
"
    )
}

const KUSTOMIZATION: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: apps
spec:
  interval: 10m
  path: ./overlays/dev
  prune: true
  wait: true
  timeout: 1m
  sourceRef:
    kind: GitRepository
    name: app
";

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn ready_at(obj: &Value, revision: &str) -> bool {
    obj["status"]["lastAppliedRevision"] == revision
        && condition(obj, "Ready").is_some_and(|c| c["status"] == "True")
        && obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
}

fn inventory(obj: &Value) -> BTreeSet<String> {
    obj["status"]["inventory"]["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn owned_by_app(obj: &Value) -> bool {
    let labels = &obj["metadata"]["labels"];
    labels["kustomize.toolkit.fluxcd.io/name"] == "app"
        && labels["kustomize.toolkit.fluxcd.io/namespace"] == NS
}

/// Seeds the repository with the base and the dev overlay, creates the GitRepository and the
/// Kustomization, and waits for the first revision to be applied; returns the repo and revision.
async fn first_sync(stack: &Stack) -> (GitRepoBuilder, String) {
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    repo.commit_files(
        &[
            ("base/kustomization.yaml", BASE_KUSTOMIZATION),
            ("base/configmap.yaml", &configmap("hello")),
            ("base/deployment.yaml", DEPLOYMENT),
            ("overlays/dev/kustomization.yaml", DEV_OVERLAY),
            ("README.md", "the app\n"),
        ],
        "first",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let revision = format!("main@sha1:{}", repo.head_sha().await.expect("head"));
    stack
        .apply(&git_repository(&stack.git.url_for("app.git")))
        .await;
    stack.apply(KUSTOMIZATION).await;
    let repo_obj = stack
        .wait_for("gitrepository", "app", "an artifact", |o| {
            o["status"]["artifact"]["revision"] == revision.as_str()
        })
        .await;
    assert_eq!(
        repo_obj["status"]["artifact"]["revision"],
        revision.as_str()
    );
    stack
        .wait_for("kustomization", "app", "Ready at the first revision", |o| {
            ready_at(o, &revision)
        })
        .await;
    (repo, revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_become_applied_objects_updates_and_prunes_with_kustomization_status() {
    let stack = Stack::start(None).await;
    let (mut repo, first) = first_sync(&stack).await;

    // First sync: the objects exist, labelled as the Kustomization's, and status says so.
    let ks = stack.get("kustomization", "app").await;
    assert_eq!(ks["status"]["lastAttemptedRevision"], first.as_str());
    let ready = condition(&ks, "Ready").expect("Ready condition");
    assert_eq!(ready["reason"], "ReconciliationSucceeded", "{ks}");
    assert_eq!(
        ready["message"],
        format!("Applied revision: {first}"),
        "{ks}"
    );
    assert_eq!(
        inventory(&ks),
        BTreeSet::from([
            "apps_app-config__ConfigMap".to_owned(),
            "apps_app_apps_Deployment".to_owned(),
        ]),
        "{ks}"
    );
    let cm = stack.get("configmap", "app-config").await;
    assert_eq!(cm["data"]["greeting"], "hello");
    assert!(owned_by_app(&cm), "{cm}");
    assert_eq!(
        cm["metadata"]["labels"]["env"], "dev",
        "the overlay was built"
    );
    let deployment = stack.get("deployment", "app").await;
    assert!(owned_by_app(&deployment), "{deployment}");

    // A commit that changes the ConfigMap (in the base the overlay reaches through ../../base),
    // picked up through requestedAt on the GitRepository: updated, and the revision moves.
    repo.commit_files(
        &[("base/configmap.yaml", &configmap("bonjour"))],
        "greet in French",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let second = format!("main@sha1:{}", repo.head_sha().await.expect("head"));
    stack.request_reconcile("gitrepository", "app", "two").await;
    let ks = stack
        .wait_for(
            "kustomization",
            "app",
            "Ready at the second revision",
            |o| ready_at(o, &second),
        )
        .await;
    let cm = stack.get("configmap", "app-config").await;
    assert_eq!(cm["data"]["greeting"], "bonjour", "{cm}");
    assert_eq!(inventory(&ks).len(), 2, "{ks}");

    // A commit that removes the Deployment: pruned, and the inventory shrinks.
    repo.git(&["rm", "-q", "base/deployment.yaml"])
        .await
        .expect("git rm");
    repo.commit_files(
        &[("base/kustomization.yaml", BASE_WITHOUT_DEPLOYMENT)],
        "drop the deployment",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let third = format!("main@sha1:{}", repo.head_sha().await.expect("head"));
    stack
        .request_reconcile("gitrepository", "app", "three")
        .await;
    let ks = stack
        .wait_for("kustomization", "app", "Ready at the third revision", |o| {
            ready_at(o, &third)
        })
        .await;
    assert_eq!(
        inventory(&ks),
        BTreeSet::from(["apps_app-config__ConfigMap".to_owned()]),
        "{ks}"
    );
    stack
        .wait_for("deployment", "app", "pruned", Value::is_null)
        .await;
    assert_eq!(
        stack.get("configmap", "app-config").await["data"]["greeting"],
        "bonjour"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_revision_is_one_trace_from_the_fetch_through_the_render_to_the_apply() {
    let collector = OtlpCollector::start().await.expect("OTLP collector");
    let stack = Stack::start(Some(&collector)).await;
    let (mut repo, _) = first_sync(&stack).await;

    // The second revision only travels the artifact path (no Kustomization change), so its
    // apply must sit in the trace the fetch started.
    repo.commit_files(
        &[("base/configmap.yaml", &configmap("hola"))],
        "greet in Spanish",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let second = format!("main@sha1:{}", repo.head_sha().await.expect("head"));
    stack
        .request_reconcile("gitrepository", "app", "traced")
        .await;
    stack
        .wait_for(
            "kustomization",
            "app",
            "Ready at the second revision",
            |o| ready_at(o, &second),
        )
        .await;

    let deadline = Instant::now() + WAIT;
    let (trace_id, spans) = loop {
        let found = collector
            .spans()
            .into_iter()
            .find(|s| s.name == "apply render" && s.attribute("revision") == Some(second.as_str()));
        if let Some(apply) = found {
            let spans = collector.spans_in_trace(&apply.trace_id);
            let services: BTreeSet<String> = spans
                .iter()
                .filter_map(|s| s.service_name.clone())
                .collect();
            let has_health = spans.iter().any(|s| s.name == "health check");
            if services.len() >= 3 && has_health {
                break (apply.trace_id, spans);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no connected trace for {second}; spans:\n{:#?}\n{}",
            collector
                .spans()
                .iter()
                .map(|s| (&s.name, &s.service_name, &s.trace_id))
                .collect::<Vec<_>>(),
            stack.logs()
        );
        sleep(Duration::from_millis(250)).await;
    };
    let tree = collector.trace_tree(&trace_id);
    let rendered: String = tree.iter().map(|n| n.render()).collect();
    assert_eq!(tree.len(), 1, "one root, every span connected:\n{rendered}");
    let services: BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| s.service_name.as_deref())
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(["applier", "kustomize-renderer", "source-controller"]),
        "{rendered}"
    );
    let root = &tree[0];
    assert_eq!(
        root.span.service_name.as_deref(),
        Some("source-controller"),
        "the fetch is the root:\n{rendered}"
    );
    let fan_out = root.find("fan out artifact").expect(&rendered);
    let render = fan_out.find("render Kustomization").expect(&rendered);
    let apply = render.find("apply render").expect(&rendered);
    assert!(apply.find("health check").is_some(), "{rendered}");
}

fn kustomization(name: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: {NS}
spec:
  interval: 10m
  path: {path}
  prune: true
  sourceRef:
    kind: GitRepository
    name: app
{extra}"
    )
}

fn app_dir(name: &str, value: &str) -> [(String, String); 2] {
    [
        (
            format!("apps/{name}/kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: apps\nresources:\n- configmap.yaml\n".to_owned(),
        ),
        (
            format!("apps/{name}/configmap.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n"),
        ),
    ]
}

async fn commit(repo: &mut GitRepoBuilder, files: &[(String, String)], message: &str) -> String {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit_files(&files, message).await.expect("commit");
    repo.push().await.expect("push");
    format!("main@sha1:{}", repo.head_sha().await.expect("head"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_outside_a_kustomizations_path_moves_its_revision_without_a_render() {
    let stack = Stack::start(None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    let mut files = app_dir("a", "one").to_vec();
    files.extend(app_dir("b", "one"));
    let first = commit(&mut repo, &files, "two apps").await;
    stack
        .apply(&git_repository(&stack.git.url_for("app.git")))
        .await;
    stack.apply(&kustomization("a", "./apps/a", "")).await;
    stack.apply(&kustomization("b", "./apps/b", "")).await;
    for name in ["a", "b"] {
        stack
            .wait_for("kustomization", name, "Ready at the first revision", |o| {
                ready_at(o, &first)
            })
            .await;
    }

    let second = commit(&mut repo, &app_dir("b", "two"), "change b only").await;
    stack
        .request_reconcile("gitrepository", "app", "b-only")
        .await;
    for name in ["a", "b"] {
        stack
            .wait_for("kustomization", name, "Ready at the second revision", |o| {
                ready_at(o, &second)
            })
            .await;
    }
    assert_eq!(
        stack.get("configmap", "b").await["data"]["value"],
        "two",
        "b was rendered and applied"
    );
    assert_eq!(stack.get("configmap", "a").await["data"]["value"], "one");
    let skipped: Vec<String> = stack
        .service("applier")
        .logs()
        .lines()
        .filter(|l| l.contains("without a render"))
        .map(str::to_owned)
        .collect();
    assert_eq!(skipped.len(), 1, "only a skips the render: {skipped:#?}");
    assert!(
        skipped[0].contains(r#""k8s.name":"a""#) || skipped[0].contains("k8s.name=a "),
        "the skip is a's: {}",
        skipped[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_failure_is_reported_as_build_failed_and_the_next_good_commit_recovers() {
    let stack = Stack::start(None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    let broken = vec![(
        "apps/a/kustomization.yaml".to_owned(),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- missing.yaml\n"
            .to_owned(),
    )];
    let first = commit(&mut repo, &broken, "broken").await;
    stack
        .apply(&git_repository(&stack.git.url_for("app.git")))
        .await;
    stack.apply(&kustomization("a", "./apps/a", "")).await;
    let ks = stack
        .wait_for("kustomization", "a", "BuildFailed", |o| {
            condition(o, "Ready")
                .is_some_and(|c| c["status"] == "False" && c["reason"] == "BuildFailed")
        })
        .await;
    let message = condition(&ks, "Ready").expect("Ready")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("missing.yaml"), "{message}");
    assert_eq!(
        ks["status"]["lastAttemptedRevision"],
        first.as_str(),
        "{ks}"
    );
    assert!(ks["status"]["lastAppliedRevision"].is_null(), "{ks}");

    let fixed = commit(&mut repo, &app_dir("a", "fixed"), "fix").await;
    stack
        .request_reconcile("gitrepository", "app", "fixed")
        .await;
    stack
        .wait_for("kustomization", "a", "Ready after the fix", |o| {
            ready_at(o, &fixed)
        })
        .await;
    assert_eq!(stack.get("configmap", "a").await["data"]["value"], "fixed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_added_or_changed_later_is_rendered_from_the_stored_artifact_and_planned_over_grpc()
 {
    let stack = Stack::start(None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    let first = commit(&mut repo, &app_dir("a", "one"), "one app").await;
    stack
        .apply(&git_repository(&stack.git.url_for("app.git")))
        .await;
    stack
        .wait_for("gitrepository", "app", "an artifact", |o| {
            o["status"]["artifact"]["revision"] == first.as_str()
        })
        .await;

    // Created after the artifact: no ArtifactReady will come; the watch brings the render.
    stack.apply(&kustomization("a", "./apps/a", "")).await;
    stack
        .wait_for("kustomization", "a", "Ready", |o| ready_at(o, &first))
        .await;

    // A spec change (new generation) is applied at the same revision.
    stack
        .apply(&kustomization(
            "a",
            "./apps/a",
            "  commonMetadata:\n    labels:\n      team: platform\n",
        ))
        .await;
    let ks = stack
        .wait_for("kustomization", "a", "generation 2 applied", |o| {
            ready_at(o, &first) && o["status"]["observedGeneration"] == 2
        })
        .await;
    assert_eq!(ks["metadata"]["generation"], 2);
    stack
        .wait_for("configmap", "a", "the common label", |o| {
            o["metadata"]["labels"]["team"] == "platform"
        })
        .await;

    // Plan: a dry run of the same render changes nothing.
    let mut client =
        ApplyServiceClient::connect(format!("http://{}", stack.service("applier").grpc))
            .await
            .expect("gRPC connects");
    let plan = client
        .plan(DiffRequest {
            namespace: NS.into(),
            name: "a".into(),
        })
        .await
        .expect("Plan answers")
        .into_inner();
    assert_eq!(plan.revision, first);
    let actions: Vec<(&str, &str, &str)> = plan
        .objects
        .iter()
        .map(|o| (o.kind.as_str(), o.name.as_str(), o.action.as_str()))
        .collect();
    assert_eq!(actions, vec![("ConfigMap", "a", "unchanged")], "{plan:?}");
    let missing = client
        .plan(DiffRequest {
            namespace: NS.into(),
            name: "nope".into(),
        })
        .await
        .expect_err("no such Kustomization");
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applier_replicas_share_the_work_and_the_survivor_applies_after_one_is_killed() {
    let mut stack = Stack::start_with_appliers(None, 2).await;
    let (mut repo, _) = first_sync(&stack).await;

    let index = stack
        .services
        .iter()
        .position(|s| s.name == "applier")
        .expect("an applier");
    stack.services.remove(index).kill().await;

    repo.commit_files(
        &[("base/configmap.yaml", &configmap("hallo"))],
        "greet in German",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let second = format!("main@sha1:{}", repo.head_sha().await.expect("head"));
    stack
        .request_reconcile("gitrepository", "app", "survivor")
        .await;
    stack
        .wait_for(
            "kustomization",
            "app",
            "Ready at the second revision",
            |o| ready_at(o, &second),
        )
        .await;
    assert_eq!(
        stack.get("configmap", "app-config").await["data"]["greeting"],
        "hallo"
    );
    // The survivor also handles a Kustomization change (it learned the render from the
    // events stream even if the killed replica applied it).
    stack
        .kube
        .kubectl(&[
            "patch",
            "kustomization",
            "app",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"spec":{"commonMetadata":{"labels":{"replica":"survivor"}}}}"#,
        ])
        .await
        .expect("patch");
    stack
        .wait_for("configmap", "app-config", "the new common label", |o| {
            o["metadata"]["labels"]["replica"] == "survivor"
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_reconcile_corrects_a_manual_edit_and_reports_the_drift() {
    let stack = Stack::start(None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    let first = commit(&mut repo, &app_dir("a", "from-git"), "one app").await;
    stack
        .apply(&git_repository(&stack.git.url_for("app.git")))
        .await;
    stack
        .apply(&kustomization("a", "./apps/a", "").replace("interval: 10m", "interval: 2s"))
        .await;
    stack
        .wait_for("kustomization", "a", "Ready", |o| ready_at(o, &first))
        .await;

    stack
        .kube
        .kubectl(&[
            "patch",
            "configmap",
            "a",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"data":{"value":"edited-by-hand"}}"#,
        ])
        .await
        .expect("manual edit");
    stack
        .wait_for("configmap", "a", "the edit corrected", |o| {
            o["data"]["value"] == "from-git"
        })
        .await;
    // The Drifted condition lasts one interval (the next reconcile finds no drift and clears
    // it); the Kubernetes Event of the correcting reconcile stays, so the test reads that.
    let note = drift_event_note(&stack, "a").await;
    assert!(note.contains("ConfigMap/apps/a"), "{note}");
    let ks = stack.get("kustomization", "a").await;
    assert!(ready_at(&ks, &first), "{ks}");
}

/// The note of the Event recording that a reconcile of Kustomization `name` corrected drift.
async fn drift_event_note(stack: &Stack, name: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = stack
            .kube
            .kubectl(&["get", "events.v1.events.k8s.io", "-n", NS, "-o", "json"])
            .await
            .expect("kubectl get events");
        let events: Value = serde_json::from_str(&out).expect("JSON");
        let note = events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["regarding"]["kind"] == "Kustomization" && e["regarding"]["name"] == name)
            .filter_map(|e| e["note"].as_str())
            .find(|n| n.contains("drift corrected"));
        if let Some(note) = note {
            return note.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no drift-corrected Event for Kustomization {name}:\n{out}\n{}",
            stack.logs()
        );
        sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the real `ferry trace kustomization app -n apps` against the stack; its stdout.
async fn ferry_trace(stack: &Stack) -> String {
    let out =
        tokio::process::Command::new(ferry_integration_tests::service::service_binary("ferry"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--kubeconfig")
            .arg(stack.kube.kubeconfig())
            .args(["trace", "kustomization", "app", "-n", NS, "--nats-url"])
            .arg(stack._nats.url())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("ferry runs (cargo build -p ferry-cli)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ferry trace failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        stack.logs()
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_trace_shows_a_commits_journey_from_fetch_to_health_with_the_collectors_trace_id() {
    let collector = OtlpCollector::start().await.expect("OTLP collector");
    let stack = Stack::start(Some(&collector)).await;
    let (mut repo, _) = first_sync(&stack).await;
    repo.commit_files(
        &[("base/configmap.yaml", &configmap("ciao"))],
        "greet in Italian",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let second = format!("main@sha1:{}", repo.head_sha().await.expect("head"));
    stack
        .request_reconcile("gitrepository", "app", "journey")
        .await;
    stack
        .wait_for(
            "kustomization",
            "app",
            "Ready at the second revision",
            |o| ready_at(o, &second),
        )
        .await;

    // The services write the journey before the status that says Ready.
    let out = ferry_trace(&stack).await;
    assert!(out.contains(&format!("revision: {second}\n")), "{out}");
    assert!(out.contains("outcome: Ready\n"), "{out}");
    let trace_id = out
        .lines()
        .find_map(|l| l.strip_prefix("trace id: "))
        .unwrap_or_else(|| panic!("a trace id line:\n{out}"))
        .to_owned();
    assert!(
        trace_id.len() == 32 && trace_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
    let deadline = Instant::now() + WAIT;
    let apply = loop {
        let found = collector
            .spans()
            .into_iter()
            .find(|s| s.name == "apply render" && s.attribute("revision") == Some(second.as_str()));
        if let Some(apply) = found {
            break apply;
        }
        assert!(Instant::now() < deadline, "no apply span for {second}");
        sleep(Duration::from_millis(250)).await;
    };
    assert!(
        apply.trace_id.eq_ignore_ascii_case(&trace_id),
        "the journey's trace is the apply's ({}):\n{out}",
        apply.trace_id
    );

    // Every service's steps, in pipeline order, each with its duration.
    let position = |step: &str| {
        let line = out
            .lines()
            .position(|l| l.contains(step))
            .unwrap_or_else(|| panic!("no step '{step}':\n{out}"));
        let text = out.lines().nth(line).unwrap_or_default();
        assert!(
            text.contains(" ms ok"),
            "'{step}' has a duration and ok: {text}"
        );
        line
    };
    let order = [
        position("fetch [source-controller]"),
        position("artifact [source-controller]"),
        position("render [kustomize-renderer]"),
        position("apply [applier]"),
        position("health [applier]"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}:\n{out}");
}
