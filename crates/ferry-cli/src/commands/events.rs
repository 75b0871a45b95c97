//! `ferry events`: follow `ferry.events.>` on NATS, one line per event.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use futures::StreamExt as _;
use prost::Message as _;

use ferry_proto::events::v1 as ev;

use crate::Global;

/// Arguments of `ferry events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events about this object, `KIND/NAME` (e.g. `Kustomization/apps`); the namespace is
    /// `-n` unless `-A` is given.
    #[arg(long = "for", value_name = "KIND/NAME")]
    pub for_object: Option<String>,
    /// Events of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Stop after this many events (default: follow until interrupted).
    #[arg(long)]
    pub count: Option<usize>,
}

/// One decoded event: who it is about and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The object's kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `Normal` or `Warning`.
    pub level: &'static str,
    /// The subject's last tokens, e.g. `artifact.ready`.
    pub reason: String,
    /// The message.
    pub message: String,
}

fn obj(o: Option<ev::ObjectRef>) -> (String, String, String) {
    let o = o.unwrap_or_default();
    (o.kind, o.namespace, o.name)
}

/// Decodes an event body by its subject.
pub fn decode(subject: &str, body: &[u8]) -> anyhow::Result<Line> {
    let reason = subject.trim_start_matches("ferry.events.").to_owned();
    let (o, level, message) = match reason.as_str() {
        "artifact.ready" => {
            let m = ev::ArtifactReady::decode(body)?;
            (
                obj(m.source),
                "Normal",
                format!(
                    "stored artifact for revision '{}' ({})",
                    m.revision, m.digest
                ),
            )
        }
        "source.failed" => {
            let m = ev::SourceFailed::decode(body)?;
            (
                obj(m.source),
                "Warning",
                format!("{}: {}", m.reason, m.message),
            )
        }
        "render.ready" => {
            let m = ev::RenderReady::decode(body)?;
            (
                obj(m.kustomization),
                "Normal",
                format!(
                    "rendered revision '{}': {} objects{}",
                    m.source_revision,
                    m.object_count,
                    if m.cache_hit { " (cache hit)" } else { "" }
                ),
            )
        }
        "render.failed" => {
            let m = ev::RenderFailed::decode(body)?;
            (
                obj(m.kustomization),
                "Warning",
                format!(
                    "render of '{}' failed: {}: {}",
                    m.source_revision, m.reason, m.message
                ),
            )
        }
        "apply.result" => {
            let m = ev::ApplyResult::decode(body)?;
            let level = if m.success { "Normal" } else { "Warning" };
            let msg = if m.success {
                format!(
                    "applied revision '{}': {} created, {} configured, {} unchanged, {} pruned in {} ms",
                    m.revision, m.created, m.configured, m.unchanged, m.pruned, m.duration_ms
                )
            } else {
                format!(
                    "apply of '{}' failed: {}: {}",
                    m.revision, m.reason, m.message
                )
            };
            (obj(m.kustomization), level, msg)
        }
        _ => return Err(anyhow!("unknown event subject {subject}")),
    };
    Ok(Line {
        kind: o.0,
        namespace: o.1,
        name: o.2,
        level,
        reason,
        message,
    })
}

/// Connects to NATS with a short timeout and a clear error.
pub async fn connect(url: &str) -> anyhow::Result<async_nats::Client> {
    let opts = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .name("ferry-cli");
    tokio::time::timeout(Duration::from_secs(5), opts.connect(url))
        .await
        .map_err(|_| {
            anyhow!("unable to connect to NATS at {url}: timed out (set --nats-url or NATS_URL)")
        })?
        .with_context(|| format!("unable to connect to NATS at {url} (set --nats-url or NATS_URL)"))
}

/// Runs `ferry events`.
pub async fn run(g: &Global, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let filter = match &args.for_object {
        Some(f) => {
            let (k, n) = f.split_once('/').ok_or_else(|| {
                anyhow!("--for '{f}': expected KIND/NAME, e.g. Kustomization/apps")
            })?;
            let kind = crate::kinds::lookup(k).ok_or_else(|| {
                anyhow!(
                    "--for '{f}': unknown kind '{k}' (one of {})",
                    crate::kinds::KNOWN
                )
            })?;
            Some((kind.kind, n.to_owned()))
        }
        None => None,
    };
    let ns = g.ns();
    let client = connect(&g.nats_url).await?;
    let mut sub = client
        .subscribe("ferry.events.>")
        .await
        .with_context(|| format!("subscribing to ferry.events.> on {}", g.nats_url))?;
    client.flush().await.context("flushing the subscription")?;
    eprintln!(
        "◎ following ferry.events.> on {} (Ctrl-C to stop)",
        g.nats_url
    );
    let mut seen = 0usize;
    while let Some(msg) = sub.next().await {
        let line = match decode(&msg.subject, &msg.payload) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("✗ {}: {e:#}", msg.subject);
                continue;
            }
        };
        if let Some((k, n)) = &filter
            && (line.kind != *k
                || line.name != *n
                || (!args.all_namespaces && line.namespace != ns))
        {
            continue;
        }
        println!(
            "{}  {:<7}  {}/{}/{}  {}  {}",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            line.level,
            line.kind,
            line.namespace,
            line.name,
            line.reason,
            line.message
        );
        seen += 1;
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_results_decode_into_one_line() {
        let m = ev::ApplyResult {
            kustomization: Some(ev::ObjectRef {
                kind: "Kustomization".into(),
                namespace: "flux-system".into(),
                name: "apps".into(),
                ..Default::default()
            }),
            revision: "main@sha1:abc".into(),
            success: true,
            created: 2,
            ..Default::default()
        };
        let l = decode("ferry.events.apply.result", &m.encode_to_vec()).unwrap();
        assert_eq!(l.name, "apps");
        assert_eq!(l.reason, "apply.result");
        assert!(
            l.message
                .starts_with("applied revision 'main@sha1:abc': 2 created")
        );
        assert!(decode("ferry.events.nope", &[]).is_err());
    }
}
