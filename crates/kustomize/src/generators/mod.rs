//! ConfigMap and Secret generators.

pub mod configmap;
pub mod hash;
pub mod secret;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::kustomization::{GeneratorArgs, GeneratorOptions, StringMap};
use crate::resource::{Behavior, Resource};

/// Reads a file for a generator: `(path as written) -> bytes`.
pub type FileReader<'a> = dyn Fn(&str) -> Result<Vec<u8>> + 'a;

/// A key and its value, text or binary.
#[derive(Debug, Clone)]
pub struct KvPair {
    /// The key.
    pub key: String,
    /// The value's bytes.
    pub value: Vec<u8>,
}

/// Base64 as kustomize writes generated data: lines of 70 characters, each ending in a
/// newline, once the encoding is 70 characters or longer.
pub fn encode_base64(data: &[u8]) -> String {
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

fn strip_quotes(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

fn parse_env(name: &str, text: &str, out: &mut Vec<KvPair>) -> Result<()> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.split_once('=') {
            Some((k, v)) => {
                if k.is_empty() {
                    return Err(Error::Build(format!(
                        "invalid env file '{name}' line {}: empty key",
                        i + 1
                    )));
                }
                out.push(KvPair {
                    key: k.to_string(),
                    value: v.as_bytes().to_vec(),
                });
            }
            None => {
                out.push(KvPair {
                    key: trimmed.trim_end().to_string(),
                    value: Vec::new(),
                });
            }
        }
    }
    Ok(())
}

/// Collects the key/value pairs of a generator (literals, env files, files) in kustomize's order.
pub fn collect_pairs(args: &GeneratorArgs, read: &FileReader<'_>) -> Result<Vec<KvPair>> {
    let mut out = Vec::new();
    for lit in &args.literals {
        let Some((k, v)) = lit.split_once('=') else {
            return Err(Error::Build(format!(
                "invalid literal source {lit}, expected key=value"
            )));
        };
        out.push(KvPair {
            key: k.to_string(),
            value: strip_quotes(v).as_bytes().to_vec(),
        });
    }
    let mut envs = args.envs.clone();
    if !args.env.is_empty() {
        envs.push(args.env.clone());
    }
    for env in &envs {
        let data = read(env)?;
        let text = String::from_utf8_lossy(&data);
        parse_env(env, &text, &mut out)?;
    }
    for f in &args.files {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() {
                    return Err(Error::Build(format!("key for file source '{f}' is empty")));
                }
                (k.to_string(), p.to_string())
            }
            None => (base_name(f).to_string(), f.clone()),
        };
        let value = read(&path)?;
        out.push(KvPair { key, value });
    }
    // kustomize v5.5 does not validate key syntax, only repeats.
    let mut seen = std::collections::BTreeSet::new();
    for p in &out {
        if !seen.insert(p.key.clone()) {
            return Err(Error::Build(format!(
                "configmap {} illegally repeats the key `{}`",
                args.name, p.key
            )));
        }
    }
    Ok(out)
}

/// Merges kustomization-wide `generatorOptions` under a generator's own `options`.
pub fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = global.cloned().unwrap_or_default();
    if let Some(l) = local {
        for (k, v) in &l.labels {
            out.labels.insert(k.clone(), v.clone());
        }
        for (k, v) in &l.annotations {
            out.annotations.insert(k.clone(), v.clone());
        }
        if l.disable_name_suffix_hash.is_some() {
            out.disable_name_suffix_hash = l.disable_name_suffix_hash;
        }
        if l.immutable.is_some() {
            out.immutable = l.immutable;
        }
    }
    out
}

fn string_map_value(m: &StringMap) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.0.clone())))
            .collect(),
    )
}

/// Builds the generated object's shell (metadata, options) and wraps it as a resource.
pub fn finish(
    kind: &str,
    args: &GeneratorArgs,
    opts: &GeneratorOptions,
    mut body: Map<String, Value>,
) -> Result<Resource> {
    let mut md = Map::new();
    md.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        md.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    if !opts.labels.is_empty() {
        md.insert("labels".into(), string_map_value(&opts.labels));
    }
    if !opts.annotations.is_empty() {
        md.insert("annotations".into(), string_map_value(&opts.annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.into()));
    obj.insert("metadata".into(), Value::Object(md));
    obj.append(&mut body);
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj));
    r.needs_hash = opts.disable_name_suffix_hash != Some(true);
    r.behavior = match args.behavior.as_str() {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => {
            return Err(Error::Build(format!(
                "invalid generator behavior '{other}' for '{}'",
                args.name
            )));
        }
    };
    if args.name.is_empty() {
        return Err(Error::Build(format!("a {kind} generator needs a name")));
    }
    Ok(r)
}
