//! Strategic-merge patches (`patchesStrategicMerge`, and `patches` entries that are not JSON 6902).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kustomization::Selector;
use crate::patch::strategic_merge;
use crate::resmap::ResMap;
use crate::resource::{Gvk, ResId, Resource};
use crate::transformers::selector;

fn patch_id(patch: &Value) -> ResId {
    let r = Resource::new(patch.clone());
    r.cur_id()
}

/// Whether a patch may change its target's name and kind (`options` of a `patches` entry).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeOptions {
    /// `allowNameChange`.
    pub name: bool,
    /// `allowKindChange`.
    pub kind: bool,
}

fn apply_to(
    r: &mut Resource,
    patch: &Value,
    change: ChangeOptions,
    schema: Option<&Value>,
) -> Result<()> {
    let before = r.cur_id();
    let new_name = patch
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|_| change.name)
        .map(str::to_string);
    let new_kind = patch
        .get("kind")
        .and_then(Value::as_str)
        .filter(|_| change.kind)
        .map(str::to_string);
    let mut p = patch.clone();
    // The patch's own identity must not rename the target.
    if let Some(Value::Object(md)) = p.get_mut("metadata") {
        md.remove("name");
        md.remove("namespace");
        if md.is_empty()
            && let Value::Object(obj) = &mut p
        {
            obj.shift_remove("metadata");
        }
    }
    if let Value::Object(obj) = &mut p {
        obj.shift_remove("apiVersion");
        obj.shift_remove("kind");
    }
    let kind = r.kind().to_string();
    let api_version = r.gvk().api_version();
    let merged = strategic_merge(&r.obj, &p, &api_version, &kind, schema);
    if !merged.is_object() {
        return Err(Error::Build(format!(
            "patch deleted the whole of {}; use a $patch: delete on the object instead",
            r.cur_id()
        )));
    }
    r.obj = merged;
    if let Some(n) = new_name {
        r.set_name(&n);
    }
    if let (Some(k), Value::Object(obj)) = (new_kind, &mut r.obj) {
        obj.insert("kind".into(), Value::String(k));
    }
    if r.cur_id() != before {
        r.prev_ids.push(before);
    }
    Ok(())
}

/// Applies one SMP document: to the targets of `target` if given, else to the object it names.
pub fn apply(
    rm: &mut ResMap,
    patch: &Value,
    target: Option<&Selector>,
    source: &str,
    change: ChangeOptions,
    schema: Option<&Value>,
) -> Result<()> {
    let deletes = patch.get("$patch").and_then(Value::as_str) == Some("delete");
    let indices: Vec<usize> = match target {
        Some(sel) => {
            let mut v = Vec::new();
            for (i, r) in rm.resources.iter().enumerate() {
                if selector::matches(sel, r)? {
                    v.push(i);
                }
            }
            v
        }
        None => vec![find_one(rm, &patch_id(patch), source)?],
    };
    if deletes {
        let mut keep = Vec::new();
        for (i, r) in std::mem::take(&mut rm.resources).into_iter().enumerate() {
            if !indices.contains(&i) {
                keep.push(r);
            }
        }
        rm.resources = keep;
        return Ok(());
    }
    for i in indices {
        apply_to(&mut rm.resources[i], patch, change, schema)?;
    }
    Ok(())
}

/// Finds the unique resource a patch names (exact id first, then ignoring namespace).
pub fn find_one(rm: &ResMap, id: &ResId, source: &str) -> Result<usize> {
    let exact: Vec<usize> = rm.find_by_any_id(id);
    if exact.len() == 1 {
        return Ok(exact[0]);
    }
    if exact.len() > 1 {
        return Err(Error::Build(format!(
            "multiple matches for Id {id} (patch from {source})"
        )));
    }
    let loose: Vec<usize> = rm
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let gvkn = |x: &ResId| gvk_eq(&x.gvk, &id.gvk) && x.name == id.name;
            gvkn(&r.cur_id()) || r.prev_ids.iter().any(gvkn)
        })
        .map(|(i, _)| i)
        .collect();
    match loose.len() {
        1 => Ok(loose[0]),
        0 => Err(Error::Build(format!(
            "no matches for Id {id}; failed to find unique target for patch {source}"
        ))),
        _ => Err(Error::Build(format!(
            "multiple matches for Id {id} (patch from {source})"
        ))),
    }
}

fn gvk_eq(a: &Gvk, b: &Gvk) -> bool {
    a == b
}
