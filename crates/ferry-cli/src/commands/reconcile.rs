//! `ferry reconcile KIND NAME`: set `reconcile.fluxcd.io/requestedAt` and wait for the result.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use kube::Client;
use serde_json::{Value, json};

use super::target::Target;
use crate::Global;
use crate::kinds::{self, Kind};
use crate::kube_util::{self, condition, str_at, suspended, to_value};
use crate::output;

/// The annotation Flux's controllers watch for on-demand reconciles.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Runs `ferry reconcile ...`.
pub async fn run(g: &Global, target: Target) -> anyhow::Result<ExitCode> {
    let (kind, name, with_source) = target.resolve();
    let client = kube_util::client(g).await?;
    let ns = g.ns();
    let obj = to_value(&kube_util::get(&client, &kind, &ns, name).await?);
    if suspended(&obj) {
        bail!(
            "{} '{name}' in namespace '{ns}' is suspended: resume it with `ferry resume {} {name} -n {ns}`",
            kind.kind.to_ascii_lowercase(),
            kind.noun
        );
    }
    if with_source {
        let src_kind = str_at(&obj, "/spec/sourceRef/kind").unwrap_or("GitRepository");
        let src_name = str_at(&obj, "/spec/sourceRef/name")
            .unwrap_or_default()
            .to_owned();
        let src_ns = str_at(&obj, "/spec/sourceRef/namespace")
            .unwrap_or(&ns)
            .to_owned();
        let src = kinds::lookup(src_kind).ok_or_else(|| {
            anyhow!("the source kind '{src_kind}' of kustomization '{name}' is not supported")
        })?;
        request_and_wait(&client, &src, &src_ns, &src_name, g.timeout, json!({})).await?;
    }
    request_and_wait(&client, &kind, &ns, name, g.timeout, json!({})).await?;
    Ok(ExitCode::SUCCESS)
}

/// Patches `requestedAt` (plus `extra`, a merge patch) and waits for the object's controller to
/// handle it; prints flux's lines and the result.
pub async fn request_and_wait(
    client: &Client,
    kind: &Kind,
    ns: &str,
    name: &str,
    timeout: Duration,
    extra: Value,
) -> anyhow::Result<()> {
    let requested = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut patch = json!({"metadata": {"annotations": {REQUESTED_AT: requested}}});
    merge(&mut patch, extra);
    output::action(&format!(
        "annotating {} {name} in {ns} namespace",
        kind.kind
    ));
    kube_util::merge_patch(client, kind, ns, name, patch).await?;
    output::success(&format!("{} annotated", kind.kind));
    wait_handled(client, kind, ns, name, &requested, timeout).await
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Waits until `status.lastHandledReconcileAt == requested` and Ready is True or False.
pub async fn wait_handled(
    client: &Client,
    kind: &Kind,
    ns: &str,
    name: &str,
    requested: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let tty = output::stderr_tty();
    output::waiting(&format!("waiting for {} reconciliation", kind.kind));
    let mut last: Value;
    loop {
        last = to_value(&kube_util::get(client, kind, ns, name).await?);
        let handled = str_at(&last, "/status/lastHandledReconcileAt") == Some(requested);
        let ready = condition(&last, "Ready").and_then(|c| str_at(c, "/status"));
        if handled && matches!(ready, Some("True" | "False")) {
            break;
        }
        if started.elapsed() >= timeout {
            if tty {
                eprintln!();
            }
            let seen = str_at(&last, "/status/lastHandledReconcileAt").unwrap_or("never");
            bail!(
                "timeout waiting for {} '{name}' in namespace '{ns}' to be reconciled after {}s \
                 (requested at {requested}, last handled: {seen}): is the {} running? \
                 (`ferry check`, `ferry events --for {}/{name}`)",
                kind.kind.to_ascii_lowercase(),
                timeout.as_secs(),
                kind.controller,
                kind.kind
            );
        }
        if tty {
            eprint!(
                "\r◎ waiting for {} reconciliation ({}s)",
                kind.kind,
                started.elapsed().as_secs()
            );
            let _ = std::io::stderr().flush();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if tty {
        eprintln!();
    }
    let c = condition(&last, "Ready").cloned().unwrap_or(Value::Null);
    let message = str_at(&c, "/message").unwrap_or_default();
    if str_at(&c, "/status") == Some("False") {
        bail!(
            "{} '{name}' in namespace '{ns}' failed: {} {message}",
            kind.kind.to_ascii_lowercase(),
            str_at(&c, "/reason")
                .map(|r| format!("{r}:"))
                .unwrap_or_default()
        );
    }
    output::success(&format!("{} reconciliation completed", kind.kind));
    match kind.kind {
        "GitRepository" | "OCIRepository" => output::success(&format!(
            "fetched revision {}",
            str_at(&last, "/status/artifact/revision").unwrap_or("unknown")
        )),
        "Kustomization" => output::success(&format!(
            "applied revision {}",
            str_at(&last, "/status/lastAppliedRevision").unwrap_or("unknown")
        )),
        _ if !message.is_empty() => output::success(message),
        _ => {}
    }
    Ok(())
}
