//! List order rules of strategic merge patch: patch order first, live order for server-only items.

use serde_json::Value;

/// The identity of a list item: its merge-key value for maps, itself for scalars.
fn identity<'a>(item: &'a Value, merge_key: Option<&str>) -> Option<&'a Value> {
    match merge_key {
        Some(k) => item.get(k),
        None => Some(item),
    }
}

/// Position of `item` in `list`, matching by merge key (maps) or equality (scalars).
pub(super) fn index_of(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    let id = identity(item, merge_key)?;
    list.iter()
        .position(|candidate| identity(candidate, merge_key) == Some(id))
}

/// Splits `items` into those present in `by` and the rest, keeping their relative order.
pub(super) fn partition(
    items: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> (Vec<Value>, Vec<Value>) {
    items
        .into_iter()
        .partition(|item| index_of(by, item, merge_key).is_some())
}

/// Sorts `items` by their position in `order`; items not in `order` keep their relative order
/// after the ones that are.
fn sort_by_order(items: Vec<Value>, order: &[Value], merge_key: Option<&str>) -> Vec<Value> {
    let mut keyed: Vec<(usize, usize, Value)> = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| (index_of(order, &v, merge_key).unwrap_or(usize::MAX), i, v))
        .collect();
    keyed.sort_by_key(|(pos, i, _)| (*pos, *i));
    keyed.into_iter().map(|(_, _, v)| v).collect()
}

/// Interleaves server-only items (`left`) into patch items (`right`): a server-only item goes
/// before the next patch item only when both are in the live list and it comes first there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => {
                let li = index_of(server_order, l, merge_key);
                let ri = index_of(server_order, r, merge_key);
                let take_left = matches!((li, ri), (Some(a), Some(b)) if a < b);
                let next = if take_left { left.next() } else { right.next() };
                out.extend(next);
            }
            (Some(_), None) => out.extend(left.by_ref()),
            (None, Some(_)) => out.extend(right.by_ref()),
            (None, None) => break,
        }
    }
    out
}

/// Orders a merged list: `patch_items` by `patch_order`, `server_only` by `server_order`, then
/// interleaved by the live order.
pub(super) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let patch_items = sort_by_order(patch_items, patch_order, merge_key);
    let server_only = sort_by_order(server_only, server_order, merge_key);
    merge_sorted(server_only, patch_items, server_order, merge_key)
}
