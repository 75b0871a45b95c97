//! Converts a CRD's structural OpenAPI v3 schema into [`Schema`] nodes.

use std::collections::HashMap;

use serde_json::Value;

use super::{Field, FieldMeta, ListType, Node, NodeId, SCALAR, Schema, SchemaError, UNTYPED};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const MAX_DEPTH: usize = 64;

pub(super) fn convert(schema: &mut Schema, s: &Value, root: bool) -> Result<NodeId, SchemaError> {
    convert_at(schema, s, root, 0)
}

fn convert_at(
    schema: &mut Schema,
    s: &Value,
    resource: bool,
    depth: usize,
) -> Result<NodeId, SchemaError> {
    if depth > MAX_DEPTH {
        return Err(SchemaError::Invalid("schema nested too deeply".into()));
    }
    if !s.is_object() {
        return Err(SchemaError::Invalid(format!(
            "schema must be an object, got {s}"
        )));
    }
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return Ok(SCALAR);
    }
    let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let embedded = s.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    let ty = s.get("type").and_then(Value::as_str);
    match ty {
        Some("array") => {
            let items = match s.get("items") {
                Some(items) => convert_at(schema, items, false, depth + 1)?,
                None => UNTYPED,
            };
            let list_type = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("map") => ListType::Map,
                Some("set") => ListType::Set,
                _ => ListType::Atomic,
            };
            let keys: Vec<String> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let key_defaults = keys
                .iter()
                .map(|k| {
                    s.get("items")
                        .and_then(|i| i.get("properties"))
                        .and_then(|p| p.get(k))
                        .and_then(|p| p.get("default"))
                        .cloned()
                        .unwrap_or(Value::Null)
                })
                .collect();
            Ok(schema.push(Node::List {
                items,
                list_type,
                keys,
                key_defaults,
            }))
        }
        Some("object") | None
            if ty.is_some()
                || s.get("properties").is_some()
                || s.get("additionalProperties").is_some_and(Value::is_object) =>
        {
            let mut fields = HashMap::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    let node = convert_at(schema, prop, false, depth + 1)?;
                    let meta = FieldMeta {
                        atomic: prop.get("x-kubernetes-map-type").and_then(Value::as_str)
                            == Some("atomic"),
                        ..FieldMeta::default()
                    };
                    fields.insert(name.clone(), Field { node, meta });
                }
            }
            if resource || embedded {
                for name in ["apiVersion", "kind"] {
                    fields
                        .entry(name.to_string())
                        .or_insert_with(|| Field::plain(SCALAR));
                }
                if let Some(&meta) = schema.defs.get(OBJECT_META) {
                    fields.insert("metadata".to_string(), Field::plain(meta));
                }
            }
            let rest = match s.get("additionalProperties") {
                Some(a) if a.is_object() => {
                    Some(Field::plain(convert_at(schema, a, false, depth + 1)?))
                }
                _ if preserve => Some(Field::plain(UNTYPED)),
                _ => None,
            };
            Ok(schema.push(Node::Map {
                name: None,
                fields,
                rest,
                atomic: s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
            }))
        }
        None => Ok(UNTYPED),
        Some(_) => Ok(SCALAR),
    }
}
