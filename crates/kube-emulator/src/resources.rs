//! The registry of served resources: built-in kinds plus kinds defined by CRDs.

use serde_json::Value;

/// Which name rule a resource's `metadata.name` must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Label1035,
    /// Path segment rules only (RBAC kinds).
    PathSegment,
}

/// One served resource in one group-version.
#[derive(Clone, Debug)]
pub struct ResourceDef {
    /// API group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster scoped.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories (e.g. `all`).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists.
    pub has_status: bool,
    /// Whether `metadata.generation` is maintained.
    pub has_generation: bool,
    /// Name validation rule.
    pub name_rule: NameRule,
    /// Structural schema (CRDs only).
    pub schema: Option<Value>,
    /// Additional printer columns (CRDs only).
    pub printer_columns: Vec<Value>,
    /// True for kinds defined by a CRD.
    pub custom: bool,
}

impl ResourceDef {
    /// `group/version` or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this is a create-only access review (answered, never stored).
    pub fn is_review(&self) -> bool {
        self.group == "authorization.k8s.io"
    }

    /// Storage key: group and plural.
    pub fn key(&self) -> Gr {
        Gr {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    /// The verbs served.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.is_review() {
            vec!["create"]
        } else if self.plural == "namespaces" {
            vec![
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

/// Group + plural resource: the storage key, shared by all versions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gr {
    /// API group.
    pub group: String,
    /// Plural resource.
    pub plural: String,
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    generation: bool,
}

const BUILTINS: &[Builtin] = &[
    b(
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        false,
        true,
        false,
    ),
    b(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        true,
        &["cm"],
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "secrets",
        "Secret",
        true,
        &[],
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "services",
        "Service",
        true,
        &["svc"],
        true,
        true,
        false,
    ),
    b(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        false,
        false,
        false,
    ),
    b(
        "",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        false,
        false,
        false,
    ),
    b("", "v1", "pods", "Pod", true, &["po"], true, true, true),
    b(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        false,
        true,
        false,
    ),
    b(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        true,
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
        true,
        true,
    ),
    b("batch", "v1", "jobs", "Job", true, &[], true, true, true),
    b(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        true,
        true,
        true,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        false,
        true,
        true,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
        false,
        true,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        false,
        false,
    ),
    b(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        false,
        false,
        false,
    ),
    b(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        false,
        true,
        true,
    ),
    b(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        true,
        true,
        false,
    ),
    b(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        false,
        false,
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        &[],
        false,
        false,
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
        &[],
        false,
        false,
        false,
    ),
    b(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        false,
        true,
        true,
    ),
];

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    generation: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        all,
        status,
        generation,
    }
}

/// The set of served resources.
#[derive(Clone, Debug)]
pub struct Registry {
    builtins: Vec<ResourceDef>,
    custom: Vec<ResourceDef>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// Registry with the built-in kinds only.
    pub fn new() -> Self {
        let builtins = BUILTINS
            .iter()
            .map(|x| ResourceDef {
                group: x.group.into(),
                version: x.version.into(),
                plural: x.plural.into(),
                singular: x.kind.to_lowercase(),
                kind: x.kind.into(),
                namespaced: x.namespaced,
                short_names: x.short.iter().map(|s| s.to_string()).collect(),
                categories: if x.all {
                    vec!["all".into()]
                } else if x.group == "apiextensions.k8s.io" {
                    vec!["api-extensions".into()]
                } else {
                    vec![]
                },
                has_status: x.status,
                has_generation: x.generation,
                name_rule: match x.plural {
                    "namespaces" => NameRule::Label,
                    "services" => NameRule::Label1035,
                    p if p.starts_with("role") || p.starts_with("cluster") => NameRule::PathSegment,
                    _ => NameRule::Subdomain,
                },
                schema: None,
                printer_columns: vec![],
                custom: false,
            })
            .collect();
        Self {
            builtins,
            custom: vec![],
        }
    }

    /// Replaces the CRD-defined resources.
    pub fn set_custom(&mut self, custom: Vec<ResourceDef>) {
        self.custom = custom;
    }

    /// All served resources.
    pub fn all(&self) -> impl Iterator<Item = &ResourceDef> {
        self.builtins.iter().chain(self.custom.iter())
    }

    /// Looks up a resource by group, version and plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.all()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// Any served version of a group+plural (the first one).
    pub fn find_gr(&self, gr: &Gr) -> Option<&ResourceDef> {
        self.all()
            .find(|d| d.group == gr.group && d.plural == gr.plural)
    }

    /// Served versions of a group, in order of first appearance.
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = vec![];
        for d in self.all() {
            if d.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == d.group) {
                Some((_, vs)) => {
                    if !vs.contains(&d.version) {
                        vs.push(d.version.clone());
                    }
                }
                None => out.push((d.group.clone(), vec![d.version.clone()])),
            }
        }
        for (_, vs) in &mut out {
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    (level, major, num.parse().unwrap_or(0))
}

/// `(group, version, kind)` of every built-in kind, plus the `autoscaling/v1` Scale the scale
/// subresource serves: the roots the OpenAPI generator keeps definitions for.
pub fn builtin_gvks() -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = BUILTINS
        .iter()
        .map(|b| (b.group.into(), b.version.into(), b.kind.into()))
        .collect();
    out.push(("autoscaling".into(), "v1".into(), "Scale".into()));
    out
}
