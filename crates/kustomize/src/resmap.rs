//! An ordered collection of resources with id-based lookup and merge rules.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::resource::{Behavior, ResId, Resource};

/// Resources in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct ResMap {
    /// The resources.
    pub resources: Vec<Resource>,
}

fn matches_any_id(r: &Resource, id: &ResId) -> bool {
    (r.name() == id.name && r.cur_id().same_object(id))
        || r.prev_ids.iter().any(|p| p.same_object(id))
}

impl ResMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends, refusing an id already present.
    pub fn append(&mut self, r: Resource) -> Result<()> {
        let id = r.cur_id();
        // Compare names first: cheap, and it avoids building every id.
        if self
            .resources
            .iter()
            .any(|x| x.name() == id.name && x.cur_id().same_object(&id))
        {
            return Err(Error::DuplicateId(id.to_string()));
        }
        self.resources.push(r);
        Ok(())
    }

    /// Appends every resource of `other`, refusing ids already present.
    pub fn append_all(&mut self, other: ResMap) -> Result<()> {
        self.append_many(other.resources)
    }

    /// Appends resources in order, refusing ids already present (one pass, hashed).
    pub fn append_many(&mut self, new: Vec<Resource>) -> Result<()> {
        let key = |id: &ResId| {
            (
                id.gvk.clone(),
                id.name.clone(),
                id.effective_namespace().to_string(),
            )
        };
        let mut seen: std::collections::HashSet<_> =
            self.resources.iter().map(|r| key(&r.cur_id())).collect();
        for r in new {
            let id = r.cur_id();
            if !seen.insert(key(&id)) {
                return Err(Error::DuplicateId(id.to_string()));
            }
            self.resources.push(r);
        }
        Ok(())
    }

    /// Adds a generated resource honouring its behavior (create, merge, replace).
    pub fn absorb(&mut self, mut r: Resource) -> Result<()> {
        let id = r.cur_id();
        let idx: Vec<usize> = self
            .resources
            .iter()
            .enumerate()
            .filter(|(_, x)| matches_any_id(x, &id))
            .map(|(i, _)| i)
            .collect();
        match idx.as_slice() {
            [] => match r.behavior {
                Behavior::Create => self.append(r),
                _ => Err(Error::Build(format!(
                    "id {id} does not exist; cannot merge or replace"
                ))),
            },
            [i] => {
                let old = &self.resources[*i];
                match r.behavior {
                    Behavior::Create => {
                        return Err(Error::Build(format!(
                            "id {id} exists; behavior must be merge or replace"
                        )));
                    }
                    Behavior::Replace => {}
                    Behavior::Merge => {
                        for field in ["data", "binaryData"] {
                            merge_string_map_field(&mut r.obj, &old.obj, field);
                        }
                    }
                }
                copy_merge_metadata(&mut r, old);
                self.resources[*i] = r;
                Ok(())
            }
            _ => Err(Error::Build(format!(
                "found multiple objects that could accept merge of {id}"
            ))),
        }
    }

    /// Indices of resources whose current or previous id is `id`.
    pub fn find_by_any_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| matches_any_id(r, id))
            .map(|(i, _)| i)
            .collect()
    }

    /// The objects, in order.
    pub fn objects(&self) -> Vec<&Value> {
        self.resources.iter().map(|r| &r.obj).collect()
    }
}

fn merge_string_map_field(new: &mut Value, old: &Value, field: &str) {
    let Some(Value::Object(old_map)) = old.get(field) else {
        return;
    };
    let mut merged = old_map.clone();
    if let Some(Value::Object(new_map)) = new.get(field) {
        for (k, v) in new_map {
            merged.insert(k.clone(), v.clone());
        }
    }
    if let Value::Object(obj) = new {
        obj.insert(field.to_string(), Value::Object(merged));
    }
}

fn copy_merge_metadata(r: &mut Resource, old: &Resource) {
    for field in ["labels", "annotations"] {
        let mut merged: BTreeMap<String, Value> = BTreeMap::new();
        let old_m = old.obj.get("metadata").and_then(|m| m.get(field));
        let new_m = r.obj.get("metadata").and_then(|m| m.get(field));
        for src in [old_m, new_m].into_iter().flatten() {
            if let Value::Object(m) = src {
                for (k, v) in m {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        if !merged.is_empty() {
            let map = merged.into_iter().collect();
            r.metadata_mut()
                .insert(field.to_string(), Value::Object(map));
        }
    }
    let name = old.name().to_string();
    let ns = old.namespace().to_string();
    r.set_name(&name);
    if ns.is_empty() {
        r.metadata_mut().remove("namespace");
    } else {
        r.set_namespace(&ns);
    }
    r.needs_hash = r.needs_hash && old.needs_hash;
    if old.origin.is_some() && r.behavior == Behavior::Merge {
        r.origin = old.origin.clone();
    }
    r.prev_ids = old.prev_ids.clone();
    r.prefixes = old.prefixes.clone();
    r.suffixes = old.suffixes.clone();
}
