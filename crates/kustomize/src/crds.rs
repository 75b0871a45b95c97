//! `crds:`: name-reference hints read from OpenAPI definitions of custom kinds.
//!
//! Properties carrying `x-kubernetes-object-ref-kind` become name references, so renaming the
//! referred object (prefix, suffix, hash) updates the custom resource too.

use serde_json::{Map, Value};

use crate::config::{NameBackRef, TransformerConfig};
use crate::fieldspec::FieldSpec;

fn schema_of(entry: &Value) -> &Value {
    entry.get("Schema").unwrap_or(entry)
}

fn walk_props(
    def: &Value,
    defs: &Map<String, Value>,
    path: &str,
    kind: &str,
    cfg: &mut TransformerConfig,
    depth: usize,
) -> crate::Result<()> {
    if depth > 20 {
        return Ok(());
    }
    let Some(Value::Object(props)) = def.get("properties") else {
        return Ok(());
    };
    for (name, prop) in props {
        if path.is_empty() && matches!(name.as_str(), "apiVersion" | "kind" | "metadata" | "status")
        {
            continue;
        }
        let p = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        if let Some(ref_kind) = prop
            .get("x-kubernetes-object-ref-kind")
            .and_then(Value::as_str)
        {
            let group = prop
                .get("x-kubernetes-object-ref-api-version")
                .and_then(Value::as_str)
                .and_then(|s| s.rsplit_once('/').map(|(g, _)| g.to_string()))
                .unwrap_or_default();
            let nb = NameBackRef {
                kind: ref_kind.to_string(),
                group,
                version: String::new(),
                field_specs: vec![FieldSpec::for_kind(kind, &p, false)],
            };
            cfg.merge(&TransformerConfig {
                name_reference: vec![nb],
                ..TransformerConfig::default()
            })?;
            continue;
        }
        match prop.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                if let Some(d) = defs.get(r) {
                    walk_props(schema_of(d), defs, &p, kind, cfg, depth + 1)?;
                }
            }
            None => walk_props(prop, defs, &p, kind, cfg, depth + 1)?,
        }
    }
    Ok(())
}

/// Adds name references declared with `x-kubernetes-object-ref-kind` in CRD OpenAPI documents
/// (a map of definition name to `{Schema, Dependencies}` or to the schema itself).
pub fn merge_crd_config(cfg: &mut TransformerConfig, docs: &[Value]) -> crate::Result<()> {
    for doc in docs {
        let Some(defs) = doc.get("definitions").unwrap_or(doc).as_object() else {
            continue;
        };
        for (name, entry) in defs {
            let schema = schema_of(entry);
            let props = schema.get("properties");
            let is_kind = props.is_some_and(|p| {
                p.get("kind").is_some()
                    && p.get("apiVersion").is_some()
                    && p.get("metadata").is_some()
            });
            if !is_kind {
                continue;
            }
            let kind = name.rsplit('.').next().unwrap_or(name);
            walk_props(schema, defs, "", kind, cfg, 0)?;
        }
    }
    Ok(())
}
