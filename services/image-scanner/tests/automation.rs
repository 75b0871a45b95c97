//! Automation runs against a real Git smart-HTTP server (`git http-backend`): commits carry the
//! author and templated message, only marked values change, lost push races are retried on the
//! new tip, and per-update branches are idempotent.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_integration_tests::git_http::{Auth, GitHttpServer};
use ferry_integration_tests::git_repo::{GitRepoBuilder, run_git};
use flux_api::image::ImageRef;
use image_scanner::automation::{
    Author, AutomationError, AutomationOutcome, AutomationRequest, GitCredentials, PushSettings,
    SigningError, SigningKey, run,
};
use image_scanner::setters::{Policies, PolicyKey, UpdateOptions};

const DEV: &str = "\
# dev overlay
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: dev
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/org/podinfo:6.0.0 # {\"$imagepolicy\": \"flux-system:podinfo\"}
          args: [\"--level\",   \"debug\"]   # odd spacing stays
";

const PROD: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: \"ghcr.io/org/podinfo:5.0.0\" # {\"$imagepolicy\": \"flux-system:podinfo\"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: worker
          image: ghcr.io/org/worker:1.0.0 # {\"$imagepolicy\": \"flux-system:worker\"}
";

const PROD_VALUES: &str = "\
# Helm values, comments and key order kept
replicas: 3
image:
  repository: ghcr.io/org/podinfo # {\"$imagepolicy\": \"flux-system:podinfo:name\"}
  tag: '5.0.0' # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}
  pullPolicy: IfNotPresent
";

const UNMARKED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: untouched\n";
const OUTSIDE: &str =
    "image: ghcr.io/org/podinfo:1.0.0 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n";

const TEMPLATE: &str = "\
Automated image update by {{ .AutomationObject }} [{{ .Values.env }}]

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Namespace }}/{{ $resource.Name }}
{{- range $_, $change := $changes }}
  - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{- end }}
{{ end -}}

Images:
{{ range .Changed.ImageResult.Images -}}
- {{ . }} ({{ .Policy.Name }})
{{ end -}}
";

fn policies(podinfo: &str, worker: &str) -> Policies {
    let image = |name: &str, tag: &str| ImageRef {
        name: name.into(),
        tag: tag.into(),
        digest: None,
    };
    Policies::from([
        (
            PolicyKey {
                namespace: "flux-system".into(),
                name: "podinfo".into(),
            },
            image("ghcr.io/org/podinfo", podinfo),
        ),
        (
            PolicyKey {
                namespace: "flux-system".into(),
                name: "worker".into(),
            },
            image("ghcr.io/org/worker", worker),
        ),
    ])
}

fn request(url: String, credentials: GitCredentials, policies: Policies) -> AutomationRequest {
    AutomationRequest {
        url,
        credentials,
        checkout_branch: "main".into(),
        push: PushSettings::default(),
        update_path: Some("./apps".into()),
        author: Author {
            name: "Ferry Bot".into(),
            email: "ferry-bot@example.com".into(),
        },
        signing_key: None,
        message_template: Some(TEMPLATE.into()),
        message_values: BTreeMap::from([("env".to_owned(), "all".to_owned())]),
        automation: ("flux-system".into(), "podinfo-updates".into()),
        policies,
        setter_options: UpdateOptions::default(),
        timeout: Duration::from_secs(60),
        max_attempts: 5,
    }
}

fn basic() -> (Auth, GitCredentials) {
    (
        Auth::Basic {
            user: "git-bot".into(),
            pass: "git-s3cret".into(),
        },
        GitCredentials {
            basic: Some(("git-bot".into(), "git-s3cret".into())),
            ..GitCredentials::default()
        },
    )
}

async fn fleet(server: &GitHttpServer) -> GitRepoBuilder {
    let mut repo = GitRepoBuilder::create(server.root(), "fleet")
        .await
        .expect("repo");
    repo.commit_files(
        &[
            ("apps/dev/deployment.yaml", DEV),
            ("apps/prod/deployment.yaml", PROD),
            ("apps/prod/values.yaml", PROD_VALUES),
            ("apps/prod/configmap.yaml", UNMARKED),
            ("apps/README.md", OUTSIDE),
            ("clusters/outside.yaml", OUTSIDE),
        ],
        "initial",
    )
    .await
    .expect("commit");
    repo.push().await.expect("push");
    repo
}

async fn show(repo: &GitRepoBuilder, rev_path: &str) -> String {
    let output =
        ferry_integration_tests::git_repo::git_output(repo.bare_path(), &["show", rev_path])
            .await
            .expect("git show");
    assert!(output.status.success(), "git show {rev_path}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test]
async fn automation_commits_three_files_in_one_commit_with_author_and_templated_message() {
    let (auth, credentials) = basic();
    let server = GitHttpServer::start(auth).await.expect("git server");
    let repo = fleet(&server).await;
    let initial = repo.remote_sha("main").await.expect("sha");
    let req = request(
        server.url_for("fleet"),
        credentials,
        policies("6.1.0", "1.2.0"),
    );

    let outcome = run(&req).await.expect("automation run");
    let AutomationOutcome::Pushed {
        commit,
        branch,
        message,
        result,
        attempts,
    } = outcome
    else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!((branch.as_str(), attempts), ("main", 1));
    assert_eq!(repo.remote_sha("main").await.expect("sha"), commit);
    assert_eq!(
        result.files.keys().collect::<Vec<_>>(),
        [
            "apps/dev/deployment.yaml",
            "apps/prod/deployment.yaml",
            "apps/prod/values.yaml"
        ]
    );
    let parent = run_git(repo.bare_path(), &["rev-parse", &format!("{commit}^")])
        .await
        .expect("parent");
    assert_eq!(parent, initial, "one commit on top of the initial one");

    let identity = run_git(
        repo.bare_path(),
        &["log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"],
    )
    .await
    .expect("log");
    assert_eq!(
        identity,
        "Ferry Bot <ferry-bot@example.com>|Ferry Bot <ferry-bot@example.com>"
    );
    let expected_message = "\
Automated image update by flux-system/podinfo-updates [all]

Files:
- apps/dev/deployment.yaml
- apps/prod/deployment.yaml
- apps/prod/values.yaml
Objects:
- Deployment dev/podinfo
  - ghcr.io/org/podinfo:6.0.0 -> ghcr.io/org/podinfo:6.1.0
- Deployment prod/podinfo
  - ghcr.io/org/podinfo:5.0.0 -> ghcr.io/org/podinfo:6.1.0
- Deployment prod/worker
  - ghcr.io/org/worker:1.0.0 -> ghcr.io/org/worker:1.2.0
- / 
  - ghcr.io/org/podinfo -> ghcr.io/org/podinfo
  - 5.0.0 -> 6.1.0
Images:
- ghcr.io/org/podinfo:6.1.0 (podinfo)
- ghcr.io/org/worker:1.2.0 (worker)
";
    // The values file has no Kubernetes identity; its `:name` marker already held the name, so
    // only its tag changed.
    let expected_message = expected_message.replace(
        "- / \n  - ghcr.io/org/podinfo -> ghcr.io/org/podinfo\n  - 5.0.0 -> 6.1.0\n",
        "-  /\n  - 5.0.0 -> 6.1.0\n",
    );
    assert_eq!(message, expected_message);
    let body = run_git(repo.bare_path(), &["log", "-1", "--format=%B", "main"])
        .await
        .expect("log");
    assert_eq!(body, expected_message.trim_end());

    assert_eq!(
        show(&repo, "main:apps/dev/deployment.yaml").await,
        DEV.replace("podinfo:6.0.0 #", "podinfo:6.1.0 #")
    );
    assert_eq!(
        show(&repo, "main:apps/prod/deployment.yaml").await,
        PROD.replace(
            "\"ghcr.io/org/podinfo:5.0.0\"",
            "\"ghcr.io/org/podinfo:6.1.0\""
        )
        .replace("worker:1.0.0 #", "worker:1.2.0 #")
    );
    assert_eq!(
        show(&repo, "main:apps/prod/values.yaml").await,
        PROD_VALUES.replace("tag: '5.0.0'", "tag: '6.1.0'")
    );
    assert_eq!(show(&repo, "main:apps/prod/configmap.yaml").await, UNMARKED);
    assert_eq!(show(&repo, "main:apps/README.md").await, OUTSIDE);
    assert_eq!(show(&repo, "main:clusters/outside.yaml").await, OUTSIDE);

    // Running again with the same policies finds nothing to do.
    match run(&req).await.expect("second run") {
        AutomationOutcome::UpToDate { revision, .. } => assert_eq!(revision, commit),
        other => panic!("expected up to date, got {other:?}"),
    }
}

#[tokio::test]
async fn concurrent_runs_lose_push_races_cleanly_and_retry_on_the_new_tip() {
    let (auth, credentials) = basic();
    let server = GitHttpServer::start(auth).await.expect("git server");
    let repo = fleet(&server).await;
    // Widen the race window: every push waits in pre-receive, so runs that fetched the same tip
    // push concurrently and all but one lose.
    let hook = repo.bare_path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\nsleep 1\n").expect("hook");
    make_executable(&hook);
    let initial = repo.remote_sha("main").await.expect("sha");

    let url = server.url_for("fleet");
    let mut dev = request(url.clone(), credentials.clone(), policies("7.0.0", "1.0.0"));
    dev.update_path = Some("apps/dev".into());
    let mut prod = request(url.clone(), credentials.clone(), policies("5.0.0", "2.0.0"));
    prod.update_path = Some("apps/prod/deployment.yaml".into());
    let mut values = request(url, credentials, policies("5.5.0", "1.0.0"));
    values.update_path = Some("apps/prod/values.yaml".into());
    let (a, b, c) = tokio::join!(run(&dev), run(&prod), run(&values));

    let mut total_attempts = 0;
    for outcome in [a, b, c] {
        match outcome.expect("each run succeeds") {
            AutomationOutcome::Pushed { attempts, .. } => total_attempts += attempts,
            other => panic!("each run has its own change, got {other:?}"),
        }
    }
    assert!(
        total_attempts > 3,
        "some run must have lost a race and retried"
    );
    let history = run_git(
        repo.bare_path(),
        &["rev-list", "--first-parent", &format!("{initial}..main")],
    )
    .await
    .expect("rev-list");
    assert_eq!(
        history.lines().count(),
        3,
        "three linear commits, none lost"
    );
    let merges = run_git(repo.bare_path(), &["rev-list", "--merges", "main"])
        .await
        .expect("rev-list");
    assert!(merges.is_empty(), "no merge commits");
    assert!(
        show(&repo, "main:apps/dev/deployment.yaml")
            .await
            .contains("podinfo:7.0.0 #")
    );
    assert!(
        show(&repo, "main:apps/prod/deployment.yaml")
            .await
            .contains("worker:2.0.0 #")
    );
    assert!(
        show(&repo, "main:apps/prod/values.yaml")
            .await
            .contains("tag: '5.5.0'")
    );
}

#[tokio::test]
async fn the_same_update_from_two_replicas_lands_as_exactly_one_commit() {
    let (auth, credentials) = basic();
    let server = GitHttpServer::start(auth).await.expect("git server");
    let repo = fleet(&server).await;
    let initial = repo.remote_sha("main").await.expect("sha");
    let req = request(
        server.url_for("fleet"),
        credentials,
        policies("6.2.0", "1.0.0"),
    );
    let (a, b) = tokio::join!(run(&req), run(&req));
    let outcomes = [a.expect("first replica"), b.expect("second replica")];
    let mut commits: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            AutomationOutcome::Pushed { commit, .. } => Some(commit.as_str()),
            AutomationOutcome::UpToDate { .. } => None,
        })
        .collect();
    commits.dedup();
    // Either the loser found the change already there, or both made the byte-identical commit
    // (same tree, parent, author and second) and the second push was a no-op.
    assert_eq!(commits.len(), 1, "{outcomes:?}");
    let count = run_git(
        repo.bare_path(),
        &["rev-list", "--count", &format!("{initial}..main")],
    )
    .await
    .expect("count");
    assert_eq!(count, "1");
}

#[tokio::test]
async fn per_update_branch_mode_pushes_to_a_templated_branch_idempotently_with_a_bearer_token() {
    let server = GitHttpServer::start(Auth::Bearer("git-token".into()))
        .await
        .expect("git server");
    let repo = fleet(&server).await;
    let main_before = repo.remote_sha("main").await.expect("sha");
    let credentials = GitCredentials {
        bearer_token: Some("git-token".into()),
        ..GitCredentials::default()
    };
    let mut req = request(
        server.url_for("fleet"),
        credentials,
        policies("6.3.0", "1.0.0"),
    );
    req.push.new_branch_template =
        Some("image-updates/{{ .AutomationObject.Name }}-{{ .Hash }}".into());
    let first = run(&req).await.expect("first run");
    let AutomationOutcome::Pushed { branch, commit, .. } = first else {
        panic!("expected a push, got {first:?}");
    };
    assert!(
        branch.starts_with("image-updates/podinfo-updates-"),
        "{branch}"
    );
    assert_eq!(
        repo.remote_sha(&format!("refs/heads/{branch}"))
            .await
            .expect("branch"),
        commit
    );
    assert_eq!(
        repo.remote_sha("main").await.expect("main"),
        main_before,
        "main untouched"
    );

    // Another run for the same change set names the same branch and finds it already there.
    let again = run(&req).await.expect("second run");
    let AutomationOutcome::Pushed {
        branch: same,
        commit: existing,
        ..
    } = again
    else {
        panic!("expected the existing branch, got {again:?}");
    };
    assert_eq!(
        (same.as_str(), existing.as_str()),
        (branch.as_str(), commit.as_str())
    );
}

#[tokio::test]
async fn wrong_credentials_are_access_denied_and_secrets_stay_out_of_errors() {
    let (auth, _) = basic();
    let server = GitHttpServer::start(auth).await.expect("git server");
    let _repo = fleet(&server).await;
    let wrong = GitCredentials {
        basic: Some(("git-bot".into(), "not-the-s3cret".into())),
        ..GitCredentials::default()
    };
    let err = run(&request(
        server.url_for("fleet"),
        wrong,
        policies("6.0.1", "1.0.0"),
    ))
    .await
    .expect_err("refused");
    assert_eq!(err.reason(), "AccessDenied", "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-s3cret"));
}

#[tokio::test]
async fn bad_signing_keys_and_credentials_in_urls_are_refused_before_any_git_work() {
    let (_, credentials) = basic();
    // Port 9 (discard) has no Git server: reaching it would fail differently.
    let mut req = request(
        "http://127.0.0.1:9/fleet".into(),
        credentials.clone(),
        Policies::new(),
    );
    req.signing_key = Some(SigningKey::new("not an OpenPGP key", None));
    assert!(
        matches!(
            run(&req).await,
            Err(AutomationError::Signing(SigningError::Import(_)))
        ),
        "an unreadable git.asc fails before any Git work"
    );
    let req = request(
        "http://user:pass@127.0.0.1:9/fleet".into(),
        credentials.clone(),
        Policies::new(),
    );
    let err = run(&req).await.expect_err("credentials in URL");
    assert_eq!(err.reason(), "InvalidSourceConfiguration");
    for url in ["ssh://git@127.0.0.1:9/fleet", "git@127.0.0.1:fleet"] {
        let req = request(url.into(), credentials.clone(), Policies::new());
        let err = run(&req).await.expect_err("SSH without a key");
        assert_eq!(err.reason(), "InvalidSourceConfiguration", "{url}");
        assert!(err.to_string().contains("'known_hosts'"), "{err}");
    }
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut permissions = std::fs::metadata(path).expect("metadata").permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).expect("chmod");
}

#[tokio::test]
async fn push_branch_is_created_from_checkout_then_used_as_base_and_refspec_is_pushed_too() {
    let (auth, credentials) = basic();
    let server = GitHttpServer::start(auth).await.expect("git server");
    let repo = fleet(&server).await;
    let main_before = repo.remote_sha("main").await.expect("sha");
    let mut req = request(
        server.url_for("fleet"),
        credentials,
        policies("6.1.0", "1.0.0"),
    );
    req.push.branch = Some("auto-updates".into());
    req.push.refspec = Some("refs/heads/auto-updates:refs/heads/mirror".into());

    let AutomationOutcome::Pushed {
        commit: first,
        branch,
        ..
    } = run(&req).await.expect("run")
    else {
        panic!("expected a push");
    };
    assert_eq!(branch, "auto-updates");
    assert_eq!(repo.remote_sha("main").await.expect("main"), main_before);
    assert_eq!(
        repo.remote_sha("refs/heads/mirror").await.expect("mirror"),
        first
    );
    let parent = run_git(repo.bare_path(), &["rev-parse", &format!("{first}^")])
        .await
        .expect("parent");
    assert_eq!(parent, main_before, "created from the checkout branch");

    req.policies = policies("6.2.0", "1.0.0");
    let AutomationOutcome::Pushed { commit: second, .. } = run(&req).await.expect("run") else {
        panic!("expected a push");
    };
    let parent = run_git(repo.bare_path(), &["rev-parse", &format!("{second}^")])
        .await
        .expect("parent");
    assert_eq!(parent, first, "the existing push branch is the base");
    assert_eq!(
        repo.remote_sha("refs/heads/mirror").await.expect("mirror"),
        second
    );

    req.checkout_branch = "no-such-branch".into();
    let err = run(&req).await.expect_err("missing checkout branch");
    assert_eq!(err.reason(), "InvalidSourceConfiguration", "{err}");
}
