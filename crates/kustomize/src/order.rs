//! Output ordering: kustomize's legacy kind order, or input (FIFO) order.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::kustomization::SortOptions;
use crate::resmap::ResMap;
use crate::resource::{Gvk, ResId};

/// kustomize's default "first" kinds.
pub const DEFAULT_ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// kustomize's default "last" kinds.
pub const DEFAULT_ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn or(s: &str, dflt: &'static str) -> String {
    if s.is_empty() {
        dflt.to_string()
    } else {
        s.to_string()
    }
}

/// The `group_version_kind` text kustomize sorts kinds by (`~G`/`~V`/`~K` for empty parts).
pub fn gvk_sort_string(g: &Gvk) -> String {
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

fn id_sort_string(id: &ResId) -> String {
    let g = &id.gvk;
    format!(
        "{}_{}_{}|{}|{}",
        or(&g.kind, "~K"),
        or(&g.version, "~V"),
        or(&g.group, "~G"),
        or(&id.namespace, "~X"),
        or(&id.name, "~N")
    )
}

/// The default legacy order index of a kind (negative first, positive last, 0 otherwise).
pub fn type_order(kind: &str) -> i64 {
    if let Some(i) = DEFAULT_ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - DEFAULT_ORDER_FIRST.len() as i64;
    }
    if let Some(i) = DEFAULT_ORDER_LAST.iter().position(|k| *k == kind) {
        return 1 + i as i64;
    }
    0
}

/// Sorts resources by kind order (then group/version/kind, then namespace and name).
pub fn legacy_sort(rm: &mut ResMap, first: &[String], last: &[String]) {
    let mut orders: HashMap<&str, i64> = HashMap::new();
    for (i, k) in first.iter().enumerate() {
        orders.insert(k, i as i64 - first.len() as i64);
    }
    for (i, k) in last.iter().enumerate() {
        orders.insert(k, 1 + i as i64);
    }
    let cmp_gvk = |a: &Gvk, sa: &str, b: &Gvk, sb: &str| -> Ordering {
        let ia = orders.get(a.kind.as_str()).copied().unwrap_or(0);
        let ib = orders.get(b.kind.as_str()).copied().unwrap_or(0);
        if ia != ib {
            return ia.cmp(&ib);
        }
        if a.kind == "Namespace"
            && b.kind == "Namespace"
            && (a.group.is_empty() || b.group.is_empty())
        {
            sb.cmp(sa)
        } else {
            sa.cmp(sb)
        }
    };
    // Ids and sort strings are computed once per object, not per comparison.
    let keyed: Vec<(ResId, String, String)> = rm
        .resources
        .iter()
        .map(|r| {
            let id = r.cur_id();
            let g = gvk_sort_string(&id.gvk);
            let s = id_sort_string(&id);
            (id, g, s)
        })
        .collect();
    let mut idx: Vec<usize> = (0..keyed.len()).collect();
    idx.sort_by(|&a, &b| {
        let (ia, ga, sa) = &keyed[a];
        let (ib, gb, sb) = &keyed[b];
        if ia.gvk != ib.gvk {
            cmp_gvk(&ia.gvk, ga, &ib.gvk, gb)
        } else {
            sa.cmp(sb)
        }
    });
    let mut slots: Vec<Option<crate::resource::Resource>> = std::mem::take(&mut rm.resources)
        .into_iter()
        .map(Some)
        .collect();
    rm.resources = idx.into_iter().filter_map(|i| slots[i].take()).collect();
}

/// Applies the top-level kustomization's `sortOptions` (legacy order when absent).
pub fn apply(rm: &mut ResMap, opts: Option<&SortOptions>) -> Result<()> {
    let defaults = || {
        (
            DEFAULT_ORDER_FIRST
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            DEFAULT_ORDER_LAST
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
    };
    match opts {
        None => {
            let (f, l) = defaults();
            legacy_sort(rm, &f, &l);
        }
        Some(o) => match o.order.as_str() {
            "fifo" => {
                if o.legacy_sort_options.is_some() {
                    return Err(Error::Build(
                        "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'"
                            .into(),
                    ));
                }
            }
            "legacy" => {
                let (f, l) = match &o.legacy_sort_options {
                    Some(l) => (l.order_first.clone(), l.order_last.clone()),
                    None => defaults(),
                };
                legacy_sort(rm, &f, &l);
            }
            _ => {
                return Err(Error::Build(
                    "the field 'sortOptions.order' must be one of [fifo, legacy]".into(),
                ));
            }
        },
    }
    Ok(())
}
