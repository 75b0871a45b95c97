//! `ferry trace KIND NAME`: the journey of the object's last revision, from the NATS KV bucket
//! `ferry-journeys` (key `<kind>.<namespace>.<name>`).

use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use serde_json::Value;

use crate::Global;
use crate::kinds;
use crate::kube_util::{self, str_at, to_value};
use crate::output::{self, Format};

/// The KV bucket the services record journeys in.
pub const BUCKET: &str = "ferry-journeys";

/// Arguments of `ferry trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The object's kind (kustomization, gitrepository, ocirepository, imagepolicy, ...).
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Output format (table prints the journey as a tree).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// The keys tried, in order: `Kind.ns.name`, then `kind.ns.name` (lower case).
pub fn keys(kind: &str, ns: &str, name: &str) -> Vec<String> {
    let a = format!("{kind}.{ns}.{name}");
    let b = format!("{}.{ns}.{name}", kind.to_ascii_lowercase());
    if a == b { vec![a] } else { vec![a, b] }
}

/// Runs `ferry trace ...`.
pub async fn run(g: &Global, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let kind = kinds::lookup(&args.kind)
        .ok_or_else(|| anyhow!("unknown kind '{}': use one of {}", args.kind, kinds::KNOWN))?;
    let ns = g.ns();
    let client = kube_util::client(g).await?;
    let obj = to_value(&kube_util::get(&client, &kind, &ns, &args.name).await?);

    let nats = super::events::connect(&g.nats_url).await?;
    let js = async_nats::jetstream::new(nats);
    let mut journey = None;
    match js.get_key_value(BUCKET).await {
        Ok(store) => {
            for key in keys(kind.kind, &ns, &args.name) {
                if let Some(v) = store
                    .get(&key)
                    .await
                    .with_context(|| format!("reading key {key} of KV bucket {BUCKET}"))?
                {
                    journey = Some((key, v));
                    break;
                }
            }
        }
        Err(e) => output::failure(&format!(
            "KV bucket {BUCKET} is not available on {}: {e}",
            g.nats_url
        )),
    }
    let Some((key, bytes)) = journey else {
        let trace = trace_id(&obj);
        let hint = match trace {
            Some(t) => {
                format!("its last trace id is {t}: look it up in your tracing backend (OTLP)")
            }
            None => "the object's status records no trace id either".to_owned(),
        };
        bail!(
            "no journey recorded for {} '{}' in namespace '{ns}' (key {} of KV bucket {BUCKET}); {hint}",
            kind.kind.to_ascii_lowercase(),
            args.name,
            keys(kind.kind, &ns, &args.name).join(" or ")
        );
    };
    let value: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    match args.output {
        Format::Table => {
            println!("{}/{}/{} ({BUCKET}: {key})", kind.kind, ns, args.name);
            print!("{}", render(&value));
        }
        f => output::print_value(f, &value)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The trace id the object carries: `ferry.dev/traceparent` or a status field.
pub fn trace_id(obj: &Value) -> Option<String> {
    for p in [
        "/status/traceId",
        "/status/lastTraceId",
        "/status/lastTraceID",
    ] {
        if let Some(t) = str_at(obj, p) {
            return Some(t.to_owned());
        }
    }
    let tp = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("ferry.dev/traceparent"))
        .and_then(Value::as_str)?;
    tp.split('-').nth(1).map(str::to_owned)
}

fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| v.get(*n))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Draws a journey: a header (revision, outcome, trace id), then its steps as a tree.
pub fn render(v: &Value) -> String {
    let Value::Object(_) = v else {
        return format!("{}\n", text(Some(v)).unwrap_or_default());
    };
    let mut out = String::new();
    for (label, names) in [
        ("revision", &["revision"][..]),
        ("outcome", &["outcome", "result"][..]),
        ("trace id", &["traceId", "trace_id"][..]),
    ] {
        if let Some(t) = text(field(v, names)) {
            out.push_str(&format!("{label}: {t}\n"));
        }
    }
    fn steps(v: &Value, prefix: &str, out: &mut String) {
        let list = field(v, &["steps", "children"])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let last = list.len().saturating_sub(1);
        for (i, s) in list.iter().enumerate() {
            let (branch, next) = if i == last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            let name = text(field(s, &["name", "step"])).unwrap_or_else(|| "step".into());
            let mut line = name;
            if let Some(svc) = text(field(s, &["service"])) {
                line.push_str(&format!(" [{svc}]"));
            }
            if let Some(d) = field(s, &["durationMs", "duration_ms"]).and_then(Value::as_f64) {
                line.push_str(&format!(" {d:.0} ms"));
            }
            if let Some(o) = text(field(s, &["outcome", "result"])) {
                line.push_str(&format!(" {o}"));
            }
            if let Some(m) = text(field(s, &["message"])) {
                line.push_str(&format!(": {m}"));
            }
            out.push_str(&format!("{prefix}{branch}{line}\n"));
            steps(s, &format!("{prefix}{next}"), out);
        }
    }
    steps(v, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trace_id_comes_from_the_traceparent_annotation() {
        let o = json!({"metadata": {"annotations": {"ferry.dev/traceparent":
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}});
        assert_eq!(
            trace_id(&o).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(trace_id(&json!({})), None);
    }

    #[test]
    fn journeys_render_as_a_tree_of_steps() {
        let j = json!({"revision": "main@sha1:1", "traceId": "abc", "steps": [
            {"name": "fetch", "service": "source-controller", "durationMs": 120, "outcome": "ok",
             "message": "3 files changed"},
            {"name": "render", "durationMs": 30, "steps": [{"name": "apply", "durationMs": 80}]}
        ]});
        let t = render(&j);
        assert!(t.contains("revision: main@sha1:1\n"));
        assert!(t.contains("├── fetch [source-controller] 120 ms ok: 3 files changed\n"));
        assert!(t.contains("└── render 30 ms\n    └── apply 80 ms\n"));
        assert_eq!(
            keys("Kustomization", "ns", "a"),
            ["Kustomization.ns.a", "kustomization.ns.a"]
        );
    }
}
