//! kustomize's builtin field specs (labels, annotations, images, name references, vars...).

use super::{NameBackRef, TransformerConfig};
use crate::fieldspec::FieldSpec;

impl TransformerConfig {
    /// kustomize's built-in configuration.
    pub fn builtin() -> Self {
        let mut c = Self {
            name_prefix: vec![FieldSpec::any("metadata/name", false)],
            name_suffix: vec![FieldSpec::any("metadata/name", false)],
            ..Self::default()
        };
        c.namespace = vec![
            FieldSpec::for_kind("Namespace", "metadata/name", true),
            FieldSpec {
                group: "apiregistration.k8s.io".into(),
                ..FieldSpec::for_kind("APIService", "spec/service/namespace", true)
            },
            FieldSpec {
                group: "apiextensions.k8s.io".into(),
                ..FieldSpec::for_kind(
                    "CustomResourceDefinition",
                    "spec/conversion/webhook/clientConfig/service/namespace",
                    false,
                )
            },
        ];
        let meta_labels = metadata_fieldspecs("labels");
        c.template_labels = meta_labels.clone();
        c.common_labels = selector_fieldspecs();
        c.common_labels.extend(meta_labels);
        c.common_labels.push(FieldSpec {
            group: "apps".into(),
            ..FieldSpec::for_kind(
                "StatefulSet",
                "spec/volumeClaimTemplates[]/metadata/labels",
                true,
            )
        });
        c.common_annotations = metadata_fieldspecs("annotations");
        for p in ["spec", "spec/template/spec"] {
            for sub in [
                "containers[]/image",
                "initContainers[]/image",
                "volumes[]/image/reference",
            ] {
                c.images.push(FieldSpec::any(&format!("{p}/{sub}"), true));
            }
        }
        for k in [
            "Deployment",
            "ReplicationController",
            "ReplicaSet",
            "StatefulSet",
        ] {
            c.replicas
                .push(FieldSpec::for_kind(k, "spec/replicas", true));
        }
        c.name_reference = name_references();
        c.var_reference = var_references();
        c.sorted()
    }
}

fn with_group(group: &str, fs: FieldSpec) -> FieldSpec {
    FieldSpec {
        group: group.to_string(),
        ..fs
    }
}

fn metadata_fieldspecs(field: &str) -> Vec<FieldSpec> {
    let create = true;
    let mut v = vec![
        FieldSpec::any(&format!("metadata/{field}"), create),
        FieldSpec {
            version: "v1".into(),
            ..FieldSpec::for_kind(
                "ReplicationController",
                &format!("spec/template/metadata/{field}"),
                create,
            )
        },
    ];
    for k in ["Deployment", "ReplicaSet", "DaemonSet"] {
        v.push(FieldSpec::for_kind(
            k,
            &format!("spec/template/metadata/{field}"),
            create,
        ));
    }
    let sts = FieldSpec::for_kind(
        "StatefulSet",
        &format!("spec/template/metadata/{field}"),
        create,
    );
    v.push(if field == "labels" {
        with_group("apps", sts)
    } else {
        sts
    });
    v.push(with_group(
        "batch",
        FieldSpec::for_kind("Job", &format!("spec/template/metadata/{field}"), create),
    ));
    v.push(with_group(
        "batch",
        FieldSpec::for_kind(
            "CronJob",
            &format!("spec/jobTemplate/metadata/{field}"),
            create,
        ),
    ));
    v.push(with_group(
        "batch",
        FieldSpec::for_kind(
            "CronJob",
            &format!("spec/jobTemplate/spec/template/metadata/{field}"),
            create,
        ),
    ));
    v
}

fn selector_fieldspecs() -> Vec<FieldSpec> {
    let mut v = vec![
        FieldSpec {
            version: "v1".into(),
            ..FieldSpec::for_kind("Service", "spec/selector", true)
        },
        FieldSpec {
            version: "v1".into(),
            ..FieldSpec::for_kind("ReplicationController", "spec/selector", true)
        },
        FieldSpec::for_kind("Deployment", "spec/selector/matchLabels", true),
    ];
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    for p in affinity {
        v.push(with_group(
            "apps",
            FieldSpec::for_kind("Deployment", p, false),
        ));
    }
    v.push(FieldSpec::for_kind(
        "ReplicaSet",
        "spec/selector/matchLabels",
        true,
    ));
    v.push(FieldSpec::for_kind(
        "DaemonSet",
        "spec/selector/matchLabels",
        true,
    ));
    v.push(with_group(
        "apps",
        FieldSpec::for_kind("StatefulSet", "spec/selector/matchLabels", true),
    ));
    for p in affinity {
        v.push(with_group(
            "apps",
            FieldSpec::for_kind("StatefulSet", p, false),
        ));
    }
    v.push(with_group(
        "batch",
        FieldSpec::for_kind("Job", "spec/selector/matchLabels", false),
    ));
    v.push(with_group(
        "batch",
        FieldSpec::for_kind(
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
    ));
    v.push(with_group(
        "policy",
        FieldSpec::for_kind("PodDisruptionBudget", "spec/selector/matchLabels", false),
    ));
    for p in [
        "spec/podSelector/matchLabels",
        "spec/ingress/from/podSelector/matchLabels",
        "spec/egress/to/podSelector/matchLabels",
    ] {
        v.push(with_group(
            "networking.k8s.io",
            FieldSpec::for_kind("NetworkPolicy", p, false),
        ));
    }
    v
}

/// Kinds carrying a pod spec, with the path to it.
const POD_SPEC_KINDS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
];

const WORKLOADS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
];

fn pod_refs(subpaths: &[&str]) -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (kind, prefix) in POD_SPEC_KINDS {
        for sub in subpaths {
            let mut fs = FieldSpec::for_kind(kind, &format!("{prefix}/{sub}"), false);
            if *kind == "Pod" {
                fs.version = "v1".into();
            }
            v.push(fs);
        }
    }
    v
}

fn workload_refs(sub: &str) -> Vec<FieldSpec> {
    WORKLOADS
        .iter()
        .map(|(k, p)| FieldSpec::for_kind(k, &format!("{p}/{sub}"), false))
        .collect()
}

fn backref(kind: &str, group: &str, version: &str, field_specs: Vec<FieldSpec>) -> NameBackRef {
    NameBackRef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        field_specs,
    }
}

fn name_references() -> Vec<NameBackRef> {
    let hpa = || {
        vec![FieldSpec::for_kind(
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
            false,
        )]
    };
    let mut out = vec![
        backref("Deployment", "", "", hpa()),
        backref("ReplicationController", "", "", hpa()),
        backref("ReplicaSet", "", "", hpa()),
        backref("StatefulSet", "", "", hpa()),
    ];
    let mut cm = pod_refs(&[
        "volumes/configMap/name",
        "containers/env/valueFrom/configMapKeyRef/name",
        "initContainers/env/valueFrom/configMapKeyRef/name",
        "containers/envFrom/configMapRef/name",
        "initContainers/envFrom/configMapRef/name",
        "volumes/projected/sources/configMap/name",
    ]);
    cm.push(FieldSpec::for_kind(
        "Node",
        "spec/configSource/configMap",
        false,
    ));
    cm.push(FieldSpec::for_kind("Role", "rules/resourceNames", false));
    cm.push(FieldSpec::for_kind(
        "ClusterRole",
        "rules/resourceNames",
        false,
    ));
    cm.push(FieldSpec::for_kind(
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        false,
    ));
    out.push(backref("ConfigMap", "", "v1", cm));
    let mut secret = pod_refs(&[
        "volumes/secret/secretName",
        "containers/env/valueFrom/secretKeyRef/name",
        "initContainers/env/valueFrom/secretKeyRef/name",
        "containers/envFrom/secretRef/name",
        "initContainers/envFrom/secretRef/name",
        "imagePullSecrets/name",
        "volumes/projected/sources/secret/name",
    ]);
    for p in [
        "spec/tls/secretName",
        "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
    ] {
        secret.push(FieldSpec::for_kind("Ingress", p, false));
    }
    secret.push(FieldSpec::for_kind(
        "ServiceAccount",
        "imagePullSecrets/name",
        false,
    ));
    for p in [
        "secretName",
        "adminSecretName",
        "userSecretName",
        "secretRef",
    ] {
        secret.push(FieldSpec::for_kind(
            "StorageClass",
            &format!("parameters/{p}"),
            false,
        ));
    }
    secret.push(FieldSpec::for_kind("Role", "rules/resourceNames", false));
    secret.push(FieldSpec::for_kind(
        "ClusterRole",
        "rules/resourceNames",
        false,
    ));
    secret.push(FieldSpec {
        group: "serving.knative.dev".into(),
        version: "v1".into(),
        ..FieldSpec::for_kind(
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
            false,
        )
    });
    secret.push(FieldSpec::for_kind(
        "PersistentVolume",
        "spec/azureFile/secretName",
        false,
    ));
    out.push(backref("Secret", "", "v1", secret));
    let adm = "admissionregistration.k8s.io";
    out.push(backref(
        "Service",
        "",
        "v1",
        vec![
            with_group(
                "apps",
                FieldSpec::for_kind("StatefulSet", "spec/serviceName", false),
            ),
            FieldSpec::for_kind(
                "Ingress",
                "spec/rules/http/paths/backend/serviceName",
                false,
            ),
            FieldSpec::for_kind("Ingress", "spec/backend/serviceName", false),
            FieldSpec::for_kind(
                "Ingress",
                "spec/rules/http/paths/backend/service/name",
                false,
            ),
            FieldSpec::for_kind("Ingress", "spec/defaultBackend/service/name", false),
            with_group(
                "apiregistration.k8s.io",
                FieldSpec::for_kind("APIService", "spec/service/name", false),
            ),
            with_group(
                adm,
                FieldSpec::for_kind(
                    "ValidatingWebhookConfiguration",
                    "webhooks/clientConfig/service",
                    false,
                ),
            ),
            with_group(
                adm,
                FieldSpec::for_kind(
                    "MutatingWebhookConfiguration",
                    "webhooks/clientConfig/service",
                    false,
                ),
            ),
        ],
    ));
    let rbac = "rbac.authorization.k8s.io";
    out.push(backref(
        "Role",
        rbac,
        "",
        vec![with_group(
            rbac,
            FieldSpec::for_kind("RoleBinding", "roleRef/name", false),
        )],
    ));
    out.push(backref(
        "ClusterRole",
        rbac,
        "",
        vec![
            with_group(
                rbac,
                FieldSpec::for_kind("RoleBinding", "roleRef/name", false),
            ),
            with_group(
                rbac,
                FieldSpec::for_kind("ClusterRoleBinding", "roleRef/name", false),
            ),
        ],
    ));
    let mut sa = vec![
        with_group(rbac, FieldSpec::for_kind("RoleBinding", "subjects", false)),
        with_group(
            rbac,
            FieldSpec::for_kind("ClusterRoleBinding", "subjects", false),
        ),
    ];
    sa.extend(workload_refs("serviceAccountName"));
    out.push(backref("ServiceAccount", "", "v1", sa));
    out.push(backref(
        "PersistentVolumeClaim",
        "",
        "v1",
        workload_refs("volumes/persistentVolumeClaim/claimName"),
    ));
    out.push(backref(
        "PersistentVolume",
        "",
        "v1",
        vec![
            FieldSpec::for_kind("PersistentVolumeClaim", "spec/volumeName", false),
            FieldSpec::for_kind("ClusterRole", "rules/resourceNames", false),
        ],
    ));
    out.push(backref(
        "StorageClass",
        "storage.k8s.io",
        "v1",
        vec![
            FieldSpec::for_kind("PersistentVolume", "spec/storageClassName", false),
            FieldSpec::for_kind("PersistentVolumeClaim", "spec/storageClassName", false),
            FieldSpec::for_kind(
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
                false,
            ),
        ],
    ));
    out.push(backref(
        "PriorityClass",
        "scheduling.k8s.io",
        "v1",
        workload_refs("priorityClassName"),
    ));
    out.push(backref(
        "IngressClass",
        "networking.k8s.io/v1",
        "v1",
        vec![FieldSpec::for_kind(
            "Ingress",
            "spec/ingressClassName",
            false,
        )],
    ));
    out.push(backref(
        "ValidatingAdmissionPolicy",
        adm,
        "",
        vec![with_group(
            adm,
            FieldSpec::for_kind("ValidatingAdmissionPolicyBinding", "spec/policyName", false),
        )],
    ));
    out
}

fn var_references() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    let kinds = [
        (
            "CronJob",
            "spec/jobTemplate/spec/template/spec",
            "spec/jobTemplate/spec/template/volumes/nfs/server",
        ),
        (
            "DaemonSet",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        (
            "Deployment",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        (
            "Job",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        ("Pod", "spec", "spec/volumes/nfs/server"),
        (
            "ReplicaSet",
            "spec/template/spec",
            "spec/template/spec/volumes/nfs/server",
        ),
        (
            "StatefulSet",
            "spec/template/spec",
            "spec/volumeClaimTemplates/spec/nfs/server",
        ),
    ];
    for (kind, prefix, nfs) in kinds {
        for c in ["containers", "initContainers"] {
            for f in ["args", "command", "env/value", "volumeMounts/mountPath"] {
                v.push(FieldSpec::for_kind(
                    kind,
                    &format!("{prefix}/{c}/{f}"),
                    false,
                ));
            }
        }
        v.push(FieldSpec::for_kind(kind, nfs, false));
    }
    v.push(FieldSpec::for_kind(
        "Deployment",
        "spec/template/metadata/annotations",
        false,
    ));
    for p in ["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"] {
        v.push(FieldSpec::for_kind("Ingress", p, false));
    }
    v.push(FieldSpec::for_kind("Service", "spec/ports/port", false));
    v.push(FieldSpec::for_kind(
        "Service",
        "spec/ports/targetPort",
        false,
    ));
    v.push(FieldSpec::for_kind(
        "PersistentVolume",
        "spec/nfs/server",
        false,
    ));
    v.push(FieldSpec::any("metadata/labels", false));
    v.push(FieldSpec::any("metadata/annotations", false));
    v
}
