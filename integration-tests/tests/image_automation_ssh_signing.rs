//! image-scanner's ImageUpdateAutomation end to end over SSH with signed commits: a real
//! nats-server, docker-registry, sshd (the GitRepository's `identity`/`known_hosts` Secret) and
//! the service binary. An unreadable `git.asc` is Ready=False with a clear message and pushes
//! nothing; the right key (passphrase-protected, made with `gpg --batch` here) gives a commit that
//! `git verify-commit` accepts.

use ferry_integration_tests::cluster::KubeTarget;
use ferry_integration_tests::git_repo::{GitRepoBuilder, git_command, run_git};
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::service::RunningService;
use ferry_integration_tests::sshd::Sshd;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::time::{Instant, sleep};

const WAIT: Duration = Duration::from_secs(90);
const PASSPHRASE: &str = "ferry passphrase 7";

async fn apply_json(kube: &KubeTarget, manifest: &Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, manifest.to_string()).expect("manifest written");
    kube.kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await
        .expect("kubectl apply");
}

fn secret(name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": "apps"}, "stringData": data})
}

fn automation(signing_secret: &str) -> Value {
    json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "fleet", "namespace": "apps"},
        "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "git": {"commit": {"author": {"name": "Ferry Bot", "email": "bot@ferry.example"},
                "signingKey": {"secretRef": {"name": signing_secret}}}}}})
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image} # {{\"$imagepolicy\": \"apps:app\"}}\n"
    )
}

async fn get_json(kube: &KubeTarget, kind: &str, name: &str) -> Value {
    let out = kube
        .kubectl(&["get", kind, name, "-n", "apps", "-o", "json"])
        .await
        .expect("kubectl get");
    serde_json::from_str(&out).expect("JSON")
}

fn ready(obj: &Value) -> Option<&Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

async fn wait_for(
    kube: &KubeTarget,
    scanner: &RunningService,
    kind: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let obj = get_json(kube, kind, "fleet").await;
        if done(&obj) {
            return obj;
        }
        assert!(
            Instant::now() < deadline,
            "{kind} never reached the expected state:\n{}\n--- logs ---\n{}",
            obj["status"],
            scanner.logs()
        );
        sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `gpg --batch --pinentry-mode loopback args…` with `home`; panics on failure.
async fn gpg(home: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = tokio::process::Command::new("gpg")
        .args(["--batch", "--pinentry-mode", "loopback"])
        .args(args)
        .env("GNUPGHOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("gpg runs");
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(input) = input {
        stdin.write_all(input).await.expect("gpg input");
    }
    drop(stdin);
    let output = child.wait_with_output().await.expect("gpg output");
    assert!(
        output.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn stop_agent(home: &Path) {
    let _ = std::process::Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", home)
        .status();
}

/// A fresh passphrase-protected signing key: (armored secret key, armored public key).
async fn generate_key(home: &Path) -> (String, String) {
    let params = format!(
        "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: Ferry Bot\n\
         Name-Email: bot@ferry.example\nExpire-Date: 0\nPassphrase: {PASSPHRASE}\n%commit\n"
    );
    gpg(home, &["--generate-key"], Some(params.as_bytes())).await;
    let secret = gpg(
        home,
        &[
            "--passphrase",
            PASSPHRASE,
            "--armor",
            "--export-secret-keys",
        ],
        None,
    )
    .await;
    let public = gpg(home, &["--armor", "--export"], None).await;
    stop_agent(home);
    (secret, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_over_ssh_signs_its_commit_and_an_unreadable_key_is_ready_false_without_a_push()
{
    let nats = NatsServer::start().await.expect("nats-server");
    let kube = KubeTarget::start().await.expect("Kubernetes API");
    kube.install_crds()
        .await
        .expect("CRDs installed and Established");
    kube.kubectl(&["create", "namespace", "apps"])
        .await
        .expect("namespace");
    let scanner = RunningService::start("image-scanner", &nats.url(), kube.kubeconfig()).await;
    scanner.wait_ready(WAIT).await;

    let registry = Registry::start().await.expect("registry");
    for tag in ["1.0.0", "1.1.0"] {
        push_image(&registry, "team/app", tag).await.expect("push");
    }
    let image = format!("{}/team/app", registry.host());
    let sshd = Sshd::start().await.expect("sshd");
    let mut repo = GitRepoBuilder::create(sshd.root(), "fleet.git")
        .await
        .expect("repo");
    repo.commit_files(
        &[("deploy/app.yaml", &deployment(&format!("{image}:1.0.0")))],
        "initial",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    let initial = repo.remote_sha("main").await.expect("main");

    let gnupg = tempfile::tempdir().expect("gnupg home");
    let (secret_key, public_key) = generate_key(gnupg.path()).await;
    for manifest in [
        secret(
            "ssh-key",
            &[
                ("identity", &sshd.client_key().private),
                ("known_hosts", &sshd.known_hosts()),
            ],
        ),
        secret("bad-signing", &[("git.asc", "not an OpenPGP key")]),
        secret(
            "signing",
            &[("git.asc", &secret_key), ("passphrase", PASSPHRASE)],
        ),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"image": image, "interval": "10m", "insecure": true}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "apps"},
            "spec": {"interval": "10m", "url": sshd.url_for("fleet.git"),
                "ref": {"branch": "main"}, "secretRef": {"name": "ssh-key"}}}),
        automation("bad-signing"),
    ] {
        apply_json(&kube, &manifest).await;
    }

    // An unreadable key: Ready=False, a message naming the Secret key, nothing pushed.
    let failed = wait_for(&kube, &scanner, "imageupdateautomation", |o| {
        ready(o).is_some_and(|c| {
            c["status"] == "False" && c["message"].as_str().unwrap_or("").contains("git.asc")
        })
    })
    .await;
    let condition = ready(&failed).expect("Ready");
    assert_eq!(condition["reason"], "GitOperationFailed", "{condition}");
    assert!(
        condition["message"]
            .as_str()
            .unwrap_or_default()
            .contains("could not import 'git.asc'"),
        "{condition}"
    );
    assert_eq!(repo.remote_sha("main").await.expect("main"), initial);

    // The right key: a signed commit over SSH that verifies with the public key.
    apply_json(&kube, &automation("signing")).await;
    let done = wait_for(&kube, &scanner, "imageupdateautomation", |o| {
        o["status"]["lastPushCommit"].is_string() && ready(o).is_some_and(|c| c["status"] == "True")
    })
    .await;
    let commit = done["status"]["lastPushCommit"]
        .as_str()
        .expect("commit")
        .to_owned();
    assert_eq!(repo.remote_sha("main").await.expect("main"), commit);
    let file = run_git(repo.bare_path(), &["show", "main:deploy/app.yaml"])
        .await
        .expect("show");
    assert!(file.contains(&format!("{image}:1.1.0")), "{file}");
    let verify_home = tempfile::tempdir().expect("verify home");
    gpg(
        verify_home.path(),
        &["--import"],
        Some(public_key.as_bytes()),
    )
    .await;
    let verified = git_command()
        .current_dir(repo.bare_path())
        .args(["verify-commit", "--raw", &commit])
        .env("GNUPGHOME", verify_home.path())
        .output()
        .await
        .expect("git verify-commit");
    stop_agent(verify_home.path());
    let status = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && status.contains("[GNUPG:] GOODSIG"),
        "{status}"
    );
    let logs = scanner.logs();
    assert!(
        !logs.contains("PRIVATE KEY") && !logs.contains(PASSPHRASE),
        "no key material in the logs"
    );
}
