//! Merging of maps (objects), including the `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList` directives.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::list::{self, DIRECTIVE};
use super::{Error, order, short};
use crate::schema::TypeRef;

const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

fn child_path(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

/// Merges `patch` into `original` (both maps of type `ty`).
pub(super) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: TypeRef<'_>,
    path: &str,
) -> Result<Map<String, Value>, Error> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => merge_map(Map::new(), patch, ty, path),
            Some("delete") => Ok(Map::new()),
            _ => Err(Error::BadPatchType {
                directive: short(&directive),
                at: path.to_string(),
            }),
        };
    }
    apply_retain_keys(&mut original, &mut patch, path)?;
    apply_set_element_order(&mut original, &mut patch, ty, path)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(rest) if !rest.is_empty() => (rest.to_string(), true),
            Some(_) => {
                return Err(Error::BadDirective {
                    directive: "$deleteFromPrimitiveList".into(),
                    at: path.to_string(),
                    reason: "missing list name".into(),
                });
            }
            None => (key, false),
        };
        if patch_value.is_null() {
            if !is_delete_list {
                original.remove(&key);
            }
            continue;
        }
        let fty = ty.field(&key);
        let sub = child_path(path, &key);
        let Some(slot) = original.get_mut(&key) else {
            if !is_delete_list && let Some(v) = new_value(patch_value, fty, &sub)? {
                original.insert(key, v);
            }
            continue;
        };
        let current = std::mem::take(slot);
        let merged = match (current, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                if fty.patch_strategy().replace {
                    Some(Value::Object(merge_map(Map::new(), p, fty, &sub)?))
                } else {
                    Some(Value::Object(merge_map(o, p, fty, &sub)?))
                }
            }
            (Value::Array(o), Value::Array(p)) => Some(Value::Array(list::merge_list_field(
                o,
                p,
                fty,
                is_delete_list,
                &sub,
            )?)),
            (current, _) if is_delete_list => Some(current),
            (_, p) => new_value(p, fty, &sub)?,
        };
        match merged {
            Some(v) => *slot = v,
            None => {
                original.remove(&key);
            }
        }
    }
    Ok(original)
}

/// The value of a key absent from the original: the patch value with its directives resolved
/// against an empty original; `None` when it deletes itself (`$patch: delete`).
fn new_value(patch: Value, fty: TypeRef<'_>, path: &str) -> Result<Option<Value>, Error> {
    match patch {
        Value::Object(p) => {
            if p.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                return Ok(None);
            }
            Ok(Some(Value::Object(merge_map(Map::new(), p, fty, path)?)))
        }
        Value::Array(p) => Ok(Some(Value::Array(list::new_list(p, fty, path)?))),
        other => Ok(Some(other)),
    }
}

/// `$retainKeys`: drops every original key not listed (the patch may only set listed keys).
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    path: &str,
) -> Result<(), Error> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = |reason: String| Error::BadDirective {
        directive: RETAIN_KEYS.into(),
        at: path.to_string(),
        reason,
    };
    let list = retain.as_array().ok_or_else(|| {
        bad(format!(
            "expected a list of strings, got {}",
            short(&retain)
        ))
    })?;
    let mut keep: HashSet<&str> = HashSet::new();
    for k in list {
        keep.insert(
            k.as_str()
                .ok_or_else(|| bad(format!("expected a string, got {}", short(k))))?,
        );
    }
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep.contains(k.as_str()) {
            return Err(bad(format!("patch sets {k:?}, which is not in the list")));
        }
    }
    original.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

/// `$setElementOrder/<list>`: merges the list (if patched) and orders it as listed.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: TypeRef<'_>,
    path: &str,
) -> Result<(), Error> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order_value) = patch.remove(&key) else {
            continue;
        };
        let field = &key[SET_ELEMENT_ORDER.len()..];
        let sub = child_path(path, field);
        let bad = |reason: String| Error::BadDirective {
            directive: "$setElementOrder".into(),
            at: sub.clone(),
            reason,
        };
        if field.is_empty() {
            return Err(bad("missing list name".into()));
        }
        let Value::Array(order_list) = order_value else {
            return Err(bad(format!("expected a list, got {}", short(&order_value))));
        };
        let fty = ty.field(field);
        let merge_key = fty.patch_merge_key();
        let original_list = match original.get(field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad(format!("original is not a list: {}", short(other)))),
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad(format!("patch is not a list: {}", short(other)))),
        };
        let is_maps = order_list.iter().any(Value::is_object);
        let key_for_order = if is_maps { merge_key } else { None };
        if let Some(p) = &patch_list {
            list::validate_set_order(p, &order_list, key_for_order, &sub)?;
        }
        let merged = match (original_list.clone(), patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => list::new_list(p, fty, &sub)?,
            (Some(o), Some(p)) => list::merge_list_field(o, p, fty, false, &sub)?,
            (None, None) => continue,
        };
        let (patch_items, server_only) = order::partition(merged, &order_list, key_for_order);
        let ordered = order::normalize_element_order(
            patch_items,
            server_only,
            &order_list,
            original_list.as_deref().unwrap_or(&[]),
            key_for_order,
        );
        original.insert(field.to_string(), Value::Array(ordered));
        patch.remove(field);
    }
    Ok(())
}
