//! JSON 6902 patches (`patchesJson6902`, and `patches` entries holding a list of operations).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::kustomization::Selector;
use crate::resmap::ResMap;
use crate::transformers::selector;

/// Whether a parsed patch document is a JSON 6902 operation list.
pub fn is_json6902(doc: &Value) -> bool {
    matches!(doc, Value::Array(ops) if ops.iter().all(|o| o.get("op").is_some()))
}

/// Creates missing parent objects of a JSON pointer, as kustomize's JSON patch library does
/// for `add`, `copy` and `move` (`EnsurePathExistsOnAdd`).
fn ensure_parents(doc: &mut Value, pointer: &str) {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((_, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m
                .entry(t.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
}

/// Applies an operation list to every resource selected by `target`.
pub fn apply(rm: &mut ResMap, ops: &Value, target: &Selector, source: &str) -> Result<()> {
    let invalid =
        |e: serde_json::Error| Error::Build(format!("invalid JSON 6902 patch in {source}: {e}"));
    let list: Vec<Value> = serde_json::from_value(ops.clone()).map_err(invalid)?;
    let mut steps = Vec::new();
    for op in &list {
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(vec![op.clone()])).map_err(invalid)?;
        let creates = matches!(
            op.get("op").and_then(Value::as_str),
            Some("add" | "copy" | "move")
        );
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        steps.push((patch, creates.then_some(path)));
    }
    for r in &mut rm.resources {
        if !selector::matches(target, r)? {
            continue;
        }
        let mut obj = r.obj.clone();
        for (patch, create_path) in &steps {
            if let Some(p) = create_path {
                ensure_parents(&mut obj, p);
            }
            json_patch::patch(&mut obj, patch).map_err(|e| {
                Error::Build(format!(
                    "unable to apply JSON 6902 patch from {source} to {}: {e}",
                    r.cur_id()
                ))
            })?;
        }
        let before = r.cur_id();
        r.obj = obj;
        if r.cur_id() != before {
            r.prev_ids.push(before);
        }
    }
    Ok(())
}
