//! `ferry tree kustomization NAME`: the inventory as a tree, nested Kustomizations expanded.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use kube::Client;
use serde_json::{Value, json};

use crate::Global;
use crate::kinds;
use crate::kube_util::{self, to_value};
use crate::output::{self, Format};

/// What to show as a tree.
#[derive(Debug, Subcommand)]
pub enum TreeCmd {
    /// A Kustomization's inventory.
    #[command(visible_alias = "ks")]
    Kustomization(TreeArgs),
}

/// Arguments of `ferry tree kustomization`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The Kustomization's name.
    pub name: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// One node: `Kind/namespace/name` and its children.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `Kind/namespace/name` (or `Kind/name` when cluster-scoped).
    pub resource: String,
    /// Nested objects (a Kustomization's inventory).
    pub children: Vec<Node>,
}

/// One inventory entry id, Flux's `<namespace>_<name>_<group>_<kind>`.
pub fn parse_id(id: &str) -> Option<(String, String, String, String)> {
    let mut parts = id.splitn(4, '_');
    let ns = parts.next()?.to_owned();
    let name = parts.next()?.to_owned();
    let group = parts.next()?.to_owned();
    let kind = parts.next()?.to_owned();
    Some((ns, name, group, kind))
}

fn label(kind: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

/// Runs `ferry tree ...`.
pub async fn run(g: &Global, cmd: TreeCmd) -> anyhow::Result<ExitCode> {
    let TreeCmd::Kustomization(args) = cmd;
    let client = kube_util::client(g).await?;
    let ns = g.ns();
    let obj = to_value(&kube_util::get(&client, &kinds::KUSTOMIZATION, &ns, &args.name).await?);
    let root = expand(&client, &obj, &ns, &args.name, 0).await;
    match args.output {
        Format::Table => print!("{}", render(&root)),
        f => output::print_value(f, &to_json(&root))?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn expand(client: &Client, obj: &Value, ns: &str, name: &str, depth: usize) -> Node {
    let mut node = Node {
        resource: label("Kustomization", ns, name),
        children: Vec::new(),
    };
    let entries = obj
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in entries {
        let Some((cns, cname, group, kind)) =
            e.get("id").and_then(Value::as_str).and_then(parse_id)
        else {
            continue;
        };
        if kind == "Kustomization" && group == kinds::KUSTOMIZATION.group && depth < 16 {
            let child = match kube_util::get(client, &kinds::KUSTOMIZATION, &cns, &cname).await {
                Ok(c) => Box::pin(expand(client, &to_value(&c), &cns, &cname, depth + 1)).await,
                Err(_) => Node {
                    resource: label(&kind, &cns, &cname),
                    children: Vec::new(),
                },
            };
            node.children.push(child);
        } else {
            node.children.push(Node {
                resource: label(&kind, &cns, &cname),
                children: Vec::new(),
            });
        }
    }
    node
}

/// Draws the tree like `flux tree`.
pub fn render(root: &Node) -> String {
    fn walk(n: &Node, prefix: &str, out: &mut String) {
        let last = n.children.len().saturating_sub(1);
        for (i, c) in n.children.iter().enumerate() {
            let (branch, next) = if i == last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            out.push_str(&format!("{prefix}{branch}{}\n", c.resource));
            walk(c, &format!("{prefix}{next}"), out);
        }
    }
    let mut out = format!("{}\n", root.resource);
    walk(root, "", &mut out);
    out
}

fn to_json(n: &Node) -> Value {
    json!({"resource": n.resource, "resources": n.children.iter().map(to_json).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_parse_including_cluster_scoped() {
        assert_eq!(
            parse_id("default_web_apps_Deployment"),
            Some((
                "default".into(),
                "web".into(),
                "apps".into(),
                "Deployment".into()
            ))
        );
        assert_eq!(
            parse_id("_prod__Namespace"),
            Some(("".into(), "prod".into(), "".into(), "Namespace".into()))
        );
    }

    #[test]
    fn tree_draws_nested_kustomizations() {
        let leaf = |r: &str| Node {
            resource: r.into(),
            children: vec![],
        };
        let root = Node {
            resource: "Kustomization/flux-system/infra".into(),
            children: vec![
                leaf("Namespace/prod"),
                Node {
                    resource: "Kustomization/flux-system/apps".into(),
                    children: vec![leaf("Deployment/prod/web")],
                },
            ],
        };
        assert_eq!(
            render(&root),
            "Kustomization/flux-system/infra\n├── Namespace/prod\n└── Kustomization/flux-system/apps\n    └── Deployment/prod/web\n"
        );
    }
}
