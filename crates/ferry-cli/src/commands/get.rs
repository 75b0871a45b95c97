//! `ferry get`: the status of Flux objects, like `flux get`.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use kube::api::ListParams;
use serde_json::{Value, json};
use std::process::ExitCode;

use crate::Global;
use crate::kinds::{self, Kind};
use crate::kube_util::{self, age, ready, str_at, suspended, to_value};
use crate::output::{self, Format};

/// What to get.
#[derive(Debug, Subcommand)]
pub enum GetCmd {
    /// Get source statuses.
    #[command(subcommand)]
    Sources(SourcesCmd),
    /// Get Kustomization statuses.
    #[command(visible_aliases = ["kustomization", "ks"])]
    Kustomizations(GetArgs),
    /// Get image automation object statuses.
    #[command(subcommand, visible_alias = "image")]
    Images(ImagesCmd),
    /// Get Receiver statuses.
    #[command(visible_alias = "receiver")]
    Receivers(GetArgs),
}

/// Source kinds.
#[derive(Debug, Subcommand)]
pub enum SourcesCmd {
    /// Get GitRepository statuses.
    Git(GetArgs),
    /// Get OCIRepository statuses.
    Oci(GetArgs),
}

/// Image kinds.
#[derive(Debug, Subcommand)]
pub enum ImagesCmd {
    /// Get ImageRepository statuses.
    Repository(GetArgs),
    /// Get ImagePolicy statuses.
    Policy(GetArgs),
    /// Get ImageUpdateAutomation statuses.
    Update(GetArgs),
}

/// Flags of every `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Only this object.
    pub name: Option<String>,
    /// List the objects of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Only objects whose Ready status is this (True, False or Unknown).
    #[arg(long)]
    pub status_selector: Option<String>,
}

/// Runs `ferry get ...`.
pub async fn run(g: &Global, cmd: GetCmd) -> anyhow::Result<ExitCode> {
    let (kind, args) = match cmd {
        GetCmd::Sources(SourcesCmd::Git(a)) => (kinds::GIT_REPOSITORY, a),
        GetCmd::Sources(SourcesCmd::Oci(a)) => (kinds::OCI_REPOSITORY, a),
        GetCmd::Kustomizations(a) => (kinds::KUSTOMIZATION, a),
        GetCmd::Images(ImagesCmd::Repository(a)) => (kinds::IMAGE_REPOSITORY, a),
        GetCmd::Images(ImagesCmd::Policy(a)) => (kinds::IMAGE_POLICY, a),
        GetCmd::Images(ImagesCmd::Update(a)) => (kinds::IMAGE_UPDATE, a),
        GetCmd::Receivers(a) => (kinds::RECEIVER, a),
    };
    let client = kube_util::client(g).await?;
    let ns = g.ns();
    let mut items: Vec<Value> = match &args.name {
        Some(name) => vec![to_value(&kube_util::get(&client, &kind, &ns, name).await?)],
        None => {
            let api = if args.all_namespaces {
                kube_util::api_all(&client, &kind)
            } else {
                kube_util::api(&client, &kind, &ns)
            };
            let list = api.list(&ListParams::default()).await.map_err(|e| {
                kube_util::explain(
                    e,
                    &format!(
                        "listing {} objects (is the CRD {} installed? run `ferry check`)",
                        kind.kind,
                        kind.crd_name()
                    ),
                )
            })?;
            list.items.iter().map(to_value).collect()
        }
    };
    if let Some(sel) = &args.status_selector {
        items.retain(|o| {
            ready(o)
                .0
                .eq_ignore_ascii_case(sel.trim_start_matches("ready="))
        });
    }
    for o in &mut items {
        // As kubectl: managed fields are noise in -o yaml|json.
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    items.sort_by(|a, b| {
        let key = |o: &Value| {
            (
                str_at(o, "/metadata/namespace")
                    .unwrap_or_default()
                    .to_owned(),
                str_at(o, "/metadata/name").unwrap_or_default().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    match args.output {
        Format::Table => {
            if items.is_empty() {
                let scope = if args.all_namespaces {
                    "any namespace".to_owned()
                } else {
                    format!("namespace '{ns}'")
                };
                eprintln!("✗ no {} objects found in {scope}", kind.kind);
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", render_table(&kind, &items, args.all_namespaces));
        }
        format => {
            let value = if args.name.is_some() {
                items.pop().context("no object")?
            } else {
                json!({"apiVersion": "v1", "kind": "List", "items": items})
            };
            output::print_value(format, &value)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The second column of each kind, as `flux get` names it, and its value.
fn revision_column(kind: &Kind) -> Option<&'static str> {
    match kind.kind {
        "GitRepository" | "OCIRepository" | "Kustomization" => Some("REVISION"),
        "ImageRepository" => Some("LAST SCAN"),
        "ImagePolicy" => Some("LATEST IMAGE"),
        "ImageUpdateAutomation" => Some("LAST RUN"),
        _ => None,
    }
}

fn revision(kind: &Kind, o: &Value) -> String {
    let s = match kind.kind {
        "GitRepository" | "OCIRepository" => str_at(o, "/status/artifact/revision"),
        "Kustomization" => str_at(o, "/status/lastAppliedRevision"),
        "ImageRepository" => str_at(o, "/status/lastScanResult/scanTime"),
        "ImagePolicy" => {
            if let Some(img) = o.pointer("/status/latestRef") {
                let name = str_at(img, "/name").unwrap_or_default();
                let tag = str_at(img, "/tag").unwrap_or_default();
                return format!("{name}:{tag}");
            }
            str_at(o, "/status/latestImage")
        }
        "ImageUpdateAutomation" => str_at(o, "/status/lastAutomationRunTime"),
        _ => None,
    };
    s.unwrap_or_default().to_owned()
}

/// Builds the `flux get` table: [NAMESPACE] NAME [REVISION] SUSPENDED READY MESSAGE AGE.
pub fn render_table(kind: &Kind, items: &[Value], all_namespaces: bool) -> String {
    let col = revision_column(kind);
    let mut header = Vec::new();
    if all_namespaces {
        header.push("NAMESPACE");
    }
    header.push("NAME");
    if let Some(c) = col {
        header.push(c);
    }
    header.extend(["SUSPENDED", "READY", "MESSAGE", "AGE"]);
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|o| {
            let mut row = Vec::new();
            if all_namespaces {
                row.push(
                    str_at(o, "/metadata/namespace")
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            row.push(str_at(o, "/metadata/name").unwrap_or_default().to_owned());
            if col.is_some() {
                row.push(revision(kind, o));
            }
            let (status, message) = ready(o);
            row.push(if suspended(o) { "True" } else { "False" }.to_owned());
            row.push(status);
            row.push(message.replace('\n', " "));
            row.push(age(str_at(o, "/metadata/creationTimestamp")));
            row
        })
        .collect();
    output::table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kustomization_table_has_flux_columns() {
        let o = json!({
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"suspend": false},
            "status": {"lastAppliedRevision": "main@sha1:abc",
                       "conditions": [{"type": "Ready", "status": "True", "message": "Applied revision: main@sha1:abc"}]}
        });
        let t = render_table(&kinds::KUSTOMIZATION, &[o], false);
        let mut lines = t.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"]
        );
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("apps   main@sha1:abc   False       True    Applied revision"),
            "{row}"
        );
    }
}
