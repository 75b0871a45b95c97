//! source-controller end to end: a real nats-server, a real git smart-HTTP server, the
//! Kubernetes API (emulator, or `KUBECONFIG`), and the service binary as a child process.

use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::service::{RunningService, logged_addr};
use ferry_proto::events::v1::ArtifactReady;
use prost::Message as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::{Instant, sleep};

const WAIT: Duration = Duration::from_secs(60);

struct Stack {
    nats: NatsServer,
    kube: KubeTarget,
    git: GitHttpServer,
    controller: RunningService,
    storage: SocketAddr,
    receiver: SocketAddr,
    _cache: tempfile::TempDir,
}

async fn stack(auth: Auth) -> Stack {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let kube = KubeTarget::start().await.expect("Kubernetes API");
    kube.install_crds()
        .await
        .expect("CRDs installed and Established");
    kube.kubectl(&["create", "namespace", "apps"])
        .await
        .expect("namespace");
    let git = GitHttpServer::start(auth).await.expect("git server starts");
    let cache = tempfile::tempdir().expect("cache dir");
    let cache_path = cache.path().display().to_string();
    let controller = RunningService::start_with_args(
        "source-controller",
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
    controller.wait_ready(WAIT).await;
    let line = controller.wait_for_log("listening storage=", WAIT).await;
    let storage = logged_addr(&line, "storage").expect("storage address logged");
    let receiver = logged_addr(&line, "receiver").expect("receiver address logged");
    Stack {
        nats,
        kube,
        git,
        controller,
        storage,
        receiver,
        _cache: cache,
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

/// Polls the GitRepository until `done` holds for it; fails with its last status and the logs.
async fn wait_for_repo(stack: &Stack, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let obj = get_json(&stack.kube, "gitrepository", name).await;
        if done(&obj) {
            return obj;
        }
        assert!(
            Instant::now() < deadline,
            "GitRepository {name} never reached the expected state:\n{}\n--- logs ---\n{}",
            serde_json::to_string_pretty(&obj["status"]).unwrap_or_default(),
            stack.controller.logs()
        );
        sleep(Duration::from_millis(200)).await;
    }
}

fn artifact_revision(obj: &Value) -> Option<&str> {
    obj["status"]["artifact"]["revision"].as_str()
}

async fn last_artifact_event(stack: &Stack) -> ArtifactReady {
    let js = stack.nats.jetstream().await.expect("jetstream");
    let stream = js.get_stream("FERRY_EVENTS").await.expect("events stream");
    let message = stream
        .get_last_raw_message_by_subject("ferry.events.artifact.ready")
        .await
        .expect("an ArtifactReady event");
    ArtifactReady::decode(message.payload.as_ref()).expect("ArtifactReady decodes")
}

fn git_repository(name: &str, url: &str, extra: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  interval: 10m\n  url: {url}\n  ref:\n    branch: main\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_repository_becomes_an_artifact_served_over_http_and_announced_with_changed_paths() {
    let stack = stack(Auth::None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    repo.commit_files(
        &[
            ("deploy/app.yaml", "kind: ConfigMap\n"),
            ("README.md", "hi\n"),
            ("logo.png", "png"),
        ],
        "first",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let first = repo.head_sha().await.expect("head");

    apply(
        &stack.kube,
        &git_repository("app", &stack.git.url_for("app.git"), ""),
    )
    .await;
    let obj = wait_for_repo(&stack, "app", |o| {
        condition(o, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let revision = format!("main@sha1:{first}");
    assert_eq!(artifact_revision(&obj), Some(revision.as_str()));
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "Succeeded");
    assert_eq!(
        ready["message"],
        format!("stored artifact for revision '{revision}'")
    );
    let artifact = &obj["status"]["artifact"];
    assert_eq!(
        artifact["path"],
        format!("gitrepository/apps/app/{first}.tar.gz")
    );

    // The URL in status serves the bytes whose sha256 is the digest in status.
    let url = artifact["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("http://{}/", stack.storage)),
        "{url}"
    );
    let bytes = reqwest::get(url)
        .await
        .expect("GET artifact")
        .bytes()
        .await
        .expect("body");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    assert_eq!(artifact["digest"], digest);
    assert_eq!(artifact["size"], bytes.len() as u64);
    let entries = ferry_artifact::read_entries(&bytes, Default::default()).expect("tarball");
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["README.md", "deploy/app.yaml"],
        "logo.png is a default exclusion"
    );

    let event = last_artifact_event(&stack).await;
    assert_eq!(event.revision, revision);
    assert_eq!(event.digest, digest);
    assert!(
        event.all_paths_changed,
        "the first artifact has no previous revision"
    );

    // A second commit, picked up through reconcile.fluxcd.io/requestedAt.
    repo.commit_files(&[("deploy/app.yaml", "kind: Secret\n")], "second")
        .await
        .expect("commit");
    repo.push().await.expect("push");
    let second = repo.head_sha().await.expect("head");
    stack
        .kube
        .kubectl(&[
            "annotate",
            "--overwrite",
            "-n",
            "apps",
            "gitrepository/app",
            "reconcile.fluxcd.io/requestedAt=one",
        ])
        .await
        .expect("annotate");
    let second_revision = format!("main@sha1:{second}");
    let obj = wait_for_repo(&stack, "app", |o| {
        artifact_revision(o) == Some(second_revision.as_str())
    })
    .await;
    assert_eq!(obj["status"]["lastHandledReconcileAt"], "one");
    let event = last_artifact_event(&stack).await;
    assert_eq!(event.revision, second_revision);
    assert_eq!(event.previous_revision, revision);
    assert!(!event.all_paths_changed);
    assert_eq!(event.changed_paths, vec!["deploy/app.yaml"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_webhook_triggers_a_new_artifact_and_a_bad_signature_changes_nothing() {
    let stack = stack(Auth::None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    repo.commit_files(&[("app.yaml", "a: 1\n")], "first")
        .await
        .expect("commit");
    repo.push().await.expect("push");
    apply(
        &stack.kube,
        &git_repository("app", &stack.git.url_for("app.git"), ""),
    )
    .await;
    wait_for_repo(&stack, "app", |o| artifact_revision(o).is_some()).await;

    apply(
        &stack.kube,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook-token\n  namespace: apps\nstringData:\n  token: s3cret\n---\napiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata:\n  name: push\n  namespace: apps\nspec:\n  type: generic-hmac\n  secretRef:\n    name: hook-token\n  resources:\n  - kind: GitRepository\n    name: app\n",
    )
    .await;
    let deadline = Instant::now() + WAIT;
    let path = loop {
        let receiver = get_json(&stack.kube, "receiver", "push").await;
        if let Some(path) = receiver["status"]["webhookPath"].as_str() {
            break path.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "Receiver never got a webhook path:\n{receiver}\n{}",
            stack.controller.logs()
        );
        sleep(Duration::from_millis(200)).await;
    };
    let expected = format!("/hook/{}", hex::encode(Sha256::digest(b"s3cretpushapps")));
    assert_eq!(path, expected);

    repo.commit_files(&[("app.yaml", "a: 2\n")], "second")
        .await
        .expect("commit");
    repo.push().await.expect("push");
    let head = repo.head_sha().await.expect("head");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let client = reqwest::Client::new();
    let url = format!("http://{}{path}", stack.receiver);

    let forged = client
        .post(&url)
        .header("X-Signature", format!("sha256={}", "00".repeat(32)))
        .body(body.to_vec())
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 401);
    let obj = get_json(&stack.kube, "gitrepository", "app").await;
    assert!(
        obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].is_null(),
        "a rejected call must not annotate anything"
    );

    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let accepted = client
        .post(&url)
        .header("X-Signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("POST");
    assert_eq!(
        accepted.status(),
        200,
        "{}",
        accepted.text().await.unwrap_or_default()
    );
    let revision = format!("main@sha1:{head}");
    wait_for_repo(&stack, "app", |o| {
        artifact_revision(o) == Some(revision.as_str())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_gives_ready_false_with_authentication_failed() {
    let stack = stack(Auth::Basic {
        user: "git".into(),
        pass: "right".into(),
    })
    .await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    repo.commit_files(&[("app.yaml", "a: 1\n")], "first")
        .await
        .expect("commit");
    repo.push().await.expect("push");
    apply(
        &stack.kube,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\nstringData:\n  username: git\n  password: wrong\n",
    )
    .await;
    apply(
        &stack.kube,
        &git_repository(
            "app",
            &stack.git.url_for("app.git"),
            "  secretRef:\n    name: creds\n",
        ),
    )
    .await;
    let obj = wait_for_repo(&stack, "app", |o| {
        condition(o, "Ready").is_some_and(|c| c["status"] == "False")
    })
    .await;
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "AuthenticationFailed", "{ready}");
    let fetch = condition(&obj, "FetchFailed").expect("FetchFailed");
    assert_eq!(fetch["status"], "True");
    assert!(
        !ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("wrong"),
        "no secret in status"
    );
    assert!(
        !stack.controller.logs().contains("wrong"),
        "no secret in logs"
    );

    // Right password: the same object recovers.
    apply(
        &stack.kube,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\nstringData:\n  username: git\n  password: right\n",
    )
    .await;
    stack
        .kube
        .kubectl(&[
            "annotate",
            "--overwrite",
            "-n",
            "apps",
            "gitrepository/app",
            "reconcile.fluxcd.io/requestedAt=retry",
        ])
        .await
        .expect("annotate");
    wait_for_repo(&stack, "app", |o| {
        condition(o, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failure_and_unsupported_fields_are_clear_errors_naming_the_field() {
    let stack = stack(Auth::None).await;
    let mut repo = GitRepoBuilder::create(stack.git.root(), "app.git")
        .await
        .expect("repo");
    repo.commit_files(&[("app.yaml", "a: 1\n")], "first")
        .await
        .expect("commit");
    repo.push().await.expect("push");

    // https:// against a plain-HTTP server: the TLS handshake fails.
    let https = stack
        .git
        .url_for("app.git")
        .replacen("http://", "https://", 1);
    apply(&stack.kube, &git_repository("tls", &https, "")).await;
    let obj = wait_for_repo(&stack, "tls", |o| {
        condition(o, "Ready").is_some_and(|c| c["status"] == "False")
    })
    .await;
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "GitOperationFailed", "{ready}");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("spec.url"),
        "{ready}"
    );

    // A Flux field Ferry does not implement stalls the object instead of being ignored.
    apply(
        &stack.kube,
        &git_repository(
            "submodules",
            &stack.git.url_for("app.git"),
            "  recurseSubmodules: true\n",
        ),
    )
    .await;
    let obj = wait_for_repo(&stack, "submodules", |o| {
        condition(o, "Stalled").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let stalled = condition(&obj, "Stalled").expect("Stalled");
    assert_eq!(stalled["reason"], "UnsupportedFeature", "{stalled}");
    assert!(
        stalled["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("spec.recurseSubmodules"),
        "{stalled}"
    );
    assert!(
        obj["status"]["artifact"].is_null(),
        "no artifact that ignores the field"
    );
}
