//! Kubernetes access shared by the commands: the client, typed errors, status helpers.

use anyhow::{Context as _, anyhow};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

use crate::Global;
use crate::kinds::Kind;

/// Loads the kubeconfig (flag, then `$KUBECONFIG`, `~/.kube/config`, in-cluster) and makes a client.
pub async fn client(g: &Global) -> anyhow::Result<Client> {
    let opts = KubeConfigOptions {
        context: g.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &g.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("unable to read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &opts)
                .await
                .with_context(|| format!("invalid kubeconfig {}", path.display()))?
        }
        None if g.context.is_some() => Config::from_kubeconfig(&opts)
            .await
            .context("unable to load the kubeconfig")?,
        None => Config::infer()
            .await
            .context("no Kubernetes configuration found (set --kubeconfig or KUBECONFIG)")?,
    };
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    config.read_timeout = Some(std::time::Duration::from_secs(30));
    Client::try_from(config).context("unable to create a Kubernetes client")
}

/// A namespaced dynamic API for `kind`.
pub fn api(client: &Client, kind: &Kind, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &kind.api_resource())
}

/// A dynamic API over every namespace.
pub fn api_all(client: &Client, kind: &Kind) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &kind.api_resource())
}

/// Turns a kube error into the CLI's message; `what` names the object or list.
pub fn explain(err: kube::Error, what: &str) -> anyhow::Error {
    match err {
        kube::Error::Api(status) if status.is_not_found() => anyhow!("{what}: {}", status.message),
        kube::Error::Api(status) if status.is_forbidden() => {
            anyhow!("{what}: forbidden: {}", status.message)
        }
        kube::Error::Api(status) => anyhow!("{what}: {} ({})", status.message, status.code),
        other => anyhow!(
            "unable to reach the Kubernetes API while {what}: {other} (check --kubeconfig and that the cluster is up)"
        ),
    }
}

/// Gets one object; a missing one becomes `kind 'name' not found in namespace 'ns'`.
pub async fn get(
    client: &Client,
    kind: &Kind,
    ns: &str,
    name: &str,
) -> anyhow::Result<DynamicObject> {
    match api(client, kind, ns).get(name).await {
        Ok(obj) => Ok(obj),
        Err(kube::Error::Api(status)) if status.is_not_found() => Err(not_found(kind, ns, name)),
        Err(e) => Err(explain(e, &format!("getting {} '{name}'", kind.noun))),
    }
}

/// The not-found message, with what to do about it.
pub fn not_found(kind: &Kind, ns: &str, name: &str) -> anyhow::Error {
    let list = match kind.noun {
        "source git" => "ferry get sources git".to_owned(),
        "source oci" => "ferry get sources oci".to_owned(),
        "image repository" | "image policy" | "image update" => format!("ferry get {}", kind.noun),
        other => format!("ferry get {other}s"),
    };
    anyhow!(
        "{} '{name}' not found in namespace '{ns}' (list them with `{list} -n {ns}`, or `-A` for every namespace)",
        kind.kind.to_ascii_lowercase()
    )
}

/// Merge-patches an object.
pub async fn merge_patch(
    client: &Client,
    kind: &Kind,
    ns: &str,
    name: &str,
    patch: Value,
) -> anyhow::Result<DynamicObject> {
    match api(client, kind, ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(obj) => Ok(obj),
        Err(kube::Error::Api(status)) if status.is_not_found() => Err(not_found(kind, ns, name)),
        Err(e) => Err(explain(e, &format!("patching {} '{name}'", kind.noun))),
    }
}

/// The condition `type` of an object's status, if any.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// `(status, message)` of the Ready condition; `Unknown` when absent.
pub fn ready(obj: &Value) -> (String, String) {
    match condition(obj, "Ready") {
        Some(c) => (
            str_at(c, "/status").unwrap_or("Unknown").to_owned(),
            str_at(c, "/message").unwrap_or_default().to_owned(),
        ),
        None => ("Unknown".to_owned(), "waiting to be reconciled".to_owned()),
    }
}

/// A string at a JSON pointer.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Whether `spec.suspend` is true.
pub fn suspended(obj: &Value) -> bool {
    obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
}

/// kubectl-style age of an RFC 3339 timestamp (`45s`, `3m`, `5h`, `2d`).
pub fn age(timestamp: Option<&str>) -> String {
    let Some(ts) = timestamp.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "<unknown>".to_owned();
    };
    let secs = (chrono::Utc::now() - ts.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The object as JSON.
pub fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_reads_the_ready_condition() {
        let obj = json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "True"},
            {"type": "Ready", "status": "False", "message": "boom"}
        ]}});
        assert_eq!(ready(&obj), ("False".into(), "boom".into()));
        assert_eq!(ready(&json!({})).0, "Unknown");
    }

    #[test]
    fn age_is_short_like_kubectl() {
        let t = (chrono::Utc::now() - chrono::Duration::seconds(3 * 3600)).to_rfc3339();
        assert_eq!(age(Some(&t)), "3h");
        assert_eq!(age(None), "<unknown>");
    }
}
