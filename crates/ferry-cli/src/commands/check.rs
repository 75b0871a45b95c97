//! `ferry check`: is the cluster (API, Flux CRDs) and NATS (JetStream) ready for Ferry?

use std::process::ExitCode;

use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

use crate::Global;
use crate::kinds;
use crate::kube_util;
use crate::output;

/// Arguments of `ferry check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip the NATS check.
    #[arg(long)]
    pub skip_nats: bool,
}

/// Runs `ferry check`; exit 1 when any check fails.
pub async fn run(g: &Global, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    output::action("checking the Kubernetes API");
    match kube_api(g).await {
        Ok(lines) => {
            for (good, line) in lines {
                ok &= good;
                if good {
                    output::success(&line);
                } else {
                    output::failure(&line);
                }
            }
        }
        Err(e) => {
            ok = false;
            output::failure(&output::chain(&e));
        }
    }
    if !args.skip_nats {
        output::action("checking NATS");
        match nats(g).await {
            Ok(line) => output::success(&line),
            Err(e) => {
                ok = false;
                output::failure(&output::chain(&e));
            }
        }
    }
    if ok {
        output::success("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        output::failure("check failed");
        Ok(ExitCode::FAILURE)
    }
}

async fn kube_api(g: &Global) -> anyhow::Result<Vec<(bool, String)>> {
    let client = kube_util::client(g).await?;
    let info = client
        .apiserver_version()
        .await
        .map_err(|e| kube_util::explain(e, "reading the server version"))?;
    let mut lines = vec![(
        true,
        format!("Kubernetes API reachable, version {}", info.git_version),
    )];
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for kind in kinds::ALL {
        let name = kind.crd_name();
        let line = match crds.get_opt(&name).await {
            Ok(None) => (
                false,
                format!(
                    "CRD {name} ({}) is not installed: run `kubectl apply --server-side -k deploy/crds` or `ferry bootstrap`",
                    kind.kind
                ),
            ),
            Ok(Some(crd)) => {
                let established = crd
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                let served = crd
                    .spec
                    .versions
                    .iter()
                    .any(|v| v.name == kind.version && v.served);
                match (established, served) {
                    (true, true) => (true, format!("CRD {name} established ({})", kind.version)),
                    (false, _) => (
                        false,
                        format!("CRD {name} is installed but not Established yet"),
                    ),
                    (true, false) => (
                        false,
                        format!(
                            "CRD {name} does not serve {}: update the CRDs from deploy/crds",
                            kind.version
                        ),
                    ),
                }
            }
            Err(e) => (
                false,
                format!(
                    "{:#}",
                    kube_util::explain(e, &format!("reading CRD {name}"))
                ),
            ),
        };
        lines.push(line);
    }
    Ok(lines)
}

async fn nats(g: &Global) -> anyhow::Result<String> {
    let client = super::events::connect(&g.nats_url).await?;
    let version = client.server_info().version;
    // The raw account-info request: async-nats's typed `query_account` cannot read the answer
    // of nats-server 2.9 (Debian's, Ferry's floor).
    let no_js = |why: String| {
        anyhow::anyhow!(
            "NATS at {} (server {version}) has no JetStream: {why} (start nats-server with -js)",
            g.nats_url
        )
    };
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.request("$JS.API.INFO", Vec::new().into()),
    )
    .await
    .map_err(|_| no_js("no answer to $JS.API.INFO".into()))?
    .map_err(|e| no_js(e.to_string()))?;
    let info: serde_json::Value = serde_json::from_slice(&reply.payload)
        .map_err(|e| no_js(format!("unreadable answer to $JS.API.INFO: {e}")))?;
    if let Some(err) = info.get("error") {
        return Err(no_js(
            err.get("description")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("error")
                .to_owned(),
        ));
    }
    Ok(format!(
        "NATS reachable at {} (server {version}), JetStream enabled",
        g.nats_url
    ))
}
