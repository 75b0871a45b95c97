//! Two source-controller replicas against one nats-server and one Kubernetes API: they split
//! the work, produce identical digests for the same revision, and a replica killed with SIGKILL
//! in the middle of a fetch loses nothing: the request is delivered again, the other replica
//! finishes it, and there is exactly one artifact and one `ArtifactReady` event.
//!
//! The fetch is made slow on purpose: the killed replica talks to the git server through a
//! throttling TCP proxy (about 320 KB/s) and the repository holds ~2.4 MB of incompressible
//! blobs, so the kill lands while the pack is streaming.

use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::git_http::{Auth, GitHttpServer, GitRequestKind};
use ferry_integration_tests::git_repo::GitRepoBuilder;
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::service::RunningService;
use ferry_proto::events::v1::{ArtifactReady, LeaseRecord};
use futures::StreamExt as _;
use prost::Message as _;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep};

const WAIT: Duration = Duration::from_secs(120);

async fn apply(kube: &KubeTarget, manifest: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.yaml");
    std::fs::write(&path, manifest).expect("manifest written");
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await
        .expect("kubectl apply");
}

async fn get_json(kube: &KubeTarget, name: &str) -> Value {
    let out = kube
        .kubectl(&["get", "gitrepository", name, "-n", "apps", "-o", "json"])
        .await
        .expect("kubectl get");
    serde_json::from_str(&out).expect("JSON")
}

fn is_ready(obj: &Value) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn git_repository(name: &str, url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  interval: 10m\n  timeout: 2m\n  url: {url}\n  ref:\n    branch: main\n"
    )
}

async fn start_replica(
    nats: &NatsServer,
    kube: &KubeTarget,
    cache: &tempfile::TempDir,
    instance: &str,
) -> RunningService {
    let cache_path = cache.path().display().to_string();
    let replica = RunningService::start_with_args(
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
            "--instance",
            instance,
            "--concurrency",
            "1",
        ],
    )
    .await;
    replica.wait_ready(WAIT).await;
    replica
}

/// Every `ArtifactReady` in `FERRY_EVENTS`, oldest first.
async fn artifact_events(nats: &NatsServer) -> Vec<ArtifactReady> {
    use async_nats::jetstream::consumer::{AckPolicy, pull};
    let js = nats.jetstream().await.expect("jetstream");
    let stream = js.get_stream("FERRY_EVENTS").await.expect("events stream");
    let mut messages = stream
        .create_consumer(pull::Config {
            filter_subject: "ferry.events.artifact.ready".into(),
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer")
        .stream()
        .max_messages_per_batch(100)
        .heartbeat(Duration::from_secs(1))
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("messages");
    let mut events = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), messages.next()).await
    {
        let message = message.expect("message");
        events.push(ArtifactReady::decode(message.payload.as_ref()).expect("ArtifactReady"));
    }
    events
}

fn events_for<'a>(events: &'a [ArtifactReady], name: &str) -> Vec<&'a ArtifactReady> {
    events
        .iter()
        .filter(|e| e.source.as_ref().is_some_and(|s| s.name == name))
        .collect()
}

/// A TCP proxy to `upstream` that passes requests at once and answers at ~320 KB/s.
async fn throttling_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if client_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                let _ = client_write.shutdown().await;
                up.abort();
            });
        }
    });
    addr
}

/// Commits `files` blobs of `size` pseudo-random (incompressible) bytes.
async fn commit_random_blobs(repo: &mut GitRepoBuilder, files: usize, size: usize) -> String {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let dir = repo.work_dir().join("blobs");
    std::fs::create_dir_all(&dir).expect("dir");
    for i in 0..files {
        let mut data = Vec::with_capacity(size);
        while data.len() < size {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
        std::fs::write(dir.join(format!("blob-{i:04}.bin")), &data).expect("blob");
    }
    repo.git(&["add", "--all"]).await.expect("add");
    repo.git(&["commit", "--quiet", "-m", "blobs"])
        .await
        .expect("commit");
    repo.head_sha().await.expect("head")
}

async fn wait_ready_all(kube: &KubeTarget, names: &[String], logs: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    for name in names {
        loop {
            let obj = get_json(kube, name).await;
            if is_ready(&obj) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never became Ready: {}\n{}",
                obj["status"],
                logs()
            );
            sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_work_agree_on_digests_and_survive_a_sigkill_mid_fetch() {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let kube = KubeTarget::start().await.expect("Kubernetes API");
    kube.install_crds()
        .await
        .expect("CRDs installed and Established");
    kube.kubectl(&["create", "namespace", "apps"])
        .await
        .expect("namespace");
    let git = GitHttpServer::start(Auth::None).await.expect("git server");
    let (cache_a, cache_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let a = start_replica(&nats, &kube, &cache_a, "replica-a").await;
    let b = start_replica(&nats, &kube, &cache_b, "replica-b").await;
    let logs = |a: &RunningService, b: &RunningService| {
        format!(
            "--- replica-a ---\n{}\n--- replica-b ---\n{}",
            a.logs(),
            b.logs()
        )
    };

    // Part 1: eight GitRepositories of one revision, split between the replicas.
    let mut repo = GitRepoBuilder::create(git.root(), "app.git")
        .await
        .expect("repo");
    let head = repo
        .commit_files(&[("app.yaml", "a: 1\n"), ("lib/x.yaml", "x: 1\n")], "first")
        .await
        .expect("commit");
    repo.push().await.expect("push");
    let names: Vec<String> = (0..8).map(|i| format!("app-{i}")).collect();
    for name in &names {
        apply(&kube, &git_repository(name, &git.url_for("app.git"))).await;
    }
    wait_ready_all(&kube, &names, || logs(&a, &b)).await;
    let mut digests = Vec::new();
    for name in &names {
        let obj = get_json(&kube, name).await;
        assert_eq!(
            obj["status"]["artifact"]["revision"],
            format!("main@sha1:{head}")
        );
        digests.push(
            obj["status"]["artifact"]["digest"]
                .as_str()
                .map(String::from),
        );
    }
    assert!(
        digests.iter().all(|d| d.is_some() && *d == digests[0]),
        "identical digests: {digests:?}"
    );
    let stored = |r: &RunningService| r.logs().matches("Stored artifact").count();
    assert!(
        stored(&a) > 0 && stored(&b) > 0,
        "both replicas packed some ({} and {}):\n{}",
        stored(&a),
        stored(&b),
        logs(&a, &b)
    );
    assert_eq!(stored(&a) + stored(&b), names.len(), "one artifact each");
    let events = artifact_events(&nats).await;
    for name in &names {
        assert_eq!(events_for(&events, name).len(), 1, "{name}");
    }

    // Part 2: a slow fetch; SIGKILL the replica holding it once the pack is streaming.
    let mut slow = GitRepoBuilder::create(git.root(), "slow.git")
        .await
        .expect("repo");
    let slow_head = commit_random_blobs(&mut slow, 300, 8 * 1024).await;
    slow.push().await.expect("push");
    let proxy = throttling_proxy(git.addr()).await;
    let fetches_before = git.count_of(GitRequestKind::Fetch);
    apply(
        &kube,
        &git_repository("slow", &format!("http://{proxy}/slow.git")),
    )
    .await;

    let js = nats.jetstream().await.expect("jetstream");
    let leases = js.get_key_value("ferry-leases").await.expect("leases");
    let deadline = Instant::now() + WAIT;
    let holder = loop {
        if let Ok(Some(value)) = leases.get("gitrepository.apps.slow").await {
            break LeaseRecord::decode(value.as_ref()).expect("lease").holder;
        }
        assert!(
            Instant::now() < deadline,
            "no lease taken\n{}",
            logs(&a, &b)
        );
        sleep(Duration::from_millis(50)).await;
    };
    while git.count_of(GitRequestKind::Fetch) == fetches_before {
        assert!(
            Instant::now() < deadline,
            "no fetch started\n{}",
            logs(&a, &b)
        );
        sleep(Duration::from_millis(50)).await;
    }
    sleep(Duration::from_millis(500)).await;
    let (victim, survivor) = match holder.as_str() {
        "replica-a" => (a, b),
        "replica-b" => (b, a),
        other => panic!("unexpected lease holder {other}"),
    };
    let killed_at = Instant::now();
    victim.kill().await;

    let obj = loop {
        let obj = get_json(&kube, "slow").await;
        if is_ready(&obj) {
            break obj;
        }
        assert!(
            killed_at.elapsed() < WAIT,
            "the survivor never finished: {}\n{}",
            obj["status"],
            survivor.logs()
        );
        sleep(Duration::from_millis(250)).await;
    };
    eprintln!("recovered {:?} after the kill", killed_at.elapsed());
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{slow_head}")
    );
    let digest = obj["status"]["artifact"]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    // Give a late duplicate every chance to show up.
    sleep(Duration::from_secs(2)).await;
    let events = artifact_events(&nats).await;
    let mine = events_for(&events, "slow");
    assert_eq!(mine.len(), 1, "exactly one ArtifactReady: {mine:?}");
    assert_eq!(mine[0].digest, digest);
    assert_eq!(mine[0].revision, format!("main@sha1:{slow_head}"));
    // One object for the eight app-* (same bytes) and one for slow.
    let store = js
        .get_object_store("ferry-artifacts")
        .await
        .expect("object store");
    let mut listed = store.list().await.expect("list");
    let mut objects = Vec::new();
    while let Some(info) = listed.next().await {
        objects.push(info.expect("object info").name);
    }
    objects.sort();
    let mut expected = vec![digests[0].clone().expect("digest"), digest];
    expected.sort();
    assert_eq!(objects, expected);
}
