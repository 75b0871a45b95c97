//! Schema-aware walks over objects: field sets, comparison, apply-merge and item removal.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement};
use crate::schema::{ListType, TypeKind, TypeRef};

static EMPTY_OBJECT: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(Map::new()));

/// The identity of a list item: `k:` for associative lists (missing keys take their schema
/// default), `v:` for sets of scalars, else its index. With `strict`, an associative item that
/// lacks a key without default is an error.
pub(crate) fn item_element(
    item: &Value,
    index: usize,
    list_ty: TypeRef<'_>,
    strict: bool,
) -> Result<PathElement, String> {
    match list_ty.list_type() {
        ListType::Map if !list_ty.list_map_keys().is_empty() => {
            let keys = list_ty.list_map_keys();
            let defaults = list_ty.list_map_key_defaults();
            let mut fields = Vec::with_capacity(keys.len());
            for (i, k) in keys.iter().enumerate() {
                match item.get(k).filter(|v| !v.is_null()) {
                    Some(v) => fields.push((k.clone(), v.clone())),
                    None => match defaults.get(i).filter(|d| !d.is_null()) {
                        Some(d) => fields.push((k.clone(), d.clone())),
                        None if strict => {
                            return Err(format!(
                                "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            ));
                        }
                        None => return Ok(PathElement::Index(index)),
                    },
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListType::Set if !item.is_object() && !item.is_array() => {
            Ok(PathElement::Value(item.clone()))
        }
        _ => Ok(PathElement::Index(index)),
    }
}

/// Whether the value is walked into (a granular object or a non-atomic list), per its type.
fn is_granular_map(v: Option<&Value>, ty: TypeRef<'_>) -> bool {
    matches!(ty.kind(), TypeKind::Map | TypeKind::Untyped)
        && !ty.is_atomic()
        && v.is_none_or(|v| v.is_object() || v.is_null())
}

fn is_granular_list(v: Option<&Value>, ty: TypeRef<'_>) -> bool {
    ty.kind() == TypeKind::List && !ty.is_atomic() && v.is_none_or(|v| v.is_array() || v.is_null())
}

fn list_elements(
    items: &[Value],
    ty: TypeRef<'_>,
    strict: bool,
) -> Result<Vec<PathElement>, String> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pe = item_element(item, i, ty, strict)?;
        if strict && out.contains(&pe) {
            return Err(format!("duplicate entries for key {pe}"));
        }
        out.push(pe);
    }
    Ok(out)
}

/// The set of fields an object specifies (structured-merge-diff's `ToFieldSet`): leaves, atomic
/// values, list items, map entries, nulls and empty objects.
pub(crate) fn to_field_set(v: &Value, ty: TypeRef<'_>, strict: bool) -> Result<FieldSet, String> {
    let mut set = FieldSet::new();
    walk_set(v, ty, &mut Vec::new(), &mut set, strict)?;
    Ok(set)
}

fn walk_set(
    v: &Value,
    ty: TypeRef<'_>,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
    strict: bool,
) -> Result<(), String> {
    match v {
        Value::Object(m) if is_granular_map(Some(v), ty) => {
            for (k, cv) in m {
                path.push(PathElement::Field(k.clone()));
                walk_set(cv, ty.field(k), path, set, strict)?;
                let empty_map = cv.as_object().is_some_and(Map::is_empty);
                if cv.is_null() || empty_map || !ty.has_field(k) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) if is_granular_list(Some(v), ty) => {
            let items_ty = ty.items();
            for (item, pe) in items.iter().zip(list_elements(items, ty, strict)?) {
                path.push(pe);
                walk_set(item, items_ty, path, set, strict)?;
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

/// The difference between two versions of an object, as field sets.
#[derive(Debug, Default, Clone)]
pub(crate) struct Comparison {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

/// Compares `lhs` (old) with `rhs` (new). To match what the apiserver records for Go objects,
/// a field that is a non-pointer struct (`default: {}`) counts as present (`{}`), and a required
/// field as present (`null`), whenever its parent object is; `null` is compatible with any shape.
pub(crate) fn compare(lhs: &Value, rhs: &Value, ty: TypeRef<'_>) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(Some(lhs), Some(rhs), ty, &mut Vec::new(), &mut c);
    c
}

fn child_of<'v>(m: Option<&'v Map<String, Value>>, k: &str, cty: TypeRef<'_>) -> Option<&'v Value> {
    let m = m?;
    m.get(k).or_else(|| {
        if cty.is_default_empty() {
            Some(&*EMPTY_OBJECT)
        } else if cty.is_required() {
            Some(&Value::Null)
        } else {
            None
        }
    })
}

fn walk_compare(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    ty: TypeRef<'_>,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    let both_maps = is_granular_map(lhs, ty)
        && is_granular_map(rhs, ty)
        && (lhs.is_some_and(Value::is_object) || rhs.is_some_and(Value::is_object));
    let both_lists = is_granular_list(lhs, ty)
        && is_granular_list(rhs, ty)
        && (lhs.is_some_and(Value::is_array) || rhs.is_some_and(Value::is_array));
    if both_maps {
        let lm = lhs.and_then(Value::as_object);
        let rm = rhs.and_then(Value::as_object);
        let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
        if let Some(rm) = rm {
            for k in rm.keys() {
                if !lm.is_some_and(|l| l.contains_key(k)) {
                    keys.push(k);
                }
            }
        }
        for k in keys {
            let cty = ty.field(k);
            path.push(PathElement::Field(k.clone()));
            walk_compare(child_of(lm, k, cty), child_of(rm, k, cty), cty, path, c);
            path.pop();
        }
    } else if both_lists {
        let empty = Vec::new();
        let la = lhs.and_then(Value::as_array).unwrap_or(&empty);
        let ra = rhs.and_then(Value::as_array).unwrap_or(&empty);
        let lpe = list_elements(la, ty, false).unwrap_or_default();
        let rpe = list_elements(ra, ty, false).unwrap_or_default();
        let items_ty = ty.items();
        let mut rindex: HashMap<usize, bool> = HashMap::new();
        for (li, pe) in lpe.iter().enumerate() {
            let ri = rpe.iter().position(|r| r == pe);
            if let Some(ri) = ri {
                rindex.insert(ri, true);
            }
            path.push(pe.clone());
            walk_compare(la.get(li), ri.and_then(|ri| ra.get(ri)), items_ty, path, c);
            path.pop();
        }
        for (ri, pe) in rpe.iter().enumerate() {
            if rindex.contains_key(&ri) || lpe.contains(pe) {
                continue;
            }
            path.push(pe.clone());
            walk_compare(None, ra.get(ri), items_ty, path, c);
            path.pop();
        }
    } else {
        match (lhs, rhs) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            (Some(l), Some(r)) if l != r => c.modified.insert(path),
            _ => {}
        }
        return;
    }
    match (lhs, rhs) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        _ => {}
    }
}

/// Merges an applied configuration into the live object (structured-merge-diff's `Merge`):
/// the configuration wins on leaves, granular maps merge field by field, associative and set
/// lists merge item by item (live-only items keep their place, shared items follow the
/// configuration's order), atomic values are replaced. A `null` in the configuration unsets the
/// field.
pub(crate) fn merge(live: Option<&Value>, config: &Value, ty: TypeRef<'_>) -> Value {
    match (live, config) {
        (Some(Value::Object(l)), Value::Object(r)) if is_granular_map(live, ty) => {
            let mut out = l.clone();
            for (k, rv) in r {
                if rv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = merge(out.get(k), rv, ty.field(k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(r)) if is_granular_list(live, ty) => {
            Value::Array(merge_list(l, r, ty))
        }
        (None | Some(Value::Null), Value::Object(r)) if is_granular_map(Some(config), ty) => {
            let mut out = Map::new();
            for (k, rv) in r {
                if !rv.is_null() {
                    out.insert(k.clone(), merge(None, rv, ty.field(k)));
                }
            }
            Value::Object(out)
        }
        _ => config.clone(),
    }
}

fn merge_list(lhs: &[Value], rhs: &[Value], ty: TypeRef<'_>) -> Vec<Value> {
    let items_ty = ty.items();
    let lpe = list_elements(lhs, ty, false).unwrap_or_default();
    let rpe = list_elements(rhs, ty, false).unwrap_or_default();
    let l_at = |pe: &PathElement| lpe.iter().position(|p| p == pe).and_then(|i| lhs.get(i));
    let r_has = |pe: &PathElement| rpe.contains(pe);
    let mut shared: std::collections::VecDeque<&PathElement> =
        rpe.iter().filter(|pe| lpe.contains(pe)).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lpe[li];
            if *pe == rpe[ri] {
                merged_rhs.push(pe);
                out.push(merge(Some(&lhs[li]), &rhs[ri], items_ty));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if r_has(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lpe[li];
            if !r_has(pe) {
                out.push(lhs[li].clone());
                li += 1;
                continue;
            } else if merged_rhs.contains(&pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rpe[ri];
            merged_rhs.push(pe);
            out.push(merge(l_at(pe), &rhs[ri], items_ty));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.pop_front();
            }
        } else {
            // Only live items that the configuration also has are left; they were merged.
            li += 1;
        }
    }
    out
}

/// Removes every field, map entry and list item whose path is a member of `set`.
pub(crate) fn remove_items(v: &Value, set: &FieldSet, ty: TypeRef<'_>) -> Value {
    match v {
        Value::Object(m) if is_granular_map(Some(v), ty) => {
            let mut out = Map::new();
            for (k, cv) in m {
                let pe = PathElement::Field(k.clone());
                if set.has_member(&pe) {
                    continue;
                }
                let child = match set.child(&pe) {
                    Some(sub) => remove_items(cv, sub, ty.field(k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), child);
            }
            Value::Object(out)
        }
        Value::Array(items) if is_granular_list(Some(v), ty) => {
            let items_ty = ty.items();
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(item, i, ty, false).unwrap_or(PathElement::Index(i));
                if set.has_member(&pe) {
                    continue;
                }
                out.push(match set.child(&pe) {
                    Some(sub) => remove_items(item, sub, items_ty),
                    None => item.clone(),
                });
            }
            Value::Array(out)
        }
        _ => v.clone(),
    }
}

/// Adds, as members, the named (schema-declared) fields that only appear as prefixes in `set`.
pub(crate) fn ensure_named_fields_are_members(set: &FieldSet, ty: TypeRef<'_>) -> FieldSet {
    let mut out = FieldSet::new();
    for m in set.members() {
        out.insert_member(m.clone());
    }
    for (pe, child) in set.children() {
        let cty = match pe {
            PathElement::Field(name) => {
                if ty.has_field(name) {
                    out.insert_member(pe.clone());
                }
                ty.field(name)
            }
            _ => ty.items(),
        };
        *out.child_mut(pe.clone()) = ensure_named_fields_are_members(child, cty);
    }
    out
}
