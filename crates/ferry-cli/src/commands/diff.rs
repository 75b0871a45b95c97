//! `ferry diff kustomization NAME`: the applier's server-side dry run as a coloured unified diff.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};

use ferry_proto::apply::v1::{DiffRequest, DiffResponse, apply_service_client::ApplyServiceClient};

use crate::Global;
use crate::output;

/// What to diff.
#[derive(Debug, Subcommand)]
pub enum DiffCmd {
    /// A Kustomization's current render against the cluster.
    #[command(visible_alias = "ks")]
    Kustomization(DiffArgs),
}

/// Arguments of `ferry diff kustomization`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The Kustomization's name.
    pub name: String,
}

/// Runs `ferry diff ...`: exit 0 when nothing would change, 1 when something would.
pub async fn run(g: &Global, cmd: DiffCmd) -> anyhow::Result<ExitCode> {
    let DiffCmd::Kustomization(args) = cmd;
    let ns = g.ns();
    let endpoint = tonic::transport::Endpoint::from_shared(g.applier_addr.clone())
        .map_err(|e| anyhow!("invalid --applier-addr '{}': {e}", g.applier_addr))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(g.timeout);
    let channel = endpoint.connect().await.map_err(|e| {
        anyhow!(
            "unable to reach the applier's gRPC API at {}: {e} (set --applier-addr or FERRY_APPLIER_ADDR)",
            g.applier_addr
        )
    })?;
    let mut client = ApplyServiceClient::new(channel);
    output::action(&format!(
        "building and diffing kustomization {} in {ns} namespace",
        args.name
    ));
    let resp = match client
        .diff(DiffRequest {
            namespace: ns.clone(),
            name: args.name.clone(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => bail!(
            "kustomization '{}' not found in namespace '{ns}': {} (list them with `ferry get kustomizations -n {ns}`)",
            args.name,
            s.message()
        ),
        Err(s) => bail!(
            "diff of kustomization '{}' failed: {:?}: {}",
            args.name,
            s.code(),
            s.message()
        ),
    };
    let (text, changed) = render(&resp, output::stdout_tty());
    print!("{text}");
    if changed {
        Ok(ExitCode::from(1))
    } else {
        output::success(&format!("no changes (revision {})", resp.revision));
        Ok(ExitCode::SUCCESS)
    }
}

/// Renders the response; `true` when anything would change.
pub fn render(resp: &DiffResponse, color: bool) -> (String, bool) {
    let mut out = String::new();
    let mut changed = false;
    for o in &resp.objects {
        let id = if o.namespace.is_empty() {
            format!("{}/{}", o.kind, o.name)
        } else {
            format!("{}/{}/{}", o.kind, o.namespace, o.name)
        };
        let verb = match o.action.as_str() {
            "unchanged" => continue,
            "configured" => "drifted",
            "pruned" => "deleted",
            other => other,
        };
        changed = true;
        out.push_str(&format!("► {id} {verb}\n"));
        for line in o.unified_diff.lines() {
            let colored = match (color, line.chars().next()) {
                (true, _) if line.starts_with("+++") || line.starts_with("---") => {
                    format!("\x1b[1m{line}\x1b[0m")
                }
                (true, Some('+')) => format!("\x1b[32m{line}\x1b[0m"),
                (true, Some('-')) => format!("\x1b[31m{line}\x1b[0m"),
                (true, Some('@')) => format!("\x1b[36m{line}\x1b[0m"),
                _ => line.to_owned(),
            };
            out.push_str(&colored);
            out.push('\n');
        }
        if o.unified_diff.is_empty() {
            for c in &o.changes {
                out.push_str(&format!("  {}: {} -> {}\n", c.path, c.before, c.after));
            }
        }
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_proto::apply::v1::ObjectDiff;

    #[test]
    fn drift_is_reported_and_unchanged_objects_are_not() {
        let resp = DiffResponse {
            revision: "main@sha1:1".into(),
            objects: vec![
                ObjectDiff {
                    kind: "Deployment".into(),
                    namespace: "prod".into(),
                    name: "web".into(),
                    action: "configured".into(),
                    unified_diff: "--- a\n+++ b\n@@ -1 +1 @@\n-replicas: 1\n+replicas: 3\n".into(),
                    ..Default::default()
                },
                ObjectDiff {
                    kind: "Service".into(),
                    action: "unchanged".into(),
                    ..Default::default()
                },
            ],
        };
        let (text, changed) = render(&resp, true);
        assert!(changed);
        assert!(text.starts_with("► Deployment/prod/web drifted\n"));
        assert!(text.contains("\x1b[32m+replicas: 3\x1b[0m"));
        assert!(!text.contains("Service"));
        let (_, changed) = render(&DiffResponse::default(), false);
        assert!(!changed);
    }
}
