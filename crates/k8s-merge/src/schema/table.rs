//! Loads the generated schema table (see `generator`) into a [`Schema`].

use std::collections::HashMap;

use serde_json::Value;

use super::{
    Field, FieldMeta, ListType, Node, PatchStrategy, SCALAR, Schema, SchemaError, UNTYPED,
};

fn invalid(msg: impl Into<String>) -> SchemaError {
    SchemaError::Invalid(msg.into())
}

pub(super) fn load(text: &str) -> Result<Schema, SchemaError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let types = doc
        .get("types")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("table has no types object"))?;
    let mut schema = Schema::new();
    for name in types.keys() {
        let id = schema.push(Node::Untyped);
        schema.defs.insert(name.clone(), id);
    }
    for (name, def) in types {
        let Some(&id) = schema.defs.get(name) else {
            continue;
        };
        let node = map_node(&mut schema, Some(name.clone()), def)?;
        schema.nodes[id] = node;
    }
    if let Some(kinds) = doc.get("kinds").and_then(Value::as_object) {
        for (key, def) in kinds {
            let (api_version, kind) = key
                .rsplit_once('/')
                .ok_or_else(|| invalid(format!("bad kind key {key:?}")))?;
            let def = def
                .as_str()
                .ok_or_else(|| invalid("kind target must be a string"))?;
            let id = *schema
                .defs
                .get(def)
                .ok_or_else(|| invalid(format!("kind {key} refers to unknown {def}")))?;
            schema
                .kinds
                .insert((api_version.to_string(), kind.to_string()), id);
        }
    }
    Ok(schema)
}

fn map_node(schema: &mut Schema, name: Option<String>, def: &Value) -> Result<Node, SchemaError> {
    let mut fields = HashMap::new();
    if let Some(props) = def.get("fields").and_then(Value::as_object) {
        for (fname, expr) in props {
            fields.insert(fname.clone(), field(schema, expr)?);
        }
    }
    let rest = match def.get("values") {
        Some(expr) => Some(field(schema, expr)?),
        None if def.get("unknown") == Some(&Value::Bool(true)) => Some(Field::plain(UNTYPED)),
        None => None,
    };
    Ok(Node::Map {
        name,
        fields,
        rest,
        atomic: def.get("mapType").and_then(Value::as_str) == Some("atomic"),
    })
}

fn field(schema: &mut Schema, expr: &Value) -> Result<Field, SchemaError> {
    let (base, obj) = match expr {
        Value::String(s) => (s.as_str(), None),
        Value::Object(m) => (
            m.get("t")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("type expression without t"))?,
            Some(expr),
        ),
        _ => return Err(invalid(format!("bad type expression {expr}"))),
    };
    let get = |k: &str| obj.and_then(|o| o.get(k));
    let strategy = get("strategy")
        .and_then(Value::as_str)
        .map(PatchStrategy::parse)
        .unwrap_or_default();
    let merge_key = get("mergeKey").and_then(Value::as_str).map(str::to_string);
    let node = match base {
        "s" => SCALAR,
        "u" => UNTYPED,
        "list" => {
            let items = match get("items") {
                Some(e) => field(schema, e)?.node,
                None => UNTYPED,
            };
            let mut keys: Vec<String> = get("keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let list_type = match get("listType").and_then(Value::as_str) {
                Some("map") => ListType::Map,
                Some("set") => ListType::Set,
                Some(_) => ListType::Atomic,
                None if strategy.merge => match &merge_key {
                    Some(k) => {
                        keys = vec![k.clone()];
                        ListType::Map
                    }
                    None => ListType::Set,
                },
                None => ListType::Atomic,
            };
            let mut key_defaults = get("keyDefaults")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            key_defaults.resize(keys.len(), Value::Null);
            schema.push(Node::List {
                items,
                list_type,
                keys,
                key_defaults,
            })
        }
        "map" | "struct" => {
            let node = map_node(schema, None, obj.unwrap_or(&Value::Null))?;
            schema.push(node)
        }
        def => *schema
            .defs
            .get(def)
            .ok_or_else(|| invalid(format!("unknown definition {def}")))?,
    };
    Ok(Field {
        node,
        meta: FieldMeta {
            strategy,
            merge_key,
            atomic: get("mapType").and_then(Value::as_str) == Some("atomic"),
            default_empty: get("empty") == Some(&Value::Bool(true)),
            required: get("req") == Some(&Value::Bool(true)),
        },
    })
}
