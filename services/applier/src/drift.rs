//! Drift: what differs between the cluster and what would be applied (server-side dry-run), per
//! object and field, corrected by applying or, in warn-only mode, only reported.
//!
//! Warn-only mode is a Ferry extension: the annotation `ferry.dev/drift: warn` on a
//! Kustomization makes a reconcile of an already-applied revision compare instead of apply;
//! drifted objects and fields are reported (a `Drifted` condition and a Kubernetes event) and the
//! cluster is left as it is. A new revision is still applied. Without the annotation (or with
//! `ferry.dev/drift: correct`) every reconcile applies, which corrects drift, and the fields it
//! changed are reported the same way.

use std::collections::BTreeSet;

use futures::StreamExt;
use kube::ResourceExt;
use serde_json::Value;

use crate::apply::{Applier, ApplyError, ApplyOptions, RECONCILE_ANNOTATION, SSA_ANNOTATION};
use crate::apply::{SsaPolicy, is_disabled};
use crate::manifests::{Manifest, ObjMeta};

/// Annotation on a Kustomization choosing the drift mode.
pub const DRIFT_ANNOTATION: &str = "ferry.dev/drift";
/// Value of [`DRIFT_ANNOTATION`] that reports drift without correcting it.
pub const DRIFT_WARN: &str = "warn";

/// Fields never compared: server-owned bookkeeping and status.
pub const IGNORED_PATHS: &[&str] = &[
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/uid",
    "/status",
];

/// How a Kustomization treats drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftMode {
    /// Apply, which corrects drift (Flux's behaviour).
    #[default]
    Correct,
    /// Only report drift of an already-applied revision.
    Warn,
}

impl DriftMode {
    /// The mode from a Kustomization's annotations.
    pub fn of(ks: &impl ResourceExt) -> Self {
        match ks.annotations().get(DRIFT_ANNOTATION) {
            Some(v) if v.eq_ignore_ascii_case(DRIFT_WARN) => Self::Warn,
            _ => Self::Correct,
        }
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// JSON pointer of the field, e.g. `/spec/replicas`.
    pub path: String,
    /// Value in the cluster (`None`: absent).
    pub before: Option<Value>,
    /// Value after the apply (`None`: removed).
    pub after: Option<Value>,
}

/// One object that differs from the desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// The object.
    pub meta: ObjMeta,
    /// It is missing from the cluster.
    pub missing: bool,
    /// The fields that differ (empty when missing).
    pub changes: Vec<FieldChange>,
}

/// The differences between `live` and `desired`, ignoring [`IGNORED_PATHS`]; arrays are
/// compared as whole values (a changed list is one change).
pub fn diff(live: &Value, desired: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(String::new(), Some(live), Some(desired), &mut out);
    out
}

fn walk(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    if IGNORED_PATHS.contains(&path.as_str()) {
        return;
    }
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let child = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                walk(child, a.get(k), b.get(k), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            path,
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

/// Compares the cluster with a dry-run apply of every object (concurrently, bounded); objects
/// that are skipped by their annotations are not compared.
pub async fn detect(
    applier: &Applier,
    objects: Vec<Manifest>,
    opts: &ApplyOptions,
) -> Result<Vec<Drift>, ApplyError> {
    let results: Vec<Result<Option<Drift>, ApplyError>> = futures::stream::iter(objects)
        .map(|m| async move {
            let policy = SsaPolicy::from_annotation(m.annotation(SSA_ANNOTATION));
            if matches!(policy, SsaPolicy::Ignore | SsaPolicy::IfNotPresent)
                || is_disabled(m.annotation(RECONCILE_ANNOTATION))
            {
                return Ok(None);
            }
            let meta = m.meta.clone();
            let (prepared, resolved) = match applier.prepare(m, opts).await {
                Ok(p) => p,
                Err(ApplyError::UnknownKind { .. }) => {
                    return Ok(Some(Drift {
                        meta,
                        missing: true,
                        changes: Vec::new(),
                    }));
                }
                Err(e) => return Err(e),
            };
            match applier.dry_run(&prepared, &resolved).await? {
                None => Ok(Some(Drift {
                    meta: prepared.meta,
                    missing: true,
                    changes: Vec::new(),
                })),
                Some((live, result)) => {
                    let changes = diff(&live, &result);
                    Ok((!changes.is_empty()).then_some(Drift {
                        meta: prepared.meta,
                        missing: false,
                        changes,
                    }))
                }
            }
        })
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut drifts = Vec::new();
    for r in results {
        if let Some(d) = r? {
            drifts.push(d);
        }
    }
    Ok(drifts)
}

/// A human summary: one line per object, `Kind/ns/name: /spec/replicas, /data/x` (or `missing`).
pub fn summary(drifts: &[Drift]) -> String {
    drifts
        .iter()
        .map(|d| {
            if d.missing {
                format!("{}: missing", d.meta)
            } else {
                let fields: Vec<&str> = d.changes.iter().map(|c| c.path.as_str()).collect();
                format!("{}: {}", d.meta, fields.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_changed_added_and_removed_fields_and_ignores_bookkeeping() {
        let live = json!({
            "metadata": {"name": "a", "resourceVersion": "5", "generation": 2,
                          "managedFields": [{"manager": "x"}], "labels": {"a/b": "1"}},
            "spec": {"replicas": 3, "extra": true, "ports": [1, 2]},
            "status": {"ready": 1}
        });
        let desired = json!({
            "metadata": {"name": "a", "resourceVersion": "6", "generation": 3,
                          "managedFields": [], "labels": {"a/b": "2"}},
            "spec": {"replicas": 1, "ports": [1, 2], "paused": false},
            "status": {"ready": 0}
        });
        let changes = diff(&live, &desired);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/metadata/labels/a~1b",
                "/spec/extra",
                "/spec/paused",
                "/spec/replicas"
            ]
        );
        assert_eq!(changes[3].before, Some(json!(3)));
        assert_eq!(changes[3].after, Some(json!(1)));
        assert_eq!(changes[1].after, None);
    }

    #[test]
    fn identical_objects_have_no_drift() {
        let v = json!({"spec": {"a": [1, {"b": 2}]}});
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn summary_names_objects_and_fields() {
        let d = Drift {
            meta: ObjMeta {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: "app".into(),
                name: "web".into(),
            },
            missing: false,
            changes: vec![FieldChange {
                path: "/spec/replicas".into(),
                before: Some(json!(2)),
                after: Some(json!(1)),
            }],
        };
        assert_eq!(summary(&[d]), "Deployment/app/web: /spec/replicas");
    }
}
