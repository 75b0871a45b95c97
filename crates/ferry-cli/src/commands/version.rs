//! `ferry version`: the client's version and, when the cluster answers, Ferry's Deployments'.

use std::process::ExitCode;

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Map, Value, json};

use crate::Global;
use crate::kube_util;
use crate::output::{self, Format};

/// Arguments of `ferry version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Only the client's version (no cluster access).
    #[arg(long)]
    pub client: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Runs `ferry version`.
pub async fn run(g: &Global, args: VersionArgs) -> anyhow::Result<ExitCode> {
    let mut all = Map::new();
    all.insert(
        "ferry".into(),
        json!(format!("v{}", env!("CARGO_PKG_VERSION"))),
    );
    let mut warning = None;
    if !args.client {
        let ns = g
            .namespace
            .clone()
            .unwrap_or_else(|| "ferry-system".to_owned());
        match servers(g, &ns).await {
            Ok(list) if list.is_empty() => {
                warning = Some(format!("no Ferry Deployments found in namespace '{ns}'"));
            }
            Ok(list) => all.extend(list),
            Err(e) => {
                warning = Some(format!(
                    "server versions unavailable: {}",
                    output::chain(&e)
                ))
            }
        }
    }
    match args.output {
        Format::Table => {
            for (k, v) in &all {
                println!("{k}: {}", v.as_str().unwrap_or_default());
            }
        }
        f => output::print_value(f, &Value::Object(all))?,
    }
    if let Some(w) = warning {
        output::failure(&w);
    }
    Ok(ExitCode::SUCCESS)
}

async fn servers(g: &Global, ns: &str) -> anyhow::Result<Map<String, Value>> {
    let client = kube_util::client(g).await?;
    let api: Api<Deployment> = Api::namespaced(client, ns);
    let list = api
        .list(&ListParams::default().labels("app.kubernetes.io/part-of=ferry"))
        .await
        .map_err(|e| kube_util::explain(e, "listing Ferry's Deployments"))?;
    let mut out = Map::new();
    for d in list.items {
        let name = d.metadata.name.clone().unwrap_or_default();
        let image = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let version = image
            .rsplit_once(':')
            .map(|(_, t)| t.to_owned())
            .unwrap_or(image);
        out.insert(name, json!(version));
    }
    Ok(out)
}
