//! `secretGenerator`.

use serde_json::{Map, Value};

use super::{FileReader, collect_pairs, finish};
use crate::error::Result;
use crate::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::resource::Resource;

/// Generates one Secret (values base64-encoded, `type` defaulting to `Opaque`).
pub fn generate(
    args: &GeneratorArgs,
    opts: &GeneratorOptions,
    read: &FileReader<'_>,
) -> Result<Resource> {
    let pairs = collect_pairs(args, read)?;
    let mut data = Map::new();
    for p in pairs {
        let enc = super::encode_base64(&p.value);
        data.insert(p.key, Value::String(enc));
    }
    let mut body = Map::new();
    let ty = args
        .type_
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Opaque".into());
    body.insert("type".into(), Value::String(ty));
    if !data.is_empty() {
        body.insert("data".into(), Value::Object(data));
    }
    finish("Secret", args, opts, body)
}
