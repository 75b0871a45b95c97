//! Garbage collection of objects that left the source, in reverse apply order, never touching
//! objects marked `prune: disabled` or owned by another Kustomization; and the deletion policy
//! applied when a Kustomization itself is deleted.

use std::time::Duration;

use flux_api::kustomize::DeletionPolicy;
use kube::api::DeleteParams;
use tokio::time::Instant;

use crate::apply::{
    Applier, ApplyError, OWNER_NAME_LABEL, Owner, PRUNE_ANNOTATION, RECONCILE_ANNOTATION,
    is_disabled,
};
use crate::manifests::{ObjMeta, annotation, label};
use crate::order;

/// What happened to one stale object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneAction {
    /// Deleted.
    Deleted,
    /// Already gone (or its kind is no longer served).
    Gone,
    /// Kept, with the reason.
    Skipped(String),
}

/// The result for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneEntry {
    /// The object.
    pub meta: ObjMeta,
    /// What happened.
    pub action: PruneAction,
}

/// Why pruning failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PruneError {
    /// Deleting (or reading) an object failed.
    #[error(transparent)]
    Api(#[from] ApplyError),
    /// Objects were still there when the deadline passed (`WaitForTermination`).
    #[error("timed out waiting for the deletion of: {0}")]
    Timeout(String),
}

/// The decision for an object found in the cluster: delete it, or keep it and say why.
pub fn prune_decision(owner: &Owner, live: &serde_json::Value) -> Option<String> {
    if is_disabled(annotation(live, PRUNE_ANNOTATION)) {
        return Some(format!("{PRUNE_ANNOTATION} is disabled"));
    }
    if is_disabled(annotation(live, RECONCILE_ANNOTATION)) {
        return Some(format!("{RECONCILE_ANNOTATION} is disabled"));
    }
    if !owner.owns(live) {
        return Some(match label(live, OWNER_NAME_LABEL) {
            Some(other) => format!("owned by another Kustomization ({other})"),
            None => "not labelled as owned by this Kustomization".to_owned(),
        });
    }
    None
}

/// Deletes stale objects in reverse apply order (background propagation).
pub async fn prune(
    applier: &Applier,
    mut stale: Vec<ObjMeta>,
    owner: &Owner,
) -> Result<Vec<PruneEntry>, PruneError> {
    order::prune_order(&mut stale);
    let mut out = Vec::with_capacity(stale.len());
    for meta in stale {
        let action = delete_one(applier, &meta, owner).await?;
        out.push(PruneEntry { meta, action });
    }
    Ok(out)
}

async fn delete_one(
    applier: &Applier,
    meta: &ObjMeta,
    owner: &Owner,
) -> Result<PruneAction, PruneError> {
    let resolved = match applier.resolve(meta).await {
        Ok(r) => r,
        Err(ApplyError::UnknownKind { .. }) => return Ok(PruneAction::Gone),
        Err(e) => return Err(e.into()),
    };
    let api = applier.api_for(&resolved, &meta.namespace);
    let Some(live) = api
        .get_opt(&meta.name)
        .await
        .map_err(|e| ApplyError::api(meta, "get", e))?
    else {
        return Ok(PruneAction::Gone);
    };
    if live.metadata.deletion_timestamp.is_some() {
        return Ok(PruneAction::Gone);
    }
    let value = serde_json::to_value(&live).unwrap_or_default();
    if let Some(reason) = prune_decision(owner, &value) {
        return Ok(PruneAction::Skipped(reason));
    }
    match api.delete(&meta.name, &DeleteParams::background()).await {
        Ok(_) => Ok(PruneAction::Deleted),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(PruneAction::Gone),
        Err(e) => Err(ApplyError::api(meta, "delete", e).into()),
    }
}

/// What to do with the inventory when the Kustomization is deleted.
pub fn deletes_on_finalize(policy: DeletionPolicy, prune: bool) -> bool {
    match policy {
        DeletionPolicy::MirrorPrune => prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    }
}

/// Applies the deletion policy to the inventory of a deleted Kustomization: deletes its
/// objects (MirrorPrune with prune, Delete), and for WaitForTermination waits until they are
/// gone or the deadline passes; Orphan (and MirrorPrune without prune) leaves them.
pub async fn finalize(
    applier: &Applier,
    inventory: Vec<ObjMeta>,
    owner: &Owner,
    policy: DeletionPolicy,
    prune_enabled: bool,
    deadline: Instant,
) -> Result<Vec<PruneEntry>, PruneError> {
    if !deletes_on_finalize(policy, prune_enabled) {
        return Ok(Vec::new());
    }
    let entries = prune(applier, inventory, owner).await?;
    if policy == DeletionPolicy::WaitForTermination {
        let deleted: Vec<&ObjMeta> = entries
            .iter()
            .filter(|e| e.action == PruneAction::Deleted)
            .map(|e| &e.meta)
            .collect();
        loop {
            let mut remaining = Vec::new();
            for meta in &deleted {
                let resolved = match applier.resolve(meta).await {
                    Ok(r) => r,
                    Err(_) => continue,
                };
                let api = applier.api_for(&resolved, &meta.namespace);
                if api
                    .get_opt(&meta.name)
                    .await
                    .map_err(|e| ApplyError::api(meta, "get", e))?
                    .is_some()
                {
                    remaining.push(meta.to_string());
                }
            }
            if remaining.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(PruneError::Timeout(remaining.join(", ")));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::OWNER_NAMESPACE_LABEL;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            name: "app".into(),
            namespace: "flux-system".into(),
        }
    }

    #[test]
    fn owned_objects_are_deleted() {
        let live = json!({"metadata": {"labels": {OWNER_NAME_LABEL: "app", OWNER_NAMESPACE_LABEL: "flux-system"}}});
        assert_eq!(prune_decision(&owner(), &live), None);
    }

    #[test]
    fn prune_disabled_objects_are_kept() {
        let live = json!({"metadata": {
            "labels": {OWNER_NAME_LABEL: "app", OWNER_NAMESPACE_LABEL: "flux-system"},
            "annotations": {PRUNE_ANNOTATION: "Disabled"}}});
        assert!(prune_decision(&owner(), &live).is_some_and(|r| r.contains("disabled")));
    }

    #[test]
    fn objects_of_another_kustomization_are_kept() {
        let live = json!({"metadata": {"labels": {OWNER_NAME_LABEL: "other", OWNER_NAMESPACE_LABEL: "flux-system"}}});
        assert!(prune_decision(&owner(), &live).is_some_and(|r| r.contains("another")));
    }

    #[test]
    fn deletion_policy_matches_flux() {
        assert!(deletes_on_finalize(DeletionPolicy::MirrorPrune, true));
        assert!(!deletes_on_finalize(DeletionPolicy::MirrorPrune, false));
        assert!(deletes_on_finalize(DeletionPolicy::Delete, false));
        assert!(deletes_on_finalize(
            DeletionPolicy::WaitForTermination,
            false
        ));
        assert!(!deletes_on_finalize(DeletionPolicy::Orphan, true));
    }
}
