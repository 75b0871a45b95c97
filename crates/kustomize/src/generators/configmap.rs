//! `configMapGenerator`.

use serde_json::{Map, Value};

use super::{FileReader, collect_pairs, finish};
use crate::error::Result;
use crate::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::resource::Resource;

/// Generates one ConfigMap; non-UTF-8 values go to `binaryData`.
pub fn generate(
    args: &GeneratorArgs,
    opts: &GeneratorOptions,
    read: &FileReader<'_>,
) -> Result<Resource> {
    let pairs = collect_pairs(args, read)?;
    let mut data = Map::new();
    let mut binary = Map::new();
    for p in pairs {
        match String::from_utf8(p.value) {
            Ok(s) => {
                data.insert(p.key, Value::String(s));
            }
            Err(e) => {
                let enc = super::encode_base64(e.as_bytes());
                binary.insert(p.key, Value::String(enc));
            }
        }
    }
    let mut body = Map::new();
    if !data.is_empty() {
        body.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        body.insert("binaryData".into(), Value::Object(binary));
    }
    finish("ConfigMap", args, opts, body)
}
