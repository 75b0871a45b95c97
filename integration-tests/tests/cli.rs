//! The `ferry` CLI against the Kubernetes API emulator (or `KUBECONFIG`) with Ferry's CRDs
//! installed, and against a real nats-server: `get` tables, `reconcile` (timing out with no
//! controller, succeeding when the test plays the controller by writing status), `suspend` and
//! `resume`, `tree`, `check`, and the messages for wrong names and unreachable services.
//!
//! The binary is `target/<profile>/ferry` (`cargo build -p ferry-cli`).

use anyhow::{Context as _, Result, ensure};
use ferry_integration_tests::cluster::{KubeTarget, workspace_root};
use ferry_integration_tests::nats::NatsServer;
use ferry_integration_tests::service::service_binary;
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;

const NS: &str = "flux-system";
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

async fn bounded<T>(test: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .context("test exceeded its time bound")?
}

/// A `ferry` command with a clean environment, pointed at `kube`.
fn ferry(kube: &KubeTarget, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(service_binary("ferry"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--kubeconfig")
        .arg(kube.kubeconfig())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

async fn run(kube: &KubeTarget, args: &[&str]) -> Result<Run> {
    Ok(ferry(kube, args)
        .output()
        .await
        .context("running ferry")?
        .into())
}

/// A cluster with the CRDs and the `flux-system` namespace.
async fn cluster() -> Result<KubeTarget> {
    let kube = KubeTarget::start().await?;
    kube.install_crds().await?;
    apply(
        &kube,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n"),
    )
    .await?;
    Ok(kube)
}

async fn apply(kube: &KubeTarget, yaml: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("obj.yaml");
    std::fs::write(&file, yaml)?;
    kube.kubectl(&["apply", "--server-side", "-f", &file.display().to_string()])
        .await?;
    Ok(())
}

async fn patch_status(kube: &KubeTarget, resource: &str, status: Value) -> Result<()> {
    let patch = serde_json::json!({ "status": status }).to_string();
    kube.kubectl(&[
        "patch",
        resource,
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ])
    .await?;
    Ok(())
}

async fn get_json(kube: &KubeTarget, resource: &str) -> Result<Value> {
    let out = kube
        .kubectl(&["get", resource, "-n", NS, "-o", "json"])
        .await?;
    Ok(serde_json::from_str(&out)?)
}

async fn git_repository(kube: &KubeTarget, name: &str) -> Result<()> {
    apply(
        kube,
        &format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  interval: 1m\n  url: https://git.example.com/{name}.git\n  ref:\n    branch: main\n"
        ),
    )
    .await
}

async fn kustomization(kube: &KubeTarget, name: &str) -> Result<()> {
    apply(
        kube,
        &format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  interval: 10m\n  path: ./apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: podinfo\n"
        ),
    )
    .await
}

fn ready(message: &str) -> Value {
    serde_json::json!([{
        "type": "Ready", "status": "True", "reason": "Succeeded", "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1
    }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_lists_sources_and_kustomizations_with_flux_columns() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        git_repository(&kube, "podinfo").await?;
        patch_status(
            &kube,
            "gitrepository/podinfo",
            serde_json::json!({
                "artifact": {"revision": "main@sha1:0123456789abcdef", "path": "x", "url": "http://x/x",
                             "digest": "sha256:00", "lastUpdateTime": "2026-01-01T00:00:00Z"},
                "conditions": ready("stored artifact for revision 'main@sha1:0123456789abcdef'")
            }),
        )
        .await?;
        kustomization(&kube, "apps").await?;

        let r = run(&kube, &["get", "sources", "git"]).await?;
        ensure!(r.code == Some(0), "{r}");
        let mut lines = r.stdout.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
        ensure!(header == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"], "{r}");
        let row: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
        ensure!(
            row[..4] == ["podinfo", "main@sha1:0123456789abcdef", "False", "True"],
            "{r}"
        );
        ensure!(r.stdout.contains("stored artifact for revision"), "{r}");

        let r = run(&kube, &["get", "kustomizations", "-A"]).await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(r.stdout.starts_with("NAMESPACE"), "{r}");
        ensure!(r.stdout.lines().nth(1).unwrap_or_default().starts_with("flux-system   apps"), "{r}");
        ensure!(r.stdout.contains("Unknown"), "a never reconciled object is not Ready: {r}");

        let r = run(&kube, &["get", "ks", "apps", "-o", "json"]).await?;
        ensure!(r.code == Some(0), "{r}");
        let v: Value = serde_json::from_str(&r.stdout).context("-o json parses")?;
        ensure!(v["spec"]["path"] == "./apps", "{r}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_source_git_sets_requested_at_and_times_out_cleanly_without_a_controller()
-> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        git_repository(&kube, "podinfo").await?;
        let r = run(
            &kube,
            &["reconcile", "source", "git", "podinfo", "--timeout", "2s"],
        )
        .await?;
        ensure!(r.code == Some(1), "{r}");
        ensure!(r.stderr.contains("✔ GitRepository annotated"), "{r}");
        ensure!(
            r.stderr.contains(
                "✗ timeout waiting for gitrepository 'podinfo' in namespace 'flux-system'"
            ),
            "{r}"
        );
        ensure!(
            r.stderr.contains("source-controller"),
            "names the controller to check: {r}"
        );
        let obj = get_json(&kube, "gitrepository/podinfo").await?;
        let at = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
            .as_str()
            .unwrap_or_default();
        ensure!(chrono_like(at), "requestedAt is an RFC 3339 time: {obj}");
        Ok(())
    })
    .await
}

fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.contains('T') && s.ends_with('Z')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_source_git_succeeds_when_the_controller_handles_the_request() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        git_repository(&kube, "podinfo").await?;
        let child = ferry(
            &kube,
            &["reconcile", "source", "git", "podinfo", "--timeout", "30s"],
        )
        .spawn()
        .context("starting ferry")?;
        // Play the source-controller: wait for the annotation, then report it handled.
        let requested = loop {
            let obj = get_json(&kube, "gitrepository/podinfo").await?;
            if let Some(at) =
                obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].as_str()
            {
                break at.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        patch_status(
            &kube,
            "gitrepository/podinfo",
            serde_json::json!({
                "lastHandledReconcileAt": requested,
                "artifact": {"revision": "main@sha1:feedface", "path": "x", "url": "http://x/x",
                             "digest": "sha256:00", "lastUpdateTime": "2026-01-01T00:00:00Z"},
                "conditions": ready("stored artifact for revision 'main@sha1:feedface'")
            }),
        )
        .await?;
        let r: Run = child.wait_with_output().await?.into();
        ensure!(r.code == Some(0), "{r}");
        ensure!(
            r.stderr.contains("✔ fetched revision main@sha1:feedface"),
            "{r}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_flip_spec_suspend() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        git_repository(&kube, "podinfo").await?;
        kustomization(&kube, "apps").await?;

        let r = run(&kube, &["suspend", "kustomization", "apps"]).await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(r.stderr.contains("✔ kustomization suspended"), "{r}");
        let obj = get_json(&kube, "kustomization/apps").await?;
        ensure!(obj["spec"]["suspend"] == true, "{obj}");
        let r = run(&kube, &["get", "kustomizations"]).await?;
        ensure!(
            r.stdout
                .lines()
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .nth(1)
                == Some("True"),
            "{r}"
        );

        let r = run(&kube, &["reconcile", "kustomization", "apps"]).await?;
        ensure!(
            r.code == Some(1) && r.stderr.contains("is suspended"),
            "reconcile refuses: {r}"
        );

        let r = run(&kube, &["resume", "--wait=false", "kustomization", "apps"]).await?;
        ensure!(r.code == Some(0), "{r}");
        let obj = get_json(&kube, "kustomization/apps").await?;
        ensure!(obj["spec"]["suspend"] == false, "{obj}");
        ensure!(
            obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].is_string(),
            "resume requests a reconcile: {obj}"
        );

        let r = run(&kube, &["suspend", "source", "git", "podinfo"]).await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(get_json(&kube, "gitrepository/podinfo").await?["spec"]["suspend"] == true);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_expands_nested_kustomizations_from_the_inventory() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        kustomization(&kube, "infra").await?;
        kustomization(&kube, "apps").await?;
        patch_status(
            &kube,
            "kustomization/infra",
            serde_json::json!({"inventory": {"entries": [
                {"id": "_prod__Namespace", "v": "v1"},
                {"id": "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"}
            ]}}),
        )
        .await?;
        patch_status(
            &kube,
            "kustomization/apps",
            serde_json::json!({"inventory": {"entries": [{"id": "prod_web_apps_Deployment", "v": "v1"}]}}),
        )
        .await?;
        let r = run(&kube, &["tree", "kustomization", "infra"]).await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(
            r.stdout
                == "Kustomization/flux-system/infra\n├── Namespace/prod\n└── Kustomization/flux-system/apps\n    └── Deployment/prod/web\n",
            "{r}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_with_nats_and_the_crds_installed() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        let nats = NatsServer::start().await?;
        let r = run(&kube, &["check", "--nats-url", &nats.url()]).await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(
            r.stderr.contains("✔ Kubernetes API reachable, version"),
            "{r}"
        );
        ensure!(
            r.stderr
                .contains("✔ CRD kustomizations.kustomize.toolkit.fluxcd.io established"),
            "{r}"
        );
        ensure!(r.stderr.contains("JetStream enabled"), "{r}");
        ensure!(r.stderr.contains("✔ all checks passed"), "{r}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_naming_the_missing_crds_and_the_unreachable_nats() -> Result<()> {
    bounded(async {
        let kube = KubeTarget::emulator(Default::default()).await?;
        let r = run(&kube, &["check", "--nats-url", "nats://127.0.0.1:1"]).await?;
        ensure!(r.code == Some(1), "{r}");
        ensure!(
            r.stderr.contains(
                "✗ CRD kustomizations.kustomize.toolkit.fluxcd.io (Kustomization) is not installed"
            ),
            "{r}"
        );
        ensure!(
            r.stderr
                .contains("✗ unable to connect to NATS at nats://127.0.0.1:1"),
            "{r}"
        );
        ensure!(r.stderr.contains("✗ check failed"), "{r}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_name_exits_1_naming_the_object_and_namespace() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        for args in [
            &["reconcile", "kustomization", "x"][..],
            &["get", "kustomizations", "x"][..],
            &["suspend", "kustomization", "x"][..],
        ] {
            let r = run(&kube, args).await?;
            ensure!(r.code == Some(1), "{args:?}: {r}");
            ensure!(
                r.stderr
                    .starts_with("✗ kustomization 'x' not found in namespace 'flux-system'"),
                "{args:?}: {r}"
            );
        }
        let r = run(&kube, &["get", "helmreleases"]).await?;
        ensure!(
            r.code == Some(2) && r.stderr.contains("unrecognized subcommand 'helmreleases'"),
            "{r}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_services_are_clear_errors() -> Result<()> {
    bounded(async {
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
        )?;
        let mut c = tokio::process::Command::new(service_binary("ferry"));
        let out = c
            .env_clear()
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "kustomizations"])
            .output()
            .await?;
        let r: Run = out.into();
        ensure!(r.code == Some(1) && r.stderr.contains("unable to reach the Kubernetes API"), "{r}");

        let out = tokio::process::Command::new(service_binary("ferry"))
            .env_clear()
            .args(["diff", "kustomization", "apps", "--applier-addr", "http://127.0.0.1:1"])
            .output()
            .await?;
        let r: Run = out.into();
        ensure!(
            r.code == Some(1) && r.stderr.contains("unable to reach the applier's gRPC API at http://127.0.0.1:1"),
            "{r}"
        );

        let out = tokio::process::Command::new(service_binary("ferry"))
            .env_clear()
            .args(["events", "--nats-url", "nats://127.0.0.1:1"])
            .output()
            .await?;
        let r: Run = out.into();
        ensure!(r.code == Some(1) && r.stderr.contains("unable to connect to NATS at nats://127.0.0.1:1"), "{r}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_installs_ferry_and_creates_the_self_managing_sync_objects() -> Result<()> {
    bounded(async {
        // Always the emulator: bootstrap installs Ferry for real.
        let kube = KubeTarget::emulator(Default::default()).await?;
        let overlay = workspace_root().join("deploy/overlays/production");
        let overlay = overlay.display().to_string();
        let r = run(
            &kube,
            &[
                "bootstrap",
                "--path",
                "clusters/prod",
                "--url",
                "https://git.example.com/fleet.git",
                "--overlay",
                &overlay,
            ],
        )
        .await?;
        ensure!(r.code == Some(0), "{r}");
        let out = kube
            .kubectl(&[
                "get",
                "deployments",
                "-n",
                "ferry-system",
                "-o",
                "json",
                "--show-managed-fields",
            ])
            .await?;
        let deployments: Value = serde_json::from_str(&out)?;
        let names: Vec<&str> = deployments["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        for svc in [
            "source-controller",
            "image-scanner",
            "kustomize-renderer",
            "applier",
        ] {
            ensure!(names.contains(&svc), "{svc} deployed: {names:?}");
        }
        let managers = deployments["items"][0]["metadata"]["managedFields"].to_string();
        ensure!(
            managers.contains("\"manager\":\"ferry\""),
            "field manager ferry: {managers}"
        );
        let repo = kube
            .kubectl(&[
                "get",
                "gitrepository/ferry-system",
                "-n",
                "ferry-system",
                "-o",
                "json",
            ])
            .await?;
        let repo: Value = serde_json::from_str(&repo)?;
        ensure!(
            repo["spec"]["url"] == "https://git.example.com/fleet.git",
            "{repo}"
        );
        ensure!(repo["spec"]["ref"]["branch"] == "main", "{repo}");
        let ks = kube
            .kubectl(&[
                "get",
                "kustomization/ferry-system",
                "-n",
                "ferry-system",
                "-o",
                "json",
            ])
            .await?;
        let ks: Value = serde_json::from_str(&ks)?;
        ensure!(ks["spec"]["path"] == "./clusters/prod", "{ks}");
        ensure!(ks["spec"]["sourceRef"]["name"] == "ferry-system", "{ks}");

        let r = run(&kube, &["version"]).await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(r.stdout.starts_with("ferry: v"), "{r}");
        ensure!(
            r.stdout.contains("applier: v0.1.0"),
            "server-side versions: {r}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_prints_the_recorded_journey_or_says_there_is_none_with_the_trace_id() -> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        let nats = NatsServer::start().await?;
        kustomization(&kube, "apps").await?;
        kustomization(&kube, "web").await?;
        kube.kubectl(&[
            "annotate",
            "kustomization/web",
            "-n",
            NS,
            "ferry.dev/traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ])
        .await?;
        let js = nats.jetstream().await?;
        ferry_bus::ensure(&js, &ferry_bus::topology::ferry()).await?;
        let kv = js.get_key_value("ferry-journeys").await?;
        let journey = serde_json::json!({
            "revision": "main@sha1:feedface", "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "steps": [{"name": "fetch", "service": "source-controller", "durationMs": 120},
                      {"name": "apply", "service": "applier", "durationMs": 80, "outcome": "ok"}]
        });
        kv.put("Kustomization.flux-system.apps", journey.to_string().into())
            .await?;

        let url = nats.url();
        let r = run(
            &kube,
            &["trace", "kustomization", "apps", "--nats-url", &url],
        )
        .await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(r.stdout.contains("revision: main@sha1:feedface"), "{r}");
        ensure!(
            r.stdout
                .contains("trace id: 4bf92f3577b34da6a3ce929d0e0e4736"),
            "{r}"
        );
        ensure!(
            r.stdout.contains("├── fetch [source-controller] 120 ms"),
            "{r}"
        );
        ensure!(r.stdout.contains("└── apply [applier] 80 ms ok"), "{r}");

        let r = run(
            &kube,
            &["trace", "kustomization", "web", "--nats-url", &url],
        )
        .await?;
        ensure!(r.code == Some(1), "{r}");
        ensure!(
            r.stderr
                .contains("no journey recorded for kustomization 'web'"),
            "{r}"
        );
        ensure!(
            r.stderr.contains("0af7651916cd43dd8448eb211c80319c"),
            "points to the trace id: {r}"
        );
        Ok(())
    })
    .await
}

/// A stand-in for the applier's `ApplyService`: `apps` has drifted, `clean` has not, anything
/// else is not found.
struct FakeApplier;

#[tonic::async_trait]
impl ferry_proto::apply::v1::apply_service_server::ApplyService for FakeApplier {
    async fn diff(
        &self,
        request: tonic::Request<ferry_proto::apply::v1::DiffRequest>,
    ) -> std::result::Result<tonic::Response<ferry_proto::apply::v1::DiffResponse>, tonic::Status>
    {
        use ferry_proto::apply::v1::{DiffResponse, ObjectDiff};
        let r = request.into_inner();
        let unchanged = ObjectDiff {
            api_version: "v1".into(),
            kind: "Service".into(),
            namespace: "prod".into(),
            name: "web".into(),
            action: "unchanged".into(),
            ..Default::default()
        };
        let objects = match r.name.as_str() {
            "apps" => vec![
                unchanged,
                ObjectDiff {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    namespace: "prod".into(),
                    name: "web".into(),
                    action: "configured".into(),
                    unified_diff:
                        "--- live\n+++ desired\n@@ -1 +1 @@\n-replicas: 1\n+replicas: 3\n".into(),
                    ..Default::default()
                },
            ],
            "clean" => vec![unchanged],
            other => {
                return Err(tonic::Status::not_found(format!(
                    "Kustomization {}/{other} not found",
                    r.namespace
                )));
            }
        };
        Ok(tonic::Response::new(DiffResponse {
            revision: "main@sha1:feedface".into(),
            objects,
        }))
    }

    async fn plan(
        &self,
        request: tonic::Request<ferry_proto::apply::v1::DiffRequest>,
    ) -> std::result::Result<tonic::Response<ferry_proto::apply::v1::DiffResponse>, tonic::Status>
    {
        self.diff(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_prints_drift_and_exits_1_and_exits_0_when_in_sync() -> Result<()> {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(
                    ferry_proto::apply::v1::apply_service_server::ApplyServiceServer::new(
                        FakeApplier,
                    ),
                )
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let diff = |name: &'static str| {
            let addr = addr.clone();
            async move {
                let out = tokio::process::Command::new(service_binary("ferry"))
                    .env_clear()
                    .args(["diff", "kustomization", name, "--applier-addr", &addr])
                    .output()
                    .await?;
                Ok::<Run, anyhow::Error>(out.into())
            }
        };
        let r = diff("apps").await?;
        ensure!(r.code == Some(1), "differences exit 1: {r}");
        ensure!(
            r.stdout.starts_with("► Deployment/prod/web drifted\n"),
            "{r}"
        );
        ensure!(r.stdout.contains("+replicas: 3"), "{r}");
        ensure!(
            !r.stdout.contains("Service/prod/web"),
            "unchanged objects are not listed: {r}"
        );

        let r = diff("clean").await?;
        ensure!(r.code == Some(0), "{r}");
        ensure!(
            r.stderr
                .contains("✔ no changes (revision main@sha1:feedface)"),
            "{r}"
        );

        let r = diff("x").await?;
        ensure!(r.code == Some(1), "{r}");
        ensure!(
            r.stderr
                .contains("✗ kustomization 'x' not found in namespace 'flux-system'"),
            "{r}"
        );
        server.abort();
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_one_line_per_event_for_the_selected_object() -> Result<()> {
    use ferry_proto::events::v1::{ApplyResult, ObjectRef};
    use prost::Message as _;
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    bounded(async {
        let nats = NatsServer::start().await?;
        let url = nats.url();
        let mut child = tokio::process::Command::new(service_binary("ferry"))
            .env_clear()
            .args(["events", "--nats-url", &url, "--for", "Kustomization/apps", "--count", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        // Wait until it follows, then publish one event about another object and one about apps.
        let mut stderr = BufReader::new(child.stderr.take().context("stderr")?).lines();
        while let Some(line) = stderr.next_line().await? {
            if line.contains("following ferry.events.>") {
                break;
            }
        }
        let client = nats.connect().await?;
        let event = |name: &str, created: i64| ApplyResult {
            kustomization: Some(ObjectRef {
                api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
                kind: "Kustomization".into(),
                namespace: NS.into(),
                name: name.into(),
                uid: "u".into(),
            }),
            revision: "main@sha1:feedface".into(),
            success: true,
            created,
            ..Default::default()
        };
        client
            .publish("ferry.events.apply.result", event("other", 9).encode_to_vec().into())
            .await?;
        client
            .publish("ferry.events.apply.result", event("apps", 2).encode_to_vec().into())
            .await?;
        client.flush().await?;
        let out = child.wait_with_output().await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.success(), "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        ensure!(lines.len() == 1, "{stdout}");
        ensure!(
            lines[0].contains("Kustomization/flux-system/apps  apply.result  applied revision 'main@sha1:feedface': 2 created"),
            "{stdout}"
        );
        Ok(())
    })
    .await
}

/// Plays a controller: waits for `requestedAt` on `resource`, then writes it back as handled
/// with a Ready=True status (`extra` merged in).
async fn handle_request(kube: &KubeTarget, resource: &str, mut extra: Value) -> Result<()> {
    let requested = loop {
        let obj = get_json(kube, resource).await?;
        if let Some(at) = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].as_str()
            && obj["status"]["lastHandledReconcileAt"].as_str() != Some(at)
        {
            break at.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    extra["lastHandledReconcileAt"] = Value::String(requested);
    extra["conditions"] = ready("done");
    patch_status(kube, resource, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_kustomization_with_source_reconciles_the_source_first_and_prints_the_applied_revision()
-> Result<()> {
    bounded(async {
        let kube = cluster().await?;
        git_repository(&kube, "podinfo").await?;
        kustomization(&kube, "apps").await?;
        let child = ferry(
            &kube,
            &["reconcile", "kustomization", "apps", "--with-source", "--timeout", "30s"],
        )
        .spawn()?;
        handle_request(
            &kube,
            "gitrepository/podinfo",
            serde_json::json!({"artifact": {"revision": "main@sha1:cafe", "path": "x",
                "url": "http://x/x", "digest": "sha256:00", "lastUpdateTime": "2026-01-01T00:00:00Z"}}),
        )
        .await?;
        handle_request(
            &kube,
            "kustomization/apps",
            serde_json::json!({"lastAppliedRevision": "main@sha1:cafe"}),
        )
        .await?;
        let r: Run = child.wait_with_output().await?.into();
        ensure!(r.code == Some(0), "{r}");
        let fetched = r.stderr.find("✔ fetched revision main@sha1:cafe");
        let applied = r.stderr.find("✔ applied revision main@sha1:cafe");
        ensure!(
            fetched.is_some() && applied.is_some() && fetched < applied,
            "source first, then the Kustomization: {r}"
        );
        Ok(())
    })
    .await
}
