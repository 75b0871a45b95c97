//! `status.inventory`: Flux's `<namespace>_<name>_<group>_<kind>` entries, built from an apply
//! and compared with the previous one to find stale objects.

use std::collections::HashSet;

use flux_api::kustomize::{ResourceInventory, ResourceRef};

use crate::manifests::ObjMeta;

/// Why an inventory entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// The id does not have four `_`-separated parts.
    #[error("invalid inventory entry id {0:?}: expected <namespace>_<name>_<group>_<kind>")]
    InvalidId(String),
}

/// The inventory entry of an object.
pub fn entry(meta: &ObjMeta) -> ResourceRef {
    ResourceRef {
        id: meta.inventory_id(),
        version: meta.version.clone(),
    }
}

/// An inventory of these objects, in the given order, without duplicates.
pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a ObjMeta>) -> ResourceInventory {
    let mut seen = HashSet::new();
    let entries = objects
        .into_iter()
        .filter(|m| seen.insert(m.inventory_id()))
        .map(entry)
        .collect();
    ResourceInventory { entries }
}

/// The object an entry names (version from `v`).
pub fn object_of(entry: &ResourceRef) -> Result<ObjMeta, InventoryError> {
    let id = entry
        .object_id()
        .filter(|id| !id.name.is_empty() && !id.kind.is_empty())
        .ok_or_else(|| InventoryError::InvalidId(entry.id.clone()))?;
    Ok(ObjMeta {
        group: id.group,
        version: entry.version.clone(),
        kind: id.kind,
        namespace: id.namespace,
        name: id.name,
    })
}

/// Objects in `old` that are not in `new` (compared by id, not version), in `old`'s order.
pub fn stale(
    old: &ResourceInventory,
    new: &ResourceInventory,
) -> Result<Vec<ObjMeta>, InventoryError> {
    let keep: HashSet<&str> = new.entries.iter().map(|e| e.id.as_str()).collect();
    old.entries
        .iter()
        .filter(|e| !keep.contains(e.id.as_str()))
        .map(object_of)
        .collect()
}

/// `old` plus the entries of `applied` it lacks (after a partial apply: what was applied is
/// recorded, what was not keeps its old entry).
pub fn merge(old: &ResourceInventory, applied: &ResourceInventory) -> ResourceInventory {
    let mut entries = old.entries.clone();
    let have: HashSet<String> = entries.iter().map(|e| e.id.clone()).collect();
    for e in &applied.entries {
        if !have.contains(&e.id) {
            entries.push(e.clone());
        }
    }
    ResourceInventory { entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(group: &str, version: &str, kind: &str, ns: &str, name: &str) -> ObjMeta {
        ObjMeta {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn ids_match_fluxs_format_for_core_grouped_and_cluster_scoped_objects() {
        assert_eq!(
            entry(&meta("", "v1", "Service", "default", "podinfo")),
            ResourceRef {
                id: "default_podinfo__Service".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            entry(&meta("apps", "v1", "Deployment", "default", "podinfo")).id,
            "default_podinfo_apps_Deployment"
        );
        assert_eq!(
            entry(&meta("", "v1", "Namespace", "", "mynamespace")).id,
            "_mynamespace__Namespace"
        );
    }

    #[test]
    fn entries_round_trip_to_objects() {
        let m = meta(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "",
            "system:x",
        );
        assert_eq!(object_of(&entry(&m)), Ok(m));
        assert!(
            object_of(&ResourceRef {
                id: "bad".into(),
                version: "v1".into()
            })
            .is_err()
        );
    }

    #[test]
    fn stale_objects_are_those_that_left_the_inventory_whatever_their_version() {
        let a = meta("", "v1", "ConfigMap", "app", "a");
        let b = meta("", "v1", "ConfigMap", "app", "b");
        let c_old = meta("example.com", "v1beta1", "Widget", "app", "c");
        let c_new = meta("example.com", "v1", "Widget", "app", "c");
        let old = from_objects([&a, &b, &c_old]);
        let new = from_objects([&a, &c_new]);
        assert_eq!(stale(&old, &new), Ok(vec![b]));
    }

    #[test]
    fn merge_keeps_old_entries_and_adds_new_ones_once() {
        let a = meta("", "v1", "ConfigMap", "app", "a");
        let b = meta("", "v1", "ConfigMap", "app", "b");
        let merged = merge(&from_objects([&a]), &from_objects([&a, &b]));
        assert_eq!(merged, from_objects([&a, &b]));
    }
}
