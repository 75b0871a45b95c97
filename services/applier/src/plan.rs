//! What an apply would do, per object and field, by server-side dry-run: the library behind the
//! applier's gRPC `Diff` (with fields) and `Plan` (actions only).

use std::collections::HashSet;

use ferry_proto::apply::v1::{DiffResponse, FieldChange as PbFieldChange, ObjectDiff};
use flux_api::kustomize::ResourceInventory;
use futures::StreamExt;
use serde_json::Value;

use crate::apply::{
    Applier, ApplyError, ApplyOptions, RECONCILE_ANNOTATION, SSA_ANNOTATION, SsaPolicy, is_disabled,
};
use crate::drift::{self, FieldChange};
use crate::inventory;
use crate::manifests::{Manifest, ObjMeta};

/// What the apply would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAction {
    /// The object does not exist (or its kind is not served yet) and would be created.
    Create,
    /// The object exists and would change.
    Configure,
    /// The object exists and would not change.
    Unchanged,
    /// The object left the source and would be pruned.
    Prune,
    /// The object's annotations exclude it from the apply.
    Skip,
}

impl PlanAction {
    /// The word used in `ObjectDiff.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "created",
            Self::Configure => "configured",
            Self::Unchanged => "unchanged",
            Self::Prune => "pruned",
            Self::Skip => "skipped",
        }
    }
}

/// The planned change of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    /// The object.
    pub meta: ObjMeta,
    /// What would happen.
    pub action: PlanAction,
    /// The fields that would change (for `Configure`).
    pub changes: Vec<FieldChange>,
}

/// Dry-runs every object (concurrently, bounded) and lists stale inventory entries as pruned
/// when `prune` is set.
pub async fn plan(
    applier: &Applier,
    objects: Vec<Manifest>,
    opts: &ApplyOptions,
    old_inventory: &ResourceInventory,
    prune: bool,
) -> Result<Vec<PlannedChange>, ApplyError> {
    let results: Vec<Result<PlannedChange, ApplyError>> = futures::stream::iter(objects)
        .map(|m| plan_one(applier, m, opts))
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        out.push(r?);
    }
    if prune {
        let planned: HashSet<String> = out.iter().map(|p| p.meta.inventory_id()).collect();
        for entry in &old_inventory.entries {
            if planned.contains(&entry.id) {
                continue;
            }
            if let Ok(meta) = inventory::object_of(entry) {
                out.push(PlannedChange {
                    meta,
                    action: PlanAction::Prune,
                    changes: Vec::new(),
                });
            }
        }
    }
    Ok(out)
}

async fn plan_one(
    applier: &Applier,
    manifest: Manifest,
    opts: &ApplyOptions,
) -> Result<PlannedChange, ApplyError> {
    let policy = SsaPolicy::from_annotation(manifest.annotation(SSA_ANNOTATION));
    if policy == SsaPolicy::Ignore || is_disabled(manifest.annotation(RECONCILE_ANNOTATION)) {
        return Ok(PlannedChange {
            meta: manifest.meta,
            action: PlanAction::Skip,
            changes: Vec::new(),
        });
    }
    let fallback = manifest.meta.clone();
    let (prepared, resolved) = match applier.prepare(manifest, opts).await {
        Ok(p) => p,
        Err(ApplyError::UnknownKind { .. }) => {
            return Ok(PlannedChange {
                meta: fallback,
                action: PlanAction::Create,
                changes: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    let meta = prepared.meta.clone();
    match applier.dry_run(&prepared, &resolved).await? {
        None => Ok(PlannedChange {
            meta,
            action: PlanAction::Create,
            changes: Vec::new(),
        }),
        Some(_) if policy == SsaPolicy::IfNotPresent => Ok(PlannedChange {
            meta,
            action: PlanAction::Skip,
            changes: Vec::new(),
        }),
        Some((live, result)) => {
            let changes = drift::diff(&live, &result);
            let action = if changes.is_empty() {
                PlanAction::Unchanged
            } else {
                PlanAction::Configure
            };
            Ok(PlannedChange {
                meta,
                action,
                changes,
            })
        }
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A small unified-style diff of the changed fields (`-path: before` / `+path: after`).
pub fn field_diff_text(changes: &[FieldChange]) -> String {
    let mut out = String::new();
    for c in changes {
        if c.before.is_some() {
            out.push_str(&format!("-{}: {}\n", c.path, show(&c.before)));
        }
        if c.after.is_some() {
            out.push_str(&format!("+{}: {}\n", c.path, show(&c.after)));
        }
    }
    out
}

/// The gRPC answer; `with_fields` false gives `Plan` (actions only), true gives `Diff`.
pub fn to_proto(revision: &str, planned: &[PlannedChange], with_fields: bool) -> DiffResponse {
    DiffResponse {
        revision: revision.to_owned(),
        objects: planned
            .iter()
            .map(|p| ObjectDiff {
                api_version: p.meta.api_version(),
                kind: p.meta.kind.clone(),
                namespace: p.meta.namespace.clone(),
                name: p.meta.name.clone(),
                action: p.action.as_str().to_owned(),
                changes: if with_fields {
                    p.changes
                        .iter()
                        .map(|c| PbFieldChange {
                            path: c.path.clone(),
                            before: show(&c.before),
                            after: show(&c.after),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                unified_diff: if with_fields {
                    field_diff_text(&p.changes)
                } else {
                    String::new()
                },
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plan_without_fields_lists_actions_only_and_diff_has_fields() {
        let p = PlannedChange {
            meta: ObjMeta {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: "app".into(),
                name: "web".into(),
            },
            action: PlanAction::Configure,
            changes: vec![FieldChange {
                path: "/spec/replicas".into(),
                before: Some(json!(1)),
                after: Some(json!(2)),
            }],
        };
        let plan = to_proto("rev", std::slice::from_ref(&p), false);
        assert_eq!(plan.objects[0].action, "configured");
        assert_eq!(plan.objects[0].api_version, "apps/v1");
        assert!(plan.objects[0].changes.is_empty());
        let diff = to_proto("rev", &[p], true);
        assert_eq!(diff.objects[0].changes[0].before, "1");
        assert_eq!(
            diff.objects[0].unified_diff,
            "-/spec/replicas: 1\n+/spec/replicas: 2\n"
        );
    }
}
