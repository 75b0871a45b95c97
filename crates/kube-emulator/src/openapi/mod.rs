//! OpenAPI documents: the built-in kinds' definitions (generated from the Kubernetes spec) and
//! CRD schemas, served as `/openapi/v2` (JSON or gnostic protobuf) and `/openapi/v3`.

pub mod generate;
mod proto;
pub mod v2;
pub mod v3;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceDef};

const BUILTIN_GZ: &[u8] = include_bytes!("../generated/builtin_openapi.json.gz");
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

struct Builtin {
    definitions: Map<String, Value>,
    /// "group/version/kind" -> definition name.
    by_gvk: HashMap<String, String>,
}

fn builtin() -> &'static Builtin {
    static TABLE: OnceLock<Builtin> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The table is compiled in and produced by our own generator: failing to read it is a
        // build defect, not a runtime condition.
        let mut text = String::new();
        flate2::read::GzDecoder::new(BUILTIN_GZ)
            .read_to_string(&mut text)
            .expect("generated builtin_openapi.json.gz is valid gzip");
        let mut table: Value =
            serde_json::from_str(&text).expect("generated builtin_openapi.json.gz is valid JSON");
        let definitions = match table.get_mut("definitions").map(Value::take) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut by_gvk = HashMap::new();
        for (name, def) in &definitions {
            for gvk in def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = gvk_key(
                    gvk["group"].as_str().unwrap_or(""),
                    gvk["version"].as_str().unwrap_or(""),
                    gvk["kind"].as_str().unwrap_or(""),
                );
                by_gvk.insert(key, name.clone());
            }
        }
        Builtin {
            definitions,
            by_gvk,
        }
    })
}

fn gvk_key(g: &str, v: &str, k: &str) -> String {
    format!("{g}/{v}/{k}")
}

/// The definition name of a served kind (the real server's names for built-ins; CRD kinds use
/// the reversed group, like `io.fluxcd.toolkit.kustomize.v1.Kustomization`).
pub fn definition_name(d: &ResourceDef) -> String {
    if !d.custom
        && let Some(n) = builtin()
            .by_gvk
            .get(&gvk_key(&d.group, &d.version, &d.kind))
    {
        return n.clone();
    }
    let rev: Vec<&str> = d.group.split('.').rev().collect();
    format!("{}.{}.{}", rev.join("."), d.version, d.kind)
}

/// A served kind's schema in OpenAPI v3 form with `#/definitions/` references.
fn kind_schema(d: &ResourceDef) -> Value {
    if !d.custom
        && let Some(s) = builtin().definitions.get(&definition_name(d))
    {
        return s.clone();
    }
    let mut schema = d
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object"}));
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("type").or_insert(json!("object"));
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(props) = props.as_object_mut() {
            props.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.", "type": "string"}));
            props.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to.", "type": "string"}));
            props.insert(
                "metadata".into(),
                json!({"$ref": format!("#/definitions/{OBJECT_META}")}),
            );
        }
        let gvk = json!([{"group": d.group, "kind": d.kind, "version": d.version}]);
        obj.insert("x-kubernetes-group-version-kind".into(), gvk);
    }
    schema
}

/// Definitions (v3 form, `#/definitions/` references) of `defs` and all they reference.
fn definitions<'a>(
    defs: impl Iterator<Item = &'a ResourceDef>,
    v2: bool,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut pending = vec![];
    for d in defs {
        let schema = if v2 && d.custom {
            crd_to_v2(kind_schema(d), true)
        } else {
            kind_schema(d)
        };
        out.insert(definition_name(d), schema);
        pending.push(definition_name(d));
    }
    while let Some(name) = pending.pop() {
        let mut refs = vec![];
        if let Some(s) = out.get(&name) {
            collect_refs(s, &mut refs);
        }
        for r in refs {
            if out.contains_key(&r) {
                continue;
            }
            if let Some(s) = builtin().definitions.get(&r) {
                out.insert(r.clone(), s.clone());
                pending.push(r);
            }
        }
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/definitions/"))
            {
                out.push(r.to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Rewrites a CRD's structural schema the way the real server publishes it in OpenAPI v2:
/// v2 has no `nullable`, `oneOf`, `anyOf` or `not`, and clients that validate against v2
/// (kubectl < 1.27) must not reject what the server accepts, so nullable and
/// unknown-field-preserving nodes lose their type and children.
fn crd_to_v2(mut schema: Value, root: bool) -> Value {
    let Some(obj) = schema.as_object_mut() else {
        return schema;
    };
    let nullable = obj.remove("nullable") == Some(json!(true));
    for k in ["oneOf", "anyOf", "not", "allOf"] {
        obj.remove(k);
    }
    let preserve = !root && obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if nullable || preserve {
        for k in ["type", "properties", "items", "additionalProperties"] {
            obj.remove(k);
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for v in props.values_mut() {
            *v = crd_to_v2(v.take(), false);
        }
    }
    for k in ["items", "additionalProperties"] {
        if let Some(v) = obj.get_mut(k)
            && v.is_object()
        {
            *v = crd_to_v2(v.take(), false);
        }
    }
    schema
}

/// Rewrites `#/definitions/` references to `prefix`.
fn rewrite_refs(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(rest) = r.strip_prefix("#/definitions/")
            {
                *r = format!("{prefix}{rest}");
            }
            m.values_mut().for_each(|x| rewrite_refs(x, prefix));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_refs(x, prefix)),
        _ => {}
    }
}

/// The served kinds' definitions for `registry` in one group-version (`None`: all).
fn served_definitions(
    registry: &Registry,
    gv_filter: Option<&str>,
    v2: bool,
) -> (Vec<ResourceDef>, BTreeMap<String, Value>) {
    let defs: Vec<ResourceDef> = registry
        .all()
        .filter(|d| gv_filter.is_none_or(|p| v3::gv_path(d) == p))
        .cloned()
        .collect();
    let schemas = definitions(defs.iter(), v2);
    (defs, schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_kind_has_a_generated_definition_with_field_docs() {
        let registry = Registry::new();
        for d in registry.all() {
            let name = definition_name(d);
            let def = builtin()
                .definitions
                .get(&name)
                .unwrap_or_else(|| panic!("{} has no definition {name}", d.kind));
            assert!(
                def["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{name} has no description"
            );
        }
        let spec = &builtin().definitions["io.k8s.api.apps.v1.DeploymentSpec"];
        assert!(spec["properties"]["strategy"]["description"].is_string());
    }

    #[test]
    fn crd_schemas_lose_what_openapi_v2_cannot_express() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                  "properties": {"c": {"type": "string"}}},
            "d": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "e": {"type": "array", "items": {"type": "string", "nullable": true}},
        }});
        let v2 = crd_to_v2(schema, true);
        assert_eq!(v2["properties"]["a"], json!({}));
        assert_eq!(
            v2["properties"]["b"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            v2["properties"]["d"],
            json!({"x-kubernetes-int-or-string": true})
        );
        assert_eq!(v2["properties"]["e"], json!({"type": "array", "items": {}}));
        assert_eq!(v2["type"], "object");
    }
}
