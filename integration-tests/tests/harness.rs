//! Tests of the integration test harness itself: every helper starts a real server and works.

use anyhow::{Context as _, Result, bail, ensure};
use ferry_integration_tests::HarnessError;
use ferry_integration_tests::error::require_binary;
use ferry_integration_tests::git_daemon::GitDaemon;
use ferry_integration_tests::git_http::{Auth, GitHttpServer, GitRequestKind};
use ferry_integration_tests::git_repo::{GitRepoBuilder, git_command, run_git};
use ferry_integration_tests::otlp::OtlpCollector;
use ferry_integration_tests::registry::{
    Registry, install_crypto_provider, list_tags, list_tags_as, push_image,
};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use std::future::Future;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Upper bound for any one test.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

async fn bounded<T>(test: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .context("test exceeded its time bound")?
}

/// Runs `git args…` in `dir` with a time bound and returns its output, successful or not.
async fn git(dir: &Path, args: &[&str]) -> Result<Output> {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        git_command().current_dir(dir).args(args).output(),
    )
    .await
    .with_context(|| format!("git {args:?} timed out"))??;
    Ok(output)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A repository `app.git` under `root` with one commit on `main`, pushed; returns its sha.
async fn seeded_repo(root: &Path) -> Result<(GitRepoBuilder, String)> {
    let mut repo = GitRepoBuilder::create(root, "app.git").await?;
    let sha = repo
        .commit_files(
            &[("deploy/app.yaml", "kind: ConfigMap\n"), ("README", "hi\n")],
            "initial",
        )
        .await?;
    repo.push().await?;
    Ok((repo, sha))
}

/// Clones `url` into a fresh directory with `extra` args before `clone`; returns the output and
/// the directory.
async fn clone(url: &str, extra: &[&str]) -> Result<(Output, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["clone", "--quiet", url, "checkout"]);
    let output = git(dir.path(), &args).await?;
    Ok((output, dir))
}

async fn assert_cloned(dir: &Path, expected_sha: &str) -> Result<()> {
    let checkout = dir.join("checkout");
    let head = run_git(&checkout, &["rev-parse", "HEAD"]).await?;
    ensure!(
        head == expected_sha,
        "cloned HEAD {head}, expected {expected_sha}"
    );
    let file = std::fs::read_to_string(checkout.join("deploy/app.yaml"))?;
    ensure!(
        file == "kind: ConfigMap\n",
        "unexpected file contents {file:?}"
    );
    Ok(())
}

#[tokio::test]
async fn clone_over_smart_http_without_auth() -> Result<()> {
    bounded(async {
        let server = GitHttpServer::start(Auth::None).await?;
        let (_repo, sha) = seeded_repo(server.root()).await?;
        let (output, dir) = clone(&server.url_for("app.git"), &[]).await?;
        ensure!(output.status.success(), "clone failed: {}", stderr(&output));
        assert_cloned(dir.path(), &sha).await?;
        ensure!(server.count_of(GitRequestKind::InfoRefs) >= 1);
        ensure!(server.count_of(GitRequestKind::Fetch) >= 1);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn clone_over_smart_http_with_basic_auth_accepts_right_password_rejects_wrong() -> Result<()>
{
    bounded(async {
        let server = GitHttpServer::start(Auth::Basic {
            user: "flux".into(),
            pass: "s3cret".into(),
        })
        .await?;
        let (_repo, sha) = seeded_repo(server.root()).await?;

        let good = server.url_with_credentials("app.git", "flux", "s3cret");
        let (output, dir) = clone(&good, &[]).await?;
        ensure!(output.status.success(), "clone failed: {}", stderr(&output));
        assert_cloned(dir.path(), &sha).await?;

        let wrong = server.url_with_credentials("app.git", "flux", "wrong");
        let (output, _dir) = clone(&wrong, &[]).await?;
        ensure!(
            !output.status.success(),
            "clone with a wrong password succeeded"
        );
        ensure!(
            stderr(&output).contains("Authentication failed"),
            "expected an authentication error, got: {}",
            stderr(&output)
        );

        let (output, _dir) = clone(&server.url_for("app.git"), &[]).await?;
        ensure!(
            !output.status.success(),
            "clone without credentials succeeded"
        );
        ensure!(
            server.requests().iter().any(|r| r.status == 401),
            "no 401 in the request log"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn clone_over_smart_http_with_bearer_token() -> Result<()> {
    bounded(async {
        let server = GitHttpServer::start(Auth::Bearer("tok-123".into())).await?;
        let (_repo, sha) = seeded_repo(server.root()).await?;
        let url = server.url_for("app.git");

        let (output, dir) = clone(
            &url,
            &["-c", "http.extraHeader=Authorization: Bearer tok-123"],
        )
        .await?;
        ensure!(output.status.success(), "clone failed: {}", stderr(&output));
        assert_cloned(dir.path(), &sha).await?;

        server.clear_requests();
        let (output, _dir) =
            clone(&url, &["-c", "http.extraHeader=Authorization: Bearer nope"]).await?;
        ensure!(
            !output.status.success(),
            "clone with a wrong token succeeded"
        );
        let requests = server.requests();
        ensure!(
            !requests.is_empty() && requests.iter().all(|r| r.status == 401),
            "expected only 401s, got {requests:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn push_over_smart_http_updates_the_served_repo() -> Result<()> {
    bounded(async {
        let server = GitHttpServer::start(Auth::Basic {
            user: "flux".into(),
            pass: "pw".into(),
        })
        .await?;
        let (repo, _) = seeded_repo(server.root()).await?;
        let url = server.url_with_credentials("app.git", "flux", "pw");
        let (output, dir) = clone(&url, &[]).await?;
        ensure!(output.status.success(), "clone failed: {}", stderr(&output));
        let checkout = dir.path().join("checkout");
        std::fs::write(checkout.join("new.txt"), "pushed\n")?;
        run_git(&checkout, &["add", "new.txt"]).await?;
        run_git(&checkout, &["commit", "--quiet", "-m", "over http"]).await?;
        let pushed = run_git(&checkout, &["rev-parse", "HEAD"]).await?;

        let output = git(&checkout, &["push", "--quiet", "origin", "main"]).await?;
        ensure!(output.status.success(), "push failed: {}", stderr(&output));
        ensure!(repo.remote_sha("refs/heads/main").await? == pushed);
        ensure!(server.count_of(GitRequestKind::Push) >= 1);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn ls_remote_over_smart_http_is_logged_without_a_fetch() -> Result<()> {
    bounded(async {
        let server = GitHttpServer::start(Auth::None).await?;
        let (_repo, sha) = seeded_repo(server.root()).await?;
        let dir = tempfile::tempdir()?;
        let output = git(dir.path(), &["ls-remote", &server.url_for("app.git")]).await?;
        ensure!(
            output.status.success(),
            "ls-remote failed: {}",
            stderr(&output)
        );
        ensure!(String::from_utf8_lossy(&output.stdout).contains(&sha));
        ensure!(server.request_count() >= 1);
        ensure!(
            server.count_of(GitRequestKind::Fetch) == 0,
            "ls-remote fetched: {:?}",
            server.requests()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn smart_http_passes_gzip_request_bodies_to_http_backend() -> Result<()> {
    bounded(async {
        let server = GitHttpServer::start(Auth::None).await?;
        let (_repo, sha) = seeded_repo(server.root()).await?;
        // A protocol v2 ls-refs request, gzip-compressed by the gzip tool.
        let request = b"0014command=ls-refs\n00010000";
        let mut gzip = tokio::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("gzip not found: apt-get install -y gzip")?;
        let mut stdin = gzip.stdin.take().context("gzip stdin")?;
        tokio::io::AsyncWriteExt::write_all(&mut stdin, request).await?;
        drop(stdin);
        let compressed = gzip.wait_with_output().await?;
        ensure!(compressed.status.success(), "gzip failed");

        install_crypto_provider();
        let response = reqwest::Client::new()
            .post(format!("{}/git-upload-pack", server.url_for("app.git")))
            .header("Content-Type", "application/x-git-upload-pack-request")
            .header("Content-Encoding", "gzip")
            .header("Git-Protocol", "version=2")
            .body(compressed.stdout)
            .send()
            .await?;
        ensure!(response.status() == 200, "status {}", response.status());
        let body = response.text().await?;
        ensure!(
            body.contains(&format!("{sha} refs/heads/main")),
            "unexpected ls-refs answer {body:?}"
        );
        ensure!(
            server.count_of(GitRequestKind::Fetch) == 1,
            "{:?}",
            server.requests()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn clone_and_push_over_git_daemon() -> Result<()> {
    bounded(async {
        let daemon = GitDaemon::start().await?;
        let (repo, sha) = seeded_repo(daemon.root()).await?;
        let url = daemon.url_for("app.git");
        ensure!(url.starts_with("git://127.0.0.1:"), "bad url {url}");
        let (output, dir) = clone(&url, &[]).await?;
        ensure!(output.status.success(), "clone failed: {}", stderr(&output));
        assert_cloned(dir.path(), &sha).await?;

        let checkout = dir.path().join("checkout");
        run_git(
            &checkout,
            &["commit", "--quiet", "--allow-empty", "-m", "via daemon"],
        )
        .await?;
        let pushed = run_git(&checkout, &["rev-parse", "HEAD"]).await?;
        let output = git(&checkout, &["push", "--quiet", "origin", "main"]).await?;
        ensure!(output.status.success(), "push failed: {}", stderr(&output));
        ensure!(repo.remote_sha("main").await? == pushed);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn repo_builder_is_deterministic_with_tags_branches_and_force_push() -> Result<()> {
    bounded(async {
        let root = tempfile::tempdir()?;
        let mut shas = Vec::new();
        for name in ["one.git", "two.git"] {
            let mut repo = GitRepoBuilder::create(root.path(), name).await?;
            let first = repo.commit_files(&[("a.txt", "a\n")], "first").await?;
            let second = repo.commit_files(&[("dir/b.txt", "b\n")], "second").await?;
            shas.push((first, second));
        }
        ensure!(
            shas[0] == shas[1],
            "same calls gave different shas: {shas:?}"
        );

        let mut repo = GitRepoBuilder::create(root.path(), "three.git").await?;
        let first = repo.commit_files(&[("a.txt", "a\n")], "first").await?;
        repo.tag("v1.0.0").await?;
        let tag_object = repo.annotated_tag("v1.1.0", "release").await?;
        ensure!(
            tag_object != first,
            "annotated tag should be its own object"
        );
        repo.branch("feature").await?;
        let feature = repo.commit_files(&[("f.txt", "f\n")], "feature").await?;
        repo.checkout("main").await?;
        let deleted = repo.delete_file("a.txt", "remove a").await?;
        repo.push().await?;
        ensure!(repo.remote_sha("refs/heads/feature").await? == feature);
        ensure!(repo.remote_sha("refs/heads/main").await? == deleted);
        ensure!(repo.remote_sha("v1.0.0^{commit}").await? == first);
        ensure!(repo.remote_sha("refs/tags/v1.1.0").await? == tag_object);
        ensure!(repo.head_sha().await? == deleted);

        repo.reset_hard(&first).await?;
        let rewritten = repo.commit_files(&[("c.txt", "c\n")], "rewrite").await?;
        ensure!(
            repo.push().await.is_err(),
            "non-fast-forward push succeeded"
        );
        repo.force_push().await?;
        ensure!(repo.remote_sha("refs/heads/main").await? == rewritten);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn registry_push_image_and_list_tags() -> Result<()> {
    bounded(async {
        let registry = Registry::start().await?;
        let first = push_image(&registry, "team/app", "1.0.0").await?;
        let second = push_image(&registry, "team/app", "1.1.0").await?;
        ensure!(
            first.starts_with("sha256:") && first.len() == 71,
            "bad digest {first}"
        );
        ensure!(
            first != second,
            "different tags should have different digests"
        );
        let again = push_image(&registry, "team/app", "1.0.0").await?;
        ensure!(
            first == again,
            "pushing the same image twice changed its digest"
        );
        let mut tags = list_tags(&registry, "team/app").await?;
        tags.sort();
        ensure!(
            tags == ["1.0.0", "1.1.0"],
            "tags {tags:?}; log: {}",
            registry.log_tail()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn registry_with_htpasswd_refuses_anonymous_and_accepts_basic_auth() -> Result<()> {
    bounded(async {
        let registry = Registry::start_with_htpasswd("ci", "hunter2").await?;
        ensure!(registry.credentials() == Some(("ci", "hunter2")));
        push_image(&registry, "private/app", "v1").await?;

        match list_tags_as(&registry, "private/app", &RegistryAuth::Anonymous).await {
            Ok(tags) => bail!("anonymous listing succeeded: {tags:?}"),
            Err(HarnessError::Oci(
                OciDistributionError::UnauthorizedError { .. }
                | OciDistributionError::AuthenticationFailure(_),
            )) => {}
            Err(other) => bail!("unexpected error {other}"),
        }
        let wrong = RegistryAuth::Basic("ci".into(), "wrong".into());
        let refused = list_tags_as(&registry, "private/app", &wrong).await;
        ensure!(
            matches!(
                refused,
                Err(HarnessError::Oci(
                    OciDistributionError::UnauthorizedError { .. }
                ))
            ),
            "a wrong password was not refused: {refused:?}"
        );

        let tags = list_tags(&registry, "private/app").await?;
        ensure!(tags == ["v1"], "tags {tags:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_receives_a_span_with_its_parent_and_service_name() -> Result<()> {
    use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_otlp::WithExportConfig as _;

    bounded(async {
        let collector = OtlpCollector::start().await?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(collector.endpoint())
            .with_timeout(Duration::from_secs(10))
            .build()?;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("harness-test")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("harness");
        let (trace_id, parent_id, child_id) = tracer.in_span("parent", |cx| {
            let parent = cx.span().span_context().clone();
            let child = tracer.in_span("child", |cx| cx.span().span_context().clone());
            (
                parent.trace_id().to_string(),
                parent.span_id().to_string(),
                child.span_id().to_string(),
            )
        });
        tokio::task::spawn_blocking(move || -> Result<()> {
            provider.force_flush()?;
            provider.shutdown()?;
            Ok(())
        })
        .await??;

        collector
            .wait_for_spans(|spans| spans.len() >= 2, Duration::from_secs(20))
            .await?;
        let spans = collector.spans_in_trace(&trace_id);
        let parent = spans
            .iter()
            .find(|s| s.name == "parent")
            .context("no parent span")?;
        let child = spans
            .iter()
            .find(|s| s.name == "child")
            .context("no child span")?;
        ensure!(parent.span_id == parent_id && parent.is_root());
        ensure!(child.span_id == child_id);
        ensure!(child.parent_span_id.as_deref() == Some(parent_id.as_str()));
        for span in [parent, child] {
            ensure!(
                span.service_name.as_deref() == Some("harness-test"),
                "{span:?}"
            );
        }
        let tree = collector.trace_tree(&trace_id);
        ensure!(tree.len() == 1, "expected one root: {tree:?}");
        ensure!(
            tree[0].children.len() == 1 && tree[0].find("child").is_some(),
            "tree:\n{}",
            tree[0].render()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn servers_are_removed_on_drop() -> Result<()> {
    bounded(async {
        let daemon = GitDaemon::start().await?;
        let http = GitHttpServer::start(Auth::None).await?;
        let registry = Registry::start().await?;
        let collector = OtlpCollector::start().await?;
        let roots = [daemon.root().to_owned(), http.root().to_owned()];
        let addrs = [
            format!("127.0.0.1:{}", daemon.port()),
            http.addr().to_string(),
            registry.host(),
            collector.addr().to_string(),
        ];
        drop((daemon, http, registry, collector));
        tokio::task::yield_now().await;
        for root in &roots {
            ensure!(!root.exists(), "{} still exists", root.display());
        }
        for addr in &addrs {
            let mut closed = false;
            for _ in 0..50 {
                if tokio::net::TcpStream::connect(addr.as_str()).await.is_err() {
                    closed = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ensure!(closed, "{addr} still accepts connections");
        }
        Ok(())
    })
    .await
}

#[test]
fn a_missing_binary_names_its_package() {
    let error = require_binary("ferry-no-such-binary", "ferry-pkg").unwrap_err();
    assert_eq!(
        error.to_string(),
        "ferry-no-such-binary not found: apt-get install -y ferry-pkg"
    );
}
