//! `ferry bootstrap`: install Ferry from `deploy/` (rendered in-process, server-side applied
//! with field manager `ferry`), then create the GitRepository and Kustomization that make the
//! cluster manage itself from a path of a Git repository.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use serde_json::{Value, json};

use crate::Global;
use crate::kinds;
use crate::kube_util;
use crate::output;

/// The field manager of everything bootstrap applies.
pub const FIELD_MANAGER: &str = "ferry";

/// Arguments of `ferry bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Path in the repository the cluster is synced from (e.g. clusters/prod).
    #[arg(long)]
    pub path: String,
    /// The Git repository's URL.
    #[arg(long)]
    pub url: String,
    /// The branch to follow.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// The kustomize overlay that installs Ferry.
    #[arg(long, default_value = "deploy/overlays/production")]
    pub overlay: PathBuf,
    /// Name of the GitRepository and Kustomization created.
    #[arg(long, default_value = "ferry-system")]
    pub name: String,
    /// Secret with the Git credentials (spec.secretRef of the GitRepository).
    #[arg(long)]
    pub secret_ref: Option<String>,
    /// How often the source is fetched.
    #[arg(long, default_value = "1m")]
    pub interval: String,
}

/// Runs `ferry bootstrap`.
pub async fn run(g: &Global, args: BootstrapArgs) -> anyhow::Result<ExitCode> {
    let ns = g
        .namespace
        .clone()
        .unwrap_or_else(|| "ferry-system".to_owned());
    output::action(&format!("building {}", args.overlay.display()));
    let objects = render(&args.overlay)?;
    output::success(&format!("built {} objects", objects.len()));

    let client = kube_util::client(g).await?;
    client
        .apiserver_version()
        .await
        .map_err(|e| kube_util::explain(e, "contacting the cluster"))?;
    let (first, rest): (Vec<Value>, Vec<Value>) = objects.into_iter().partition(|o| {
        matches!(
            o.get("kind").and_then(Value::as_str),
            Some("CustomResourceDefinition" | "Namespace")
        )
    });
    let mut cache = HashMap::new();
    output::action("applying CRDs and namespaces");
    for o in &first {
        apply(&client, &mut cache, o, &ns).await?;
    }
    wait_crds(&client, &first, g.timeout).await?;
    output::action(&format!("applying {} objects", rest.len()));
    for o in &rest {
        apply(&client, &mut cache, o, &ns).await?;
    }
    output::success(&format!("installed Ferry from {}", args.overlay.display()));

    // The namespace of the sync objects may not be one the overlay created. Created only when
    // missing: applying it again as `ferry` would drop the labels the overlay gave it.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let exists = namespaces
        .get_opt(&ns)
        .await
        .map_err(|e| kube_util::explain(e, &format!("reading namespace '{ns}'")))?
        .is_some();
    if !exists {
        let ns_obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        apply(&client, &mut cache, &ns_obj, &ns).await?;
    }
    let (repo, ks) = sync_objects(&args, &ns);
    output::action(&format!(
        "creating GitRepository {} in {ns} namespace",
        args.name
    ));
    apply(&client, &mut cache, &repo, &ns).await?;
    output::action(&format!(
        "creating Kustomization {} in {ns} namespace",
        args.name
    ));
    apply(&client, &mut cache, &ks, &ns).await?;
    output::success(&format!(
        "the cluster now follows {} (branch {}, path {}): check with `ferry get kustomizations -n {ns}`",
        args.url, args.branch, args.path
    ));
    Ok(ExitCode::SUCCESS)
}

/// Renders the overlay with the in-process kustomize.
pub fn render(overlay: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    let fs = ferry_kustomize::DiskFs::new("/").map_err(|e| anyhow!("{e}"))?;
    let abs = std::fs::canonicalize(overlay).with_context(|| {
        format!(
            "overlay {} not found (run from Ferry's repository or set --overlay)",
            overlay.display()
        )
    })?;
    let dir = fs.relative(&abs).map_err(|e| anyhow!("{e}"))?;
    ferry_kustomize::build(&fs, &dir, &ferry_kustomize::Options::default())
        .map_err(|e| anyhow!("building {}: {e}", overlay.display()))
}

/// The GitRepository and Kustomization that make the cluster manage itself.
pub fn sync_objects(args: &BootstrapArgs, ns: &str) -> (Value, Value) {
    let mut repo = json!({
        "apiVersion": kinds::GIT_REPOSITORY.api_version(),
        "kind": "GitRepository",
        "metadata": {"name": args.name, "namespace": ns},
        "spec": {"interval": args.interval, "url": args.url, "ref": {"branch": args.branch}}
    });
    if let Some(s) = &args.secret_ref {
        repo["spec"]["secretRef"] = json!({"name": s});
    }
    let path = if args.path.starts_with("./") {
        args.path.clone()
    } else {
        format!("./{}", args.path.trim_start_matches('/'))
    };
    let ks = json!({
        "apiVersion": kinds::KUSTOMIZATION.api_version(),
        "kind": "Kustomization",
        "metadata": {"name": args.name, "namespace": ns},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": args.name}
        }
    });
    (repo, ks)
}

async fn apply(
    client: &Client,
    cache: &mut HashMap<(String, String), (ApiResource, bool)>,
    obj: &Value,
    default_ns: &str,
) -> anyhow::Result<()> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = (api_version.to_owned(), kind.to_owned());
    if !cache.contains_key(&key) {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery::pinned_kind(client, &gvk)
            .await
            .map_err(|e| kube_util::explain(e, &format!("discovering {api_version} {kind}")))?;
        cache.insert(key.clone(), (ar, caps.scope == Scope::Namespaced));
    }
    let (ar, namespaced) = &cache[&key];
    let api: Api<DynamicObject> = if *namespaced {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_ns);
        Api::namespaced_with(client.clone(), ns, ar)
    } else {
        Api::all_with(client.clone(), ar)
    };
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(|e| kube_util::explain(e, &format!("applying {kind} '{name}'")))?;
    Ok(())
}

async fn wait_crds(client: &Client, objs: &[Value], timeout: Duration) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let started = Instant::now();
    for o in objs
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
    {
        let name = o
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        loop {
            let crd = api
                .get_opt(name)
                .await
                .map_err(|e| kube_util::explain(e, &format!("reading CRD {name}")))?;
            let est = crd
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if est {
                break;
            }
            if started.elapsed() > timeout {
                bail!("timeout waiting for CRD {name} to be Established");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    output::success("CRDs established");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_objects_point_the_cluster_at_its_path() {
        let args = BootstrapArgs {
            path: "clusters/prod".into(),
            url: "https://git.example.com/fleet.git".into(),
            branch: "main".into(),
            overlay: "deploy/overlays/production".into(),
            name: "ferry-system".into(),
            secret_ref: None,
            interval: "1m".into(),
        };
        let (repo, ks) = sync_objects(&args, "ferry-system");
        assert_eq!(repo["spec"]["ref"]["branch"], "main");
        assert_eq!(ks["spec"]["path"], "./clusters/prod");
        assert_eq!(ks["spec"]["sourceRef"]["name"], "ferry-system");
    }

    #[test]
    fn the_production_overlay_renders() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/overlays/production");
        let objs = render(&dir).expect("deploy/overlays/production builds");
        assert!(objs.iter().any(|o| o["kind"] == "CustomResourceDefinition"));
        assert!(objs.iter().any(|o| o["kind"] == "Deployment"));
    }
}
