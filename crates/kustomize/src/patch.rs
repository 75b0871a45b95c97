//! Strategic merge patch over JSON values (the boundary to swap for a schema-driven engine).
//!
//! Merge keys and strategies come from the Kubernetes OpenAPI schema of `k8s-merge`, or from a
//! kustomization's custom `openapi: path` schema for the kinds it defines; the merging itself
//! follows kustomize (kyaml `merge2`): lists without a merge strategy (and every list of a kind
//! without schema) are replaced verbatim, patch elements of merged lists come first in patch
//! order, and map-level `$patch: delete`/`$patch: replace` and `null` deletions are honoured.

use k8s_merge::{Schema, TypeRef};
use serde_json::{Map, Value};

/// A position in a schema: the builtin Kubernetes one, a custom OpenAPI v2 document, or none.
#[derive(Clone, Copy)]
enum Ty<'a> {
    K8s(TypeRef<'a>),
    Custom {
        defs: &'a Map<String, Value>,
        /// The property holding the value (carries the patch extensions).
        prop: &'a Value,
    },
    Untyped,
}

fn resolve<'a>(defs: &'a Map<String, Value>, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..32 {
        match cur.get("$ref").and_then(Value::as_str) {
            Some(r) => match defs.get(r.trim_start_matches("#/definitions/")) {
                Some(d) => cur = d,
                None => return cur,
            },
            None => return cur,
        }
    }
    cur
}

/// A custom property, or the builtin Kubernetes definition it refers to when the custom
/// document does not carry it (custom schemas extend the builtin one).
fn custom_or_builtin<'a>(defs: &'a Map<String, Value>, prop: &'a Value) -> Ty<'a> {
    if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        if !defs.contains_key(name)
            && let Some(t) = Schema::builtin().definition(name)
        {
            return Ty::K8s(t);
        }
    }
    Ty::Custom { defs, prop }
}

impl<'a> Ty<'a> {
    fn field(self, name: &str) -> Ty<'a> {
        match self {
            Ty::K8s(t) => Ty::K8s(t.field(name)),
            Ty::Custom { defs, prop } => {
                let node = resolve(defs, prop);
                match node.get("properties").and_then(|p| p.get(name)) {
                    Some(p) => custom_or_builtin(defs, p),
                    None => match node.get("additionalProperties") {
                        Some(p) if p.is_object() => Ty::Custom { defs, prop: p },
                        _ => Ty::Untyped,
                    },
                }
            }
            Ty::Untyped => Ty::Untyped,
        }
    }

    fn items(self) -> Ty<'a> {
        match self {
            Ty::K8s(t) => Ty::K8s(t.items()),
            Ty::Custom { defs, prop } => match resolve(defs, prop).get("items") {
                Some(i) => custom_or_builtin(defs, i),
                None => Ty::Untyped,
            },
            Ty::Untyped => Ty::Untyped,
        }
    }

    fn list_merge(self) -> ListMerge<'a> {
        match self {
            Ty::K8s(t) if !t.is_untyped() => {
                if !t.patch_strategy().merge {
                    return ListMerge::Replace;
                }
                match t.patch_merge_key() {
                    Some(k) => ListMerge::Key(k),
                    None => ListMerge::Set,
                }
            }
            Ty::Custom { prop, .. } => {
                let strategy = prop
                    .get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !strategy.split(',').any(|w| w.trim() == "merge") {
                    return ListMerge::Replace;
                }
                match prop
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str)
                {
                    Some(k) => ListMerge::Key(k),
                    None => ListMerge::Set,
                }
            }
            _ => ListMerge::Replace,
        }
    }
}

/// The root type of `api_version`/`kind` in a custom OpenAPI v2 document, if it defines it.
fn custom_root<'a>(doc: &'a Value, api_version: &str, kind: &str) -> Option<Ty<'a>> {
    let defs = doc.get("definitions")?.as_object()?;
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    for def in defs.values() {
        let gvks = def.get("x-kubernetes-group-version-kind")?;
        let list: Vec<&Value> = match gvks {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let hit = list.iter().any(|g| {
            let f = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("");
            f("kind") == kind && f("version") == version && f("group") == group
        });
        if hit {
            return Some(Ty::Custom { defs, prop: def });
        }
    }
    None
}

/// How a list merges.
enum ListMerge<'s> {
    /// By this key.
    Key(&'s str),
    /// As a set of scalars.
    Set,
    /// Replaced.
    Replace,
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

/// Strips patch directives from a value that is being inserted as-is.
fn clean(v: &Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if directive(v) == Some("delete") {
                return None;
            }
            let mut out = Map::new();
            for (k, x) in m {
                if k.starts_with('$') {
                    continue;
                }
                if let Some(c) = clean(x) {
                    out.insert(k.clone(), c);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(a.iter().filter_map(clean).collect())),
        other => Some(other.clone()),
    }
}

/// Applies a strategic merge patch to `base`, an object of `api_version` and `kind`, using
/// `custom` (an OpenAPI v2 document from `openapi: path`) for the kinds it defines.
pub fn strategic_merge(
    base: &Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
    custom: Option<&Value>,
) -> Value {
    let ty = custom
        .and_then(|doc| custom_root(doc, api_version, kind))
        .unwrap_or_else(|| Ty::K8s(Schema::builtin().lookup_or_untyped(api_version, kind)));
    merge_value(Some(base), patch, ty).unwrap_or(Value::Null)
}

fn merge_value(dst: Option<&Value>, src: &Value, ty: Ty<'_>) -> Option<Value> {
    match (dst, src) {
        (_, Value::Object(_)) if directive(src) == Some("delete") => None,
        (_, Value::Object(_)) if directive(src) == Some("replace") => clean(src),
        (Some(Value::Object(d)), Value::Object(s)) => {
            let mut out = d.clone();
            for (k, v) in s {
                if k.starts_with("$setElementOrder/") || k == "$patch" || k == "$retainKeys" {
                    continue;
                }
                if let Some(list_field) = k.strip_prefix("$deleteFromPrimitiveList/") {
                    if let (Some(Value::Array(cur)), Value::Array(del)) =
                        (out.get_mut(list_field), v)
                    {
                        cur.retain(|x| !del.contains(x));
                    }
                    continue;
                }
                if v.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                let was_filled = matches!(out.get(k), Some(Value::Object(m)) if !m.is_empty());
                match merge_value(out.get(k), v, ty.field(k)) {
                    // Like kyaml, a map emptied by the patch's deletions disappears.
                    Some(Value::Object(m)) if m.is_empty() && was_filled => {
                        out.shift_remove(k);
                    }
                    Some(m) => {
                        out.insert(k.clone(), m);
                    }
                    None => {
                        out.shift_remove(k);
                    }
                }
            }
            Some(Value::Object(out))
        }
        (Some(Value::Array(d)), Value::Array(s)) => Some(merge_list(d, s, ty)),
        (_, other) => clean(other),
    }
}

fn merge_list(d: &[Value], s: &[Value], ty: Ty<'_>) -> Value {
    let key = match ty.list_merge() {
        ListMerge::Key(k) => k,
        // Like kyaml, a replaced list is taken verbatim (directives included).
        ListMerge::Replace => return Value::Array(s.to_vec()),
        ListMerge::Set => {
            let mut out: Vec<Value> = s.iter().filter_map(clean).collect();
            for x in d {
                if !out.contains(x) {
                    out.push(x.clone());
                }
            }
            return Value::Array(out);
        }
    };
    let item_ty = ty.items();
    if !d.iter().chain(s).all(Value::is_object) {
        return Value::Array(s.iter().filter_map(clean).collect());
    }
    // Like kustomize (merge2 with prepend): the patch's elements first, in the patch's
    // order, merged with their counterparts; then the remaining original elements.
    let mut out: Vec<Value> = Vec::new();
    let mut used = vec![false; d.len()];
    for item in s {
        let k = item.get(key);
        let pos = k.and_then(|k| d.iter().position(|x| x.get(key) == Some(k)));
        if let Some(i) = pos {
            used[i] = true;
        }
        if let Some(k) = k
            && out.iter().any(|x: &Value| x.get(key) == Some(k))
        {
            continue;
        }
        let merged = match pos {
            Some(i) => merge_value(Some(&d[i]), item, item_ty),
            None => clean(item),
        };
        if let Some(m) = merged {
            out.push(m);
        }
    }
    for (i, x) in d.iter().enumerate() {
        if !used[i] {
            out.push(x.clone());
        }
    }
    Value::Array(out)
}
