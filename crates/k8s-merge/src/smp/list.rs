//! Merging of list fields: by merge key, as scalar sets, or by replacement.

use serde_json::{Map, Value};

use super::{Error, map, order, short};
use crate::schema::TypeRef;

pub(super) const DIRECTIVE: &str = "$patch";

/// Merges the list field typed `fty` (the type of the list field itself).
pub(super) fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    fty: TypeRef<'_>,
    is_delete_list: bool,
    path: &str,
) -> Result<Vec<Value>, Error> {
    if fty.patch_strategy().merge {
        merge_list(original, patch, fty, is_delete_list, path)
    } else if is_delete_list {
        Ok(delete_from(original, &patch))
    } else {
        Ok(patch)
    }
}

/// The value of a list field that is new in the patch, with directives resolved against an
/// empty original.
pub(super) fn new_list(
    patch: Vec<Value>,
    fty: TypeRef<'_>,
    path: &str,
) -> Result<Vec<Value>, Error> {
    if fty.patch_strategy().merge {
        merge_list(Vec::new(), patch, fty, false, path)
    } else {
        Ok(patch)
    }
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Elem {
    Map,
    String,
    Number,
    Bool,
    Null,
}

fn element_kind(original: &[Value], patch: &[Value], path: &str) -> Result<Option<Elem>, Error> {
    let mut kind = None;
    for v in original.iter().chain(patch) {
        let k = match v {
            Value::Object(_) => Elem::Map,
            Value::String(_) => Elem::String,
            Value::Number(_) => Elem::Number,
            Value::Bool(_) => Elem::Bool,
            Value::Null => Elem::Null,
            Value::Array(_) => {
                return Err(Error::ListOfLists {
                    at: path.to_string(),
                });
            }
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(Error::MixedList {
                    at: path.to_string(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(kind)
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    fty: TypeRef<'_>,
    is_delete_list: bool,
    path: &str,
) -> Result<Vec<Value>, Error> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let Some(kind) = element_kind(&original, &patch, path)? else {
        return Ok(original);
    };
    if kind != Elem::Map {
        if is_delete_list {
            return Ok(delete_from(original, &patch));
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(&patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (patch_items, server_only) = order::partition(merged, &patch, None);
        return Ok(order::normalize_element_order(
            patch_items,
            server_only,
            &patch,
            &original,
            None,
        ));
    }
    let merge_key = fty.patch_merge_key().ok_or_else(|| Error::NoMergeKey {
        key: "<none declared>".into(),
        item: path.to_string(),
    })?;
    let items_ty = fty.items();
    let (original, patch) = apply_special_elements(original, patch, merge_key, items_ty, path)?;
    let mut merged = original.clone();
    for item in &patch {
        let Value::Object(item_map) = item else {
            continue;
        };
        let key_value = item_map.get(merge_key).ok_or_else(|| Error::NoMergeKey {
            key: merge_key.to_string(),
            item: short(item),
        })?;
        let sub = format!("{path}[{merge_key}={key_value}]");
        let found = merged
            .iter()
            .position(|m| m.get(merge_key) == Some(key_value));
        match found {
            Some(i) => {
                let orig_item = match std::mem::take(&mut merged[i]) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                merged[i] =
                    Value::Object(map::merge_map(orig_item, item_map.clone(), items_ty, &sub)?);
            }
            None => merged.push(Value::Object(map::merge_map(
                Map::new(),
                item_map.clone(),
                items_ty,
                &sub,
            )?)),
        }
    }
    let (patch_items, server_only) = order::partition(merged, &patch, Some(merge_key));
    Ok(order::normalize_element_order(
        patch_items,
        server_only,
        &patch,
        &original,
        Some(merge_key),
    ))
}

/// Resolves `$patch` list items: `delete` removes matching originals, `replace` makes the rest
/// of the patch the new list. Returns the (possibly reduced) original and the plain patch items.
fn apply_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    items_ty: TypeRef<'_>,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let key_value = item.get(merge_key).ok_or_else(|| Error::NoMergeKey {
                    key: merge_key.to_string(),
                    item: short(&item),
                })?;
                original.retain(|o| o.get(merge_key) != Some(key_value));
            }
            Some("replace") => replace = true,
            _ => {
                return Err(Error::BadPatchType {
                    directive: short(directive),
                    at: path.to_string(),
                });
            }
        }
    }
    if replace {
        let mut items = Vec::with_capacity(plain.len());
        for item in plain {
            match item {
                Value::Object(m) => items.push(Value::Object(map::merge_map(
                    Map::new(),
                    m,
                    items_ty,
                    path,
                )?)),
                other => items.push(other),
            }
        }
        return Ok((items, Vec::new()));
    }
    Ok((original, plain))
}

/// Removes every item of `to_delete` from `current` (`$deleteFromPrimitiveList`).
pub(super) fn delete_from(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.contains(v))
        .collect()
}

/// Checks that the patch list's items appear in the `$setElementOrder` list in the same
/// relative order (items with directives are ignored).
pub(super) fn validate_set_order(
    patch: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
    path: &str,
) -> Result<(), Error> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut oi = 0;
    for item in patch.iter().filter(|i| i.get(DIRECTIVE).is_none()) {
        let id = match merge_key {
            Some(k) => item.get(k),
            None => Some(item),
        };
        loop {
            let Some(candidate) = order.get(oi) else {
                return Err(Error::BadDirective {
                    directive: "$setElementOrder".into(),
                    at: path.to_string(),
                    reason: format!(
                        "the order in patch list {} doesn't match the $setElementOrder list {}",
                        short(&Value::Array(patch.to_vec())),
                        short(&Value::Array(order.to_vec()))
                    ),
                });
            };
            oi += 1;
            let cid = match merge_key {
                Some(k) => candidate.get(k),
                None => Some(candidate),
            };
            if cid == id {
                break;
            }
        }
    }
    Ok(())
}
