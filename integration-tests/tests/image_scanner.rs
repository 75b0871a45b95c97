//! image-scanner end to end: a real nats-server, a real docker-registry, a real git smart-HTTP
//! server, the Kubernetes API (emulator, or `KUBECONFIG`), and the service binary as a child
//! process. Tags pushed to the registry reach ImageRepository and ImagePolicy status, a newer
//! tag is committed to Git by the ImageUpdateAutomation, and the GitRepository is asked to
//! fetch it at once.

use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::{GitRepoBuilder, run_git};
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::otlp::OtlpCollector;
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::service::RunningService;
use serde_json::Value;
use std::time::Duration;
use tokio::time::{Instant, sleep};

const WAIT: Duration = Duration::from_secs(90);

struct Stack {
    nats: NatsServer,
    kube: KubeTarget,
    scanner: RunningService,
    /// More replicas, when a test asks for them.
    replicas: Vec<RunningService>,
}

impl Stack {
    fn logs(&self) -> String {
        let mut logs = self.scanner.logs();
        for (i, replica) in self.replicas.iter().enumerate() {
            logs.push_str(&format!("\n--- replica {} ---\n{}", i + 2, replica.logs()));
        }
        logs
    }
}

async fn stack() -> Stack {
    stack_with(&[], 1).await
}

async fn stack_with_env(env: &[(&str, &str)]) -> Stack {
    stack_with(env, 1).await
}

async fn stack_with(env: &[(&str, &str)], replicas: usize) -> Stack {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let kube = KubeTarget::start().await.expect("Kubernetes API");
    kube.install_crds()
        .await
        .expect("CRDs installed and Established");
    kube.kubectl(&["create", "namespace", "apps"])
        .await
        .expect("namespace");
    let scanner =
        RunningService::start_with_env("image-scanner", &nats.url(), kube.kubeconfig(), env).await;
    scanner.wait_ready(WAIT).await;
    let mut more = Vec::new();
    for i in 1..replicas {
        let pod = format!("image-scanner-{i}");
        let replica = RunningService::start_with_env(
            "image-scanner",
            &nats.url(),
            kube.kubeconfig(),
            &[("POD_NAME", pod.as_str())],
        )
        .await;
        replica.wait_ready(WAIT).await;
        more.push(replica);
    }
    Stack {
        nats,
        kube,
        scanner,
        replicas: more,
    }
}

async fn apply(kube: &KubeTarget, manifest: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.yaml");
    std::fs::write(&path, manifest).expect("manifest written");
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await
        .expect("kubectl apply");
}

async fn get_json(kube: &KubeTarget, kind: &str, name: &str) -> Value {
    let out = kube
        .kubectl(&["get", kind, name, "-n", "apps", "-o", "json"])
        .await
        .expect("kubectl get");
    serde_json::from_str(&out).expect("JSON")
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn ready_is(obj: &Value, status: &str) -> bool {
    condition(obj, "Ready").is_some_and(|c| c["status"] == status)
}

/// Polls `kind/name` until `done` holds; fails with its last status and the service's logs.
async fn wait_for(stack: &Stack, kind: &str, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let obj = get_json(&stack.kube, kind, name).await;
        if done(&obj) {
            return obj;
        }
        assert!(
            Instant::now() < deadline,
            "{kind} {name} never reached the expected state:\n{}\n--- logs ---\n{}",
            serde_json::to_string_pretty(&obj["status"]).unwrap_or_default(),
            stack.logs()
        );
        sleep(Duration::from_millis(250)).await;
    }
}

async fn request_reconcile(stack: &Stack, kind_name: &str, token: &str) {
    stack
        .kube
        .kubectl(&[
            "annotate",
            "--overwrite",
            "-n",
            "apps",
            kind_name,
            &format!("reconcile.fluxcd.io/requestedAt={token}"),
        ])
        .await
        .expect("annotate");
}

fn image_repository(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  image: {image}\n  interval: 10m\n  insecure: true\n{extra}"
    )
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: apps # keep\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image} # {{\"$imagepolicy\": \"apps:app\"}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_tags_reach_scan_status_and_semver_policy_and_a_newer_tag_is_committed_to_git_with_a_source_fetch_requested()
 {
    let collector = OtlpCollector::start().await.expect("OTLP collector starts");
    let stack = stack_with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint())]).await;
    let registry = Registry::start().await.expect("registry starts");
    for tag in [
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0-rc.1",
        "latest",
        "sha256-abc.sig",
    ] {
        push_image(&registry, "team/app", tag)
            .await
            .expect("push image");
    }
    let image = format!("{}/team/app", registry.host());

    // Git: one marked file and one unmarked.
    let git = GitHttpServer::start(Auth::None).await.expect("git server");
    let mut repo = GitRepoBuilder::create(git.root(), "fleet.git")
        .await
        .expect("repo");
    let untouched = "kind: ConfigMap # {\"note\": \"no marker here\"}\n";
    repo.commit_files(
        &[
            ("deploy/app.yaml", &deployment(&format!("{image}:1.0.0"))),
            ("deploy/other.yaml", untouched),
        ],
        "initial",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");

    apply(&stack.kube, &image_repository("app", &image, "")).await;
    let obj = wait_for(&stack, "imagerepository", "app", |o| ready_is(o, "True")).await;
    let status = &obj["status"];
    assert_eq!(status["canonicalImageName"], image);
    let scan = &status["lastScanResult"];
    assert_eq!(scan["tagCount"], 5, "the .sig tag is excluded by default");
    assert_eq!(
        scan["latestTags"],
        serde_json::json!(["latest", "2.0.0-rc.1", "1.2.0", "1.10.0", "1.0.0"])
    );
    assert!(scan["scanTime"].is_string());
    assert_eq!(scan["revision"].as_str().map(str::len), Some(64));
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "Succeeded");
    assert_eq!(ready["message"], "successful scan: found 5 tags");
    assert_eq!(status["observedGeneration"], obj["metadata"]["generation"]);

    // The tags are in KV, compressed, under <namespace>.<name>.
    let js = stack.nats.jetstream().await.expect("jetstream");
    let kv = js
        .get_key_value("ferry-image-tags")
        .await
        .expect("tags bucket");
    let stored = kv.get("apps.app").await.expect("kv get").expect("key");
    assert_eq!(&stored[..2], &[0x1f, 0x8b], "gzip");

    // The policy reads them without a rescan: >=1.0.0 skips the pre-release.
    apply(
        &stack.kube,
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  imageRepositoryRef:\n    name: app\n  policy:\n    semver:\n      range: '>=1.0.0'\n",
    )
    .await;
    let policy = wait_for(&stack, "imagepolicy", "app", |o| ready_is(o, "True")).await;
    assert_eq!(
        policy["status"]["latestRef"],
        serde_json::json!({"name": image, "tag": "1.10.0"})
    );
    assert_eq!(
        condition(&policy, "Ready").expect("Ready")["message"],
        format!("Latest image tag for {image} resolved to 1.10.0")
    );

    // The automation commits 1.10.0.
    apply(
        &stack.kube,
        &format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 10m\n  url: {}\n  ref:\n    branch: main\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 10m\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n  git:\n    commit:\n      author:\n        name: Ferry Bot\n        email: bot@ferry.example\n      messageTemplate: 'Update images in {{{{ .AutomationObject }}}}'\n  update:\n    path: ./deploy\n",
            git.url_for("fleet.git")
        ),
    )
    .await;
    let auto = wait_for(&stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["lastPushCommit"].is_string()
    })
    .await;
    let first_push = auto["status"]["lastPushCommit"]
        .as_str()
        .expect("commit")
        .to_owned();
    assert_eq!(repo.remote_sha("main").await.expect("main"), first_push);
    let file = run_git(repo.bare_path(), &["show", "main:deploy/app.yaml"])
        .await
        .expect("show");
    assert_eq!(
        format!("{file}\n"),
        deployment(&format!("{image}:1.10.0")),
        "only the marked value changed"
    );
    assert_eq!(
        auto["status"]["observedPolicies"]["app"],
        serde_json::json!({"name": image, "tag": "1.10.0"})
    );
    assert_eq!(
        condition(&auto, "Ready").expect("Ready")["message"],
        "repository up-to-date"
    );
    let source = get_json(&stack.kube, "gitrepository", "fleet").await;
    let first_request = source["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        .as_str()
        .expect("the GitRepository was asked to reconcile")
        .to_owned();
    assert!(
        source["metadata"]["annotations"]["ferry.dev/traceparent"].is_string(),
        "{source}"
    );

    // A newer tag: rescan on request, the policy follows, the automation commits it.
    push_image(&registry, "team/app", "1.11.0")
        .await
        .expect("push image");
    request_reconcile(&stack, "imagerepository/app", "rescan").await;
    let policy = wait_for(&stack, "imagepolicy", "app", |o| {
        o["status"]["latestRef"]["tag"] == "1.11.0"
    })
    .await;
    assert_eq!(policy["status"]["observedPreviousRef"]["tag"], "1.10.0");
    assert_eq!(
        condition(&policy, "Ready").expect("Ready")["message"],
        format!("Latest image tag for {image} updated from 1.10.0 to 1.11.0")
    );
    // A Kubernetes event says so.
    let updated = format!("Latest image tag for {image} updated from 1.10.0 to 1.11.0");
    let events = stack
        .kube
        .kubectl(&["get", "events.events.k8s.io", "-n", "apps", "-o", "json"])
        .await
        .expect("events");
    let events: Value = serde_json::from_str(&events).expect("JSON");
    let event = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["note"] == updated.as_str())
        .unwrap_or_else(|| panic!("no event {updated:?} in {events}"));
    assert_eq!(event["regarding"]["kind"], "ImagePolicy");
    assert_eq!(event["regarding"]["name"], "app");
    assert_eq!(event["type"], "Normal");
    let auto = wait_for(&stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["lastPushCommit"].is_string()
            && o["status"]["lastPushCommit"] != first_push.as_str()
    })
    .await;
    let commit = auto["status"]["lastPushCommit"].as_str().expect("commit");
    assert_eq!(repo.remote_sha("main").await.expect("main"), commit);
    let file = run_git(repo.bare_path(), &["show", "main:deploy/app.yaml"])
        .await
        .expect("show");
    assert_eq!(format!("{file}\n"), deployment(&format!("{image}:1.11.0")));
    let other = run_git(repo.bare_path(), &["show", "main:deploy/other.yaml"])
        .await
        .expect("show");
    assert_eq!(format!("{other}\n"), untouched);
    let log = run_git(
        repo.bare_path(),
        &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"],
    )
    .await
    .expect("log");
    assert_eq!(
        log,
        "Ferry Bot <bot@ferry.example>|Ferry Bot <bot@ferry.example>|Update images in apps/fleet"
    );
    let image_repo = get_json(&stack.kube, "imagerepository", "app").await;
    assert_eq!(image_repo["status"]["lastScanResult"]["tagCount"], 6);
    assert_eq!(image_repo["status"]["lastHandledReconcileAt"], "rescan");

    // The GitRepository got a new requestedAt token: source-controller fetches now.
    let source = wait_for(&stack, "gitrepository", "fleet", |o| {
        o["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
            .as_str()
            .is_some_and(|t| t != first_request)
    })
    .await;

    // The trace parent handed to source-controller is the automation's reconcile span, in the
    // trace that began with the rescan: ImageRepository → ImagePolicy → ImageUpdateAutomation.
    let traceparent = source["metadata"]["annotations"]["ferry.dev/traceparent"]
        .as_str()
        .expect("ferry.dev/traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "W3C traceparent: {traceparent}");
    assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("00", 32, 16));
    let (trace_id, span_id) = (parts[1].to_owned(), parts[2].to_owned());
    let names = |spans: &[ferry_integration_tests::otlp::RecordedSpan]| {
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    let spans = collector
        .wait_for_spans(
            |spans| {
                let names = names(spans);
                [
                    "reconcile ImageRepository",
                    "reconcile ImagePolicy",
                    "reconcile ImageUpdateAutomation",
                ]
                .iter()
                .all(|n| names.iter().any(|m| m == n))
            },
            WAIT,
        )
        .await
        .expect("the pushing run's trace reaches the collector");
    let pushing = spans
        .iter()
        .find(|s| s.span_id == span_id)
        .expect("the traceparent's span was exported");
    assert_eq!(pushing.name, "reconcile ImageUpdateAutomation");
    assert_eq!(pushing.service_name.as_deref(), Some("image-scanner"));
    let trace = collector.spans_in_trace(&trace_id);
    assert_eq!(
        trace.first().map(|s| s.service_name.as_deref()),
        Some(Some("image-scanner")),
        "the trace starts in the image-scanner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_registry_password_is_authentication_failed_without_revealing_it_and_the_right_one_recovers()
 {
    let stack = stack().await;
    let registry = Registry::start_with_htpasswd("ferry", "right-pass-91c2")
        .await
        .expect("registry starts");
    push_image(&registry, "secure/app", "1.0.0")
        .await
        .expect("push image");
    let wrong = "wrong-pass-7f3a";
    let docker_config = |password: &str| {
        serde_json::json!({"auths": {registry.host(): {"username": "ferry", "password": password}}})
            .to_string()
    };
    let secret = |password: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: apps\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{}'\n",
            docker_config(password)
        )
    };
    apply(&stack.kube, &secret(wrong)).await;
    let image = format!("{}/secure/app", registry.host());
    apply(
        &stack.kube,
        &image_repository("secure", &image, "  secretRef:\n    name: regcred\n"),
    )
    .await;
    let obj = wait_for(&stack, "imagerepository", "secure", |o| {
        ready_is(o, "False")
    })
    .await;
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "AuthenticationFailed", "{ready}");
    let message = ready["message"].as_str().expect("message");
    assert!(message.contains(&registry.host()), "{message}");
    assert!(condition(&obj, "Stalled").is_none());
    assert!(obj["status"]["lastScanResult"].is_null());

    let encoded = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("ferry:{wrong}"),
    );
    let everything = format!(
        "{}\n{}",
        serde_json::to_string(&obj).unwrap_or_default(),
        stack.scanner.logs()
    );
    assert!(
        !everything.contains(wrong),
        "the password leaked:\n{everything}"
    );
    assert!(
        !everything.contains(&encoded),
        "the encoded password leaked:\n{everything}"
    );

    // The right password, and a requested reconcile: Ready again.
    apply(&stack.kube, &secret("right-pass-91c2")).await;
    request_reconcile(&stack, "imagerepository/secure", "fixed").await;
    let obj = wait_for(&stack, "imagerepository", "secure", |o| ready_is(o, "True")).await;
    assert_eq!(obj["status"]["lastScanResult"]["tagCount"], 1);
    assert!(condition(&obj, "Reconciling").is_none());
    assert!(!stack.scanner.logs().contains("right-pass-91c2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_make_one_commit_per_new_image_chosen_by_a_numerical_timestamp_policy() {
    let stack = stack_with(&[], 2).await;
    let registry = Registry::start().await.expect("registry starts");
    // Flux's `main-<sha>-<unix time>` scheme: the newest build wins, not the highest sha.
    for tag in [
        "main-fff0001-1700000100",
        "main-aaa0002-1700000200",
        "pr-9-1800000000",
    ] {
        push_image(&registry, "ci/app", tag)
            .await
            .expect("push image");
    }
    let image = format!("{}/ci/app", registry.host());
    let git = GitHttpServer::start(Auth::None).await.expect("git server");
    let mut repo = GitRepoBuilder::create(git.root(), "fleet.git")
        .await
        .expect("repo");
    repo.commit_files(
        &[(
            "deploy/app.yaml",
            &deployment(&format!("{image}:main-fff0001-1700000100")),
        )],
        "initial",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    apply(
        &stack.kube,
        &format!(
            "{}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: apps\n  labels:\n    auto: 'yes'\nspec:\n  imageRepositoryRef:\n    name: app\n  filterTags:\n    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$'\n    extract: '$ts'\n  policy:\n    numerical:\n      order: asc\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 10m\n  url: {}\n  ref:\n    branch: main\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 10m\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n  policySelector:\n    matchLabels:\n      auto: 'yes'\n  git:\n    commit:\n      author:\n        email: bot@ferry.example\n",
            image_repository("app", &image, ""),
            git.url_for("fleet.git")
        ),
    )
    .await;
    let policy = wait_for(&stack, "imagepolicy", "app", |o| {
        o["status"]["latestRef"]["tag"] == "main-aaa0002-1700000200"
    })
    .await;
    assert!(ready_is(&policy, "True"));
    wait_for(&stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["observedPolicies"]["app"]["tag"] == "main-aaa0002-1700000200"
            && o["status"]["lastPushCommit"].is_string()
    })
    .await;

    push_image(&registry, "ci/app", "main-bbb0003-1700000300")
        .await
        .expect("push image");
    request_reconcile(&stack, "imagerepository/app", "newer").await;
    let auto = wait_for(&stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["observedPolicies"]["app"]["tag"] == "main-bbb0003-1700000300"
            && ready_is(o, "True")
    })
    .await;
    let head = repo.remote_sha("main").await.expect("main");
    assert_eq!(auto["status"]["lastPushCommit"], head.as_str());
    let file = run_git(repo.bare_path(), &["show", "main:deploy/app.yaml"])
        .await
        .expect("show");
    assert_eq!(
        format!("{file}\n"),
        deployment(&format!("{image}:main-bbb0003-1700000300"))
    );
    // Let any duplicate work settle, then count: the initial commit plus one per new image.
    sleep(Duration::from_secs(3)).await;
    let count = run_git(repo.bare_path(), &["rev-list", "--count", "main"])
        .await
        .expect("rev-list");
    assert_eq!(count, "3", "{}", stack.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_controller_fetches_the_pushed_commit_at_once_inside_the_image_scanners_trace() {
    let collector = OtlpCollector::start().await.expect("OTLP collector starts");
    let endpoint = collector.endpoint();
    let stack = stack_with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    let cache = tempfile::tempdir().expect("cache dir");
    let cache_path = cache.path().display().to_string();
    let source_controller = RunningService::start_with_env(
        "source-controller",
        &stack.nats.url(),
        stack.kube.kubeconfig(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("FERRY_STORAGE_ADDR", "127.0.0.1:0"),
            ("FERRY_RECEIVER_ADDR", "127.0.0.1:0"),
            ("FERRY_CACHE_DIR", &cache_path),
        ],
    )
    .await;
    source_controller.wait_ready(WAIT).await;

    let registry = Registry::start().await.expect("registry starts");
    push_image(&registry, "team/web", "1.0.0")
        .await
        .expect("push image");
    let image = format!("{}/team/web", registry.host());
    let git = GitHttpServer::start(Auth::None).await.expect("git server");
    let mut repo = GitRepoBuilder::create(git.root(), "fleet.git")
        .await
        .expect("repo");
    repo.commit_files(
        &[("deploy/app.yaml", &deployment(&format!("{image}:1.0.0")))],
        "initial",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let initial = repo.head_sha().await.expect("head");
    apply(
        &stack.kube,
        &format!(
            "{}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  imageRepositoryRef:\n    name: web\n  policy:\n    semver:\n      range: 1.x\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 1h\n  url: {}\n  ref:\n    branch: main\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: fleet\n  namespace: apps\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n  git:\n    commit:\n      author:\n        email: bot@ferry.example\n",
            image_repository("web", &image, ""),
            git.url_for("fleet.git")
        ),
    )
    .await;
    // Everything settles on 1.0.0: the file already has it, nothing is pushed.
    wait_for(&stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["observedPolicies"]["app"]["tag"] == "1.0.0" && ready_is(o, "True")
    })
    .await;
    let initial_revision = format!("main@sha1:{initial}");
    wait_for(&stack, "gitrepository", "fleet", |o| {
        o["status"]["artifact"]["revision"] == initial_revision.as_str()
    })
    .await;

    // A new image: the automation pushes, and the GitRepository (interval 1h) has the commit
    // as its artifact moments later.
    push_image(&registry, "team/web", "1.1.0")
        .await
        .expect("push image");
    request_reconcile(&stack, "imagerepository/web", "ci-build-2").await;
    let auto = wait_for(&stack, "imageupdateautomation", "fleet", |o| {
        o["status"]["lastPushCommit"].is_string()
    })
    .await;
    let commit = auto["status"]["lastPushCommit"].as_str().expect("commit");
    let revision = format!("main@sha1:{commit}");
    let source = wait_for(&stack, "gitrepository", "fleet", |o| {
        o["status"]["artifact"]["revision"] == revision.as_str()
    })
    .await;

    // The fetch joined the trace that the rescan started in the image-scanner.
    let traceparent = source["metadata"]["annotations"]["ferry.dev/traceparent"]
        .as_str()
        .expect("ferry.dev/traceparent");
    let trace_id = traceparent.split('-').nth(1).expect("trace id").to_owned();
    let in_trace = |spans: &[ferry_integration_tests::otlp::RecordedSpan], service: &str| {
        spans
            .iter()
            .any(|s| s.trace_id == trace_id && s.service_name.as_deref() == Some(service))
    };
    collector
        .wait_for_spans(
            |spans| in_trace(spans, "image-scanner") && in_trace(spans, "source-controller"),
            WAIT,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n--- source-controller ---\n{}",
                source_controller.logs()
            )
        });
    let trace = collector.spans_in_trace(&trace_id);
    assert_eq!(
        trace.first().and_then(|s| s.service_name.as_deref()),
        Some("image-scanner"),
        "the trace starts in the image-scanner"
    );
}
