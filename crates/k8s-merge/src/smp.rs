//! Strategic merge patch, with the semantics of apimachinery's `strategicpatch` (as used by `kubectl patch` and kustomize).
//!
//! - maps merge recursively; `null` deletes a key;
//! - lists whose field has patch strategy `merge` merge by the merge key (items of the patch
//!   merge into matching items, new items are added) or, for scalars, as a set union;
//!   other lists are replaced;
//! - directives: `$patch: replace | delete` (maps and list items), `$retainKeys`,
//!   `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`;
//! - the order of merged lists follows apimachinery (the apiserver), not kustomize's kyaml: patch
//!   items in patch (or `$setElementOrder`) order, server-only items in live order, and a
//!   server-only item goes before the next patch item only when both are live and it comes first
//!   there, so a new item with no `$setElementOrder` lands *before* the server-only items
//!   (`[a, b]` patched with `[c]` gives `[c, a, b]`; kubectl always sends `$setElementOrder`);
//! - untyped values (unknown kinds, CRDs without schema) get RFC 7386 JSON merge patch.
//!
//! Where apimachinery copies a new key's patch value verbatim (keeping nulls and directives in the
//! stored object), this implementation applies the value to an empty original instead, so the
//! result never contains `$patch`-style directives or nulls.

mod list;
mod map;
mod order;

use serde_json::Value;

use crate::schema::TypeRef;

/// Errors raised by a malformed strategic merge patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The patch (or the value it applies to) is not a JSON object.
    #[error("strategic merge patch must be a JSON object, got {0}")]
    NotAnObject(String),
    /// A `$patch` directive with an unknown or misplaced value.
    #[error("unknown patch type: {directive:?} in {at}")]
    BadPatchType {
        /// The directive value.
        directive: String,
        /// Where it was found (JSON path).
        at: String,
    },
    /// An item of a merging list without the merge key.
    #[error("map: {item} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The merge key.
        key: String,
        /// The offending item.
        item: String,
    },
    /// A list of lists, which strategic merge patch does not support.
    #[error("lists of lists are not supported ({at})")]
    ListOfLists {
        /// Where it was found.
        at: String,
    },
    /// A list mixing maps and scalars.
    #[error("list element types are not identical ({at})")]
    MixedList {
        /// Where it was found.
        at: String,
    },
    /// A directive whose value has the wrong shape.
    #[error("invalid {directive} directive at {at}: {reason}")]
    BadDirective {
        /// The directive (`$retainKeys`, `$setElementOrder`, `$deleteFromPrimitiveList`).
        directive: String,
        /// Where it was found.
        at: String,
        /// What is wrong.
        reason: String,
    },
}

/// Applies a strategic merge patch to `original`, using `ty` (the root type of the object, e.g.
/// from [`crate::Schema::lookup`]) for merge keys and patch strategies.
///
/// When `ty` is untyped the patch is applied as an RFC 7386 JSON merge patch, as the apiserver
/// does for custom resources (which reject `strategic` patches; callers emulating that should
/// check before calling).
pub fn apply(original: &Value, patch: &Value, ty: TypeRef<'_>) -> Result<Value, Error> {
    let Value::Object(patch_map) = patch else {
        return Err(Error::NotAnObject(short(patch)));
    };
    if ty.is_untyped() {
        return Ok(crate::merge_patch::apply(original, patch));
    }
    let orig_map = match original {
        Value::Object(m) => m.clone(),
        Value::Null => serde_json::Map::new(),
        other => return Err(Error::NotAnObject(short(other))),
    };
    let out = map::merge_map(orig_map, patch_map.clone(), ty, "")?;
    Ok(Value::Object(out))
}

/// A short rendering of a value for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &s[..cut])
    } else {
        s
    }
}
