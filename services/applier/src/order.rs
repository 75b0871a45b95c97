//! Flux's apply order: objects sorted by kind and grouped into stages applied one after another.

use std::cmp::Ordering;

use crate::manifests::{Manifest, ObjMeta};

/// Kinds sorted first, in this order (fluxcd/pkg `ssa.ReconcileOrder.First`).
pub const ORDER_FIRST: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds sorted last, after every unknown kind (fluxcd/pkg `ssa.ReconcileOrder.Last`).
pub const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Rank of a kind: negative for [`ORDER_FIRST`], 0 for unknown kinds, positive for [`ORDER_LAST`].
pub fn kind_rank(kind: &str) -> i32 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i32 - ORDER_FIRST.len() as i32;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return i as i32 + 1;
    }
    0
}

/// Flux's order of two objects: kind rank, then group, kind, namespace, name.
pub fn compare(a: &ObjMeta, b: &ObjMeta) -> Ordering {
    kind_rank(&a.kind)
        .cmp(&kind_rank(&b.kind))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.namespace.cmp(&b.namespace))
        .then_with(|| a.name.cmp(&b.name))
}

/// Which stage an object is applied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageKind {
    /// CRDs, Namespaces and ClusterRoles; applied, then waited on (CRDs Established).
    ClusterDefinitions,
    /// Kinds whose name ends in `Class` (StorageClass, IngressClass, ...); applied, then waited on.
    Classes,
    /// Everything else, concurrently.
    Resources,
    /// Admission webhook configurations, last, so a webhook never blocks the objects it
    /// would intercept before its backing Service exists.
    Webhooks,
}

impl StageKind {
    /// The stage of an object of this group and kind.
    pub fn of(group: &str, kind: &str) -> Self {
        match (group, kind) {
            ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("", "Namespace")
            | ("rbac.authorization.k8s.io", "ClusterRole") => Self::ClusterDefinitions,
            (_, k) if ORDER_LAST.contains(&k) => Self::Webhooks,
            (_, k) if k.ends_with("Class") => Self::Classes,
            _ => Self::Resources,
        }
    }

    /// Whether the applier waits for the stage's objects to be usable before the next stage.
    pub fn waits(self) -> bool {
        matches!(self, Self::ClusterDefinitions | Self::Classes)
    }
}

/// Objects applied together (concurrently, bounded) before the next stage starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Which stage this is.
    pub kind: StageKind,
    /// Its objects in Flux's order.
    pub objects: Vec<Manifest>,
}

/// Sorts objects in Flux's apply order (in place).
pub fn sort(objects: &mut [Manifest]) {
    objects.sort_by(|a, b| compare(&a.meta, &b.meta));
}

/// Splits objects into the stages to apply in sequence; empty stages are left out.
pub fn stages(mut objects: Vec<Manifest>) -> Vec<Stage> {
    sort(&mut objects);
    let mut out: Vec<Stage> = Vec::new();
    for kind in [
        StageKind::ClusterDefinitions,
        StageKind::Classes,
        StageKind::Resources,
        StageKind::Webhooks,
    ] {
        let (these, rest): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .partition(|o| StageKind::of(&o.meta.group, &o.meta.kind) == kind);
        objects = rest;
        if !these.is_empty() {
            out.push(Stage {
                kind,
                objects: these,
            });
        }
    }
    out
}

/// The order objects are deleted in: the reverse of the apply order.
pub fn prune_order(objects: &mut [ObjMeta]) {
    objects.sort_by(|a, b| {
        let sa = StageKind::of(&a.group, &a.kind);
        let sb = StageKind::of(&b.group, &b.kind);
        sb.cmp(&sa).then_with(|| compare(b, a))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::parse;

    fn bundle() -> Vec<Manifest> {
        let yaml = [
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "",
                "hook",
            ),
            ("apps/v1", "Deployment", "app", "web"),
            ("example.com/v1", "Widget", "app", "w1"),
            ("v1", "Service", "app", "web"),
            ("networking.k8s.io/v1", "IngressClass", "", "nginx"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
            ("v1", "Namespace", "", "app"),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "widgets.example.com",
            ),
            ("v1", "ConfigMap", "app", "b"),
            ("v1", "ConfigMap", "app", "a"),
        ]
        .iter()
        .map(|(api, kind, ns, name)| {
            let ns = if ns.is_empty() {
                String::new()
            } else {
                format!("\n  namespace: {ns}")
            };
            format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}{ns}\n")
        })
        .collect::<Vec<_>>()
        .join("---\n");
        parse(&yaml).expect("bundle parses")
    }

    fn names(stage: &Stage) -> Vec<String> {
        stage.objects.iter().map(|o| o.meta.to_string()).collect()
    }

    #[test]
    fn crds_namespaces_and_cluster_roles_come_first_then_classes_then_the_rest_then_webhooks() {
        let stages = stages(bundle());
        let kinds: Vec<_> = stages.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            vec![
                StageKind::ClusterDefinitions,
                StageKind::Classes,
                StageKind::Resources,
                StageKind::Webhooks
            ]
        );
        assert_eq!(
            names(&stages[0]),
            vec![
                "CustomResourceDefinition/widgets.example.com",
                "Namespace/app",
                "ClusterRole/reader"
            ]
        );
        assert_eq!(names(&stages[1]), vec!["IngressClass/nginx"]);
        assert_eq!(
            names(&stages[2]),
            vec![
                "ConfigMap/app/a",
                "ConfigMap/app/b",
                "Service/app/web",
                "Deployment/app/web",
                "Widget/app/w1"
            ]
        );
        assert_eq!(
            names(&stages[3]),
            vec!["ValidatingWebhookConfiguration/hook"]
        );
    }

    #[test]
    fn unknown_kinds_sort_after_known_and_before_webhooks() {
        assert!(kind_rank("Widget") > kind_rank("PodDisruptionBudget"));
        assert!(kind_rank("Widget") < kind_rank("MutatingWebhookConfiguration"));
        assert!(kind_rank("CustomResourceDefinition") < kind_rank("Namespace"));
    }

    #[test]
    fn prune_order_is_the_reverse_of_apply_order() {
        let objs = bundle();
        let mut metas: Vec<ObjMeta> = objs.iter().map(|o| o.meta.clone()).collect();
        let applied: Vec<String> = stages(objs)
            .into_iter()
            .flat_map(|s| s.objects)
            .map(|o| o.meta.to_string())
            .collect();
        prune_order(&mut metas);
        let mut pruned: Vec<String> = metas.iter().map(ToString::to_string).collect();
        pruned.reverse();
        assert_eq!(pruned, applied);
    }
}
