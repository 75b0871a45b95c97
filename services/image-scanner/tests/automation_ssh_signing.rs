//! Automation runs over SSH (the harness's real `sshd`) and with signed commits: the commit is
//! pushed with the Secret's `identity`, checked against its `known_hosts`; a wrong host key fails
//! clearly and pushes nothing; commits carry a `gpgsig` that `git verify-commit` accepts with the
//! public key (key pairs made with `gpg --batch` at test time); a wrong passphrase pushes nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::{GitRepoBuilder, git_command};
use ferry_integration_tests::sshd::Sshd;
use flux_api::image::ImageRef;
use image_scanner::automation::{
    Author, AutomationError, AutomationOutcome, AutomationRequest, GitCredentials, PushSettings,
    SigningError, SigningKey, run,
};
use image_scanner::setters::{Policies, PolicyKey, UpdateOptions};
use tokio::io::AsyncWriteExt as _;

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/org/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}
";

fn policies(tag: &str) -> Policies {
    Policies::from([(
        PolicyKey {
            namespace: "apps".into(),
            name: "podinfo".into(),
        },
        ImageRef {
            name: "ghcr.io/org/podinfo".into(),
            tag: tag.into(),
            digest: None,
        },
    )])
}

fn request(url: String, credentials: GitCredentials, tag: &str) -> AutomationRequest {
    AutomationRequest {
        url,
        credentials,
        checkout_branch: "main".into(),
        push: PushSettings::default(),
        update_path: None,
        author: Author {
            name: "Ferry Bot".into(),
            email: "ferry-bot@example.com".into(),
        },
        signing_key: None,
        message_template: None,
        message_values: BTreeMap::new(),
        automation: ("apps".into(), "podinfo".into()),
        policies: policies(tag),
        setter_options: UpdateOptions::default(),
        timeout: Duration::from_secs(60),
        max_attempts: 3,
    }
}

fn ssh_credentials(identity: &str, known_hosts: &str) -> GitCredentials {
    let data = BTreeMap::from([
        ("identity".to_owned(), identity.as_bytes().to_vec()),
        ("known_hosts".to_owned(), known_hosts.as_bytes().to_vec()),
    ]);
    GitCredentials::from_secret_data(&data).expect("ssh credentials")
}

async fn seeded(root: &Path, name: &str) -> GitRepoBuilder {
    let mut repo = GitRepoBuilder::create(root, name).await.expect("repo");
    repo.commit_files(&[("deploy/podinfo.yaml", DEPLOYMENT)], "initial")
        .await
        .expect("commit");
    repo.push().await.expect("push");
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_pushes_its_commit_over_ssh_with_the_secret_identity() {
    let sshd = Sshd::start().await.expect("sshd");
    let repo = seeded(sshd.root(), "fleet.git").await;
    let credentials = ssh_credentials(&sshd.client_key().private, &sshd.known_hosts());
    let outcome = run(&request(sshd.url_for("fleet.git"), credentials, "6.1.0"))
        .await
        .unwrap_or_else(|e| panic!("run over ssh: {e}\n--- sshd ---\n{}", sshd.log_tail()));
    let AutomationOutcome::Pushed { commit, branch, .. } = outcome else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(branch, "main");
    assert_eq!(repo.remote_sha("main").await.expect("main"), commit);
    let file = ferry_integration_tests::git_repo::run_git(
        repo.bare_path(),
        &["show", "main:deploy/podinfo.yaml"],
    )
    .await
    .expect("show");
    assert!(file.contains("ghcr.io/org/podinfo:6.1.0"), "{file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_host_key_fails_with_a_clear_reason_and_pushes_nothing() {
    let sshd = Sshd::start().await.expect("sshd");
    let repo = seeded(sshd.root(), "fleet.git").await;
    let before = repo.remote_sha("main").await.expect("main");
    // A known_hosts entry for this host and port, but with another key.
    let impostor = sshd.unauthorized_key().await.expect("other key");
    let mut parts = impostor.public.split_whitespace();
    let known_hosts = format!(
        "[127.0.0.1]:{} {} {}\n",
        sshd.port(),
        parts.next().expect("type"),
        parts.next().expect("key")
    );
    let credentials = ssh_credentials(&sshd.client_key().private, &known_hosts);
    let err = run(&request(sshd.url_for("fleet.git"), credentials, "6.1.0"))
        .await
        .expect_err("host key mismatch");
    assert!(
        err.to_string().contains("Host key verification failed"),
        "{err}"
    );
    assert_eq!(err.reason(), "GitOperationFailed");
    assert!(!format!("{err:?}").contains("PRIVATE KEY"));
    assert_eq!(repo.remote_sha("main").await.expect("main"), before);
}

/// A GnuPG home with a fresh signing key; dropping it stops its agent and removes it.
struct TestKey {
    home: tempfile::TempDir,
    secret_armored: String,
    public_armored: String,
}

impl TestKey {
    async fn generate(passphrase: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("ferry-test-gnupg-")
            .tempdir()
            .expect("gnupg home");
        let params = format!(
            "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: Ferry Bot\n\
             Name-Email: ferry-bot@example.com\nExpire-Date: 0\nPassphrase: {passphrase}\n%commit\n"
        );
        gpg(home.path(), &["--generate-key"], Some(params.as_bytes())).await;
        let secret_armored = gpg(
            home.path(),
            &[
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
            ],
            None,
        )
        .await;
        let public_armored = gpg(home.path(), &["--armor", "--export"], None).await;
        Self {
            home,
            secret_armored,
            public_armored,
        }
    }
}

impl Drop for TestKey {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.home.path())
            .status();
    }
}

/// Runs `gpg --batch --pinentry-mode loopback args…` in `home`; panics on failure.
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
        stdin.write_all(input).await.expect("write gpg input");
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

/// `git verify-commit <sha>` in `bare`, with only `public` imported into a fresh GnuPG home.
async fn verify_commit(bare: &Path, sha: &str, public: &str) -> std::process::Output {
    let home = tempfile::Builder::new()
        .prefix("ferry-verify-gnupg-")
        .tempdir()
        .expect("verify home");
    gpg(home.path(), &["--import"], Some(public.as_bytes())).await;
    let output = git_command()
        .current_dir(bare)
        .args(["verify-commit", "--raw", sha])
        .env("GNUPGHOME", home.path())
        .output()
        .await
        .expect("git verify-commit");
    let _ = std::process::Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", home.path())
        .status();
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_signed_with_the_passphrase_protected_key_and_verify_with_its_public_key() {
    let server = GitHttpServer::start(Auth::None).await.expect("git server");
    let repo = seeded(server.root(), "fleet").await;
    let key = TestKey::generate("correct horse").await;
    let mut req = request(server.url_for("fleet"), GitCredentials::default(), "6.2.0");
    req.signing_key = Some(SigningKey::new(
        key.secret_armored.clone(),
        Some(b"correct horse".to_vec()),
    ));
    let outcome = run(&req).await.expect("signed run");
    let AutomationOutcome::Pushed { commit, .. } = outcome else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(repo.remote_sha("main").await.expect("main"), commit);
    let raw = ferry_integration_tests::git_repo::run_git(
        repo.bare_path(),
        &["cat-file", "commit", &commit],
    )
    .await
    .expect("cat-file");
    assert!(
        raw.contains("\ngpgsig -----BEGIN PGP SIGNATURE-----"),
        "{raw}"
    );
    let verified = verify_commit(repo.bare_path(), &commit, &key.public_armored).await;
    let status = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "verify-commit: {status}");
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");

    // The unsigned parent does not verify: the check above is not vacuous.
    let parent = format!("{commit}^");
    let unsigned = verify_commit(repo.bare_path(), &parent, &key.public_armored).await;
    assert!(!unsigned.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_passphrase_or_a_public_key_fails_clearly_and_pushes_nothing() {
    let server = GitHttpServer::start(Auth::None).await.expect("git server");
    let repo = seeded(server.root(), "fleet").await;
    let before = repo.remote_sha("main").await.expect("main");
    let key = TestKey::generate("correct horse").await;

    let mut req = request(server.url_for("fleet"), GitCredentials::default(), "6.2.0");
    req.signing_key = Some(SigningKey::new(
        key.secret_armored.clone(),
        Some(b"not-the-passphrase-42".to_vec()),
    ));
    let err = run(&req).await.expect_err("wrong passphrase");
    assert!(
        matches!(err, AutomationError::Signing(SigningError::Sign(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("Bad passphrase"), "{err}");
    assert!(
        !format!("{err:?}").contains("not-the-passphrase-42"),
        "no passphrase in errors"
    );

    req.signing_key = Some(SigningKey::new(key.public_armored.clone(), None));
    let err = run(&req).await.expect_err("public key only");
    assert!(
        matches!(err, AutomationError::Signing(SigningError::NoSecretKey)),
        "{err:?}"
    );
    assert_eq!(repo.remote_sha("main").await.expect("main"), before);
}
