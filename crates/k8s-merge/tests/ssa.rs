//! Server-side apply field management over the built-in schema and registered CRDs.

use k8s_merge::Schema;
use k8s_merge::ssa::{self, ApplyError, ApplyOutcome, ManagedFieldsEntry, Operation};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:01:00Z";
const T2: &str = "2026-01-01T00:02:00Z";

fn nginx_deployment(replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}
                ]}
            }
        }
    })
}

fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    managed: &[ManagedFieldsEntry],
    now: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let ty = Schema::builtin().type_of(applied);
    ssa::apply_at(live, applied, manager, force, managed, ty, now)
}

fn update(
    live: Option<&Value>,
    new: &Value,
    manager: &str,
    managed: &[ManagedFieldsEntry],
    now: &str,
) -> ApplyOutcome {
    let ty = Schema::builtin().type_of(new);
    ssa::update_at(live, new, manager, managed, ty, now).expect("update")
}

fn entry<'a>(out: &'a ApplyOutcome, manager: &str) -> Option<&'a ManagedFieldsEntry> {
    out.managed_fields.iter().find(|e| e.manager == manager)
}

#[test]
fn apply_of_deployment_records_managed_fields_like_the_apiserver() {
    let out = apply(None, &nginx_deployment(3), "kubectl", false, &[], T0).unwrap();
    let expected = json!([{
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {},
                            "f:containerPort": {}
                        }}
                    }}}
                }
            }
        }
    }]);
    assert_eq!(serde_json::to_value(&out.managed_fields).unwrap(), expected);
    assert_eq!(out.object["metadata"]["managedFields"], expected);
    assert_eq!(out.object["spec"]["replicas"], json!(3));
    assert!(out.changed);
}

#[test]
fn create_by_update_records_added_fields_like_the_apiserver() {
    // A defaulted Deployment as the apiserver stores it after `kubectl create`.
    let created = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx", "resources": {}, "imagePullPolicy": "Always"}],
                    "restartPolicy": "Always",
                    "securityContext": {}
                }
            }
        }
    });
    let out = update(None, &created, "kubectl-create", &[], T0);
    let e = entry(&out, "kubectl-create").unwrap();
    assert_eq!(e.operation, Operation::Update);
    assert_eq!(
        e.fields_v1,
        json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": {
                    "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                    "f:type": {}
                },
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {}
                        }},
                        "f:restartPolicy": {},
                        "f:securityContext": {}
                    }
                }
            }
        })
    );
}

#[test]
fn conflict_with_client_side_apply_manager_has_apiserver_message() {
    let created = update(
        None,
        &nginx_deployment(3),
        ssa::KUBECTL_CLIENT_SIDE_APPLY,
        &[],
        T0,
    );
    let err = apply(
        Some(&created.object),
        &nginx_deployment(5),
        "ferry",
        false,
        &created.managed_fields,
        T1,
    )
    .unwrap_err();
    let ApplyError::Conflict { conflicts } = &err else {
        panic!("expected conflict, got {err:?}");
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
    assert_eq!(conflicts[0].field_path, ".spec.replicas");
    assert_eq!(
        conflicts[0].cause_message(),
        "conflict with \"kubectl-client-side-apply\" using apps/v1"
    );
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn conflict_message_groups_several_conflicts_by_manager() {
    let mut base = nginx_deployment(3);
    base["spec"]["minReadySeconds"] = json!(5);
    let a = apply(None, &base, "alpha", false, &[], T0).unwrap();
    let mut next = nginx_deployment(4);
    next["spec"]["minReadySeconds"] = json!(6);
    let err = apply(Some(&a.object), &next, "beta", false, &a.managed_fields, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"alpha\":\n- .spec.minReadySeconds\n- .spec.replicas"
    );
}

#[test]
fn force_apply_takes_ownership_from_other_manager() {
    let created = update(
        None,
        &nginx_deployment(3),
        "kubectl-client-side-apply",
        &[],
        T0,
    );
    let out = apply(
        Some(&created.object),
        &nginx_deployment(5),
        "ferry",
        true,
        &created.managed_fields,
        T1,
    )
    .unwrap();
    assert_eq!(out.object["spec"]["replicas"], json!(5));
    let other = entry(&out, "kubectl-client-side-apply").unwrap();
    assert!(other.fields_v1["f:spec"].get("f:replicas").is_none());
    assert!(other.fields_v1["f:spec"].get("f:selector").is_some());
    let mine = entry(&out, "ferry").unwrap();
    assert_eq!(mine.fields_v1["f:spec"]["f:replicas"], json!({}));
    assert_eq!(mine.time.as_deref(), Some(T1));
    // Apply entries sort before Update entries.
    assert_eq!(out.managed_fields[0].operation, Operation::Apply);
}

#[test]
fn two_appliers_with_same_value_share_ownership_without_conflict() {
    let a = apply(None, &nginx_deployment(3), "alpha", false, &[], T0).unwrap();
    let b = apply(
        Some(&a.object),
        &nginx_deployment(3),
        "beta",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    assert!(!b.changed);
    for m in ["alpha", "beta"] {
        assert_eq!(
            entry(&b, m).unwrap().fields_v1["f:spec"]["f:replicas"],
            json!({}),
            "{m}"
        );
    }
    // Then alpha changing the shared field conflicts with beta.
    let err = apply(
        Some(&b.object),
        &nginx_deployment(7),
        "alpha",
        false,
        &b.managed_fields,
        T2,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("conflict with \"beta\": .spec.replicas"),
        "{err}"
    );
}

#[test]
fn field_dropped_from_config_is_removed_when_no_one_else_owns_it() {
    let mut first = nginx_deployment(3);
    first["metadata"]["labels"]["tier"] = json!("web");
    first["spec"]["minReadySeconds"] = json!(10);
    let a = apply(None, &first, "alpha", false, &[], T0).unwrap();
    let b = apply(
        Some(&a.object),
        &nginx_deployment(3),
        "alpha",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    assert_eq!(b.object["metadata"]["labels"], json!({"app": "nginx"}));
    assert!(b.object["spec"].get("minReadySeconds").is_none());
    assert!(b.changed);
    let e = entry(&b, "alpha").unwrap();
    assert!(e.fields_v1["f:spec"].get("f:minReadySeconds").is_none());
}

#[test]
fn field_dropped_from_config_is_kept_when_another_manager_owns_it() {
    let mut first = nginx_deployment(3);
    first["metadata"]["labels"]["tier"] = json!("web");
    let a = apply(None, &first, "alpha", false, &[], T0).unwrap();
    let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"tier": "web"}}});
    let b = apply(
        Some(&a.object),
        &other,
        "beta",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    let c = apply(
        Some(&b.object),
        &nginx_deployment(3),
        "alpha",
        false,
        &b.managed_fields,
        T2,
    )
    .unwrap();
    assert_eq!(
        c.object["metadata"]["labels"],
        json!({"app": "nginx", "tier": "web"})
    );
    // And when beta drops it too, it goes.
    other["metadata"]["labels"] = json!({});
    let d = apply(
        Some(&c.object),
        &other,
        "beta",
        false,
        &c.managed_fields,
        T2,
    )
    .unwrap();
    assert_eq!(d.object["metadata"]["labels"], json!({"app": "nginx"}));
}

#[test]
fn dropped_container_is_removed_and_kept_container_is_untouched() {
    let mut two = nginx_deployment(1);
    two["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "side:1"}));
    let a = apply(None, &two, "alpha", false, &[], T0).unwrap();
    let b = apply(
        Some(&a.object),
        &nginx_deployment(1),
        "alpha",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    let names: Vec<&str> = b.object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx"]);
}

#[test]
fn associative_list_items_merge_by_key_across_managers() {
    let a = apply(None, &nginx_deployment(1), "alpha", false, &[], T0).unwrap();
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "side:1"}]}}}});
    let b = apply(
        Some(&a.object),
        &sidecar,
        "beta",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    let containers = &b.object["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().unwrap().len(), 2);
    assert_eq!(containers[0]["image"], json!("nginx:1.14.2"));
    assert_eq!(containers[1], json!({"name": "sidecar", "image": "side:1"}));
    let beta = entry(&b, "beta").unwrap();
    assert!(
        beta.fields_v1["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get("k:{\"name\":\"sidecar\"}")
            .is_some()
    );
}

#[test]
fn atomic_selector_and_atomic_list_are_replaced_wholesale() {
    let mut live = nginx_deployment(1);
    live["spec"]["selector"]["matchLabels"]["extra"] = json!("x");
    live["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["a", "b"]);
    let a = update(None, &live, "creator", &[], T0);
    let mut cfg = nginx_deployment(1);
    cfg["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["c"]);
    let out = apply(
        Some(&a.object),
        &cfg,
        "creator2",
        true,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    assert_eq!(
        out.object["spec"]["selector"],
        json!({"matchLabels": {"app": "nginx"}})
    );
    assert_eq!(
        out.object["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["c"])
    );
}

#[test]
fn set_list_values_are_owned_per_value() {
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "finalizers": ["a.io/x", "b.io/y"]}});
    let out = apply(None, &cfg, "alpha", false, &[], T0).unwrap();
    assert_eq!(
        entry(&out, "alpha").unwrap().fields_v1,
        json!({"f:metadata": {"f:finalizers": {"v:\"a.io/x\"": {}, "v:\"b.io/y\"": {}}}})
    );
}

#[test]
fn noop_reapply_keeps_time_and_reports_unchanged() {
    let a = apply(None, &nginx_deployment(2), "alpha", false, &[], T0).unwrap();
    let b = apply(
        Some(&a.object),
        &nginx_deployment(2),
        "alpha",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    assert!(!b.changed);
    assert_eq!(entry(&b, "alpha").unwrap().time.as_deref(), Some(T0));
    assert_eq!(b.object, a.object);
}

#[test]
fn update_takes_changed_fields_from_appliers_and_keeps_the_rest() {
    let a = apply(None, &nginx_deployment(2), "alpha", false, &[], T0).unwrap();
    let mut scaled = a.object.clone();
    scaled["spec"]["replicas"] = json!(4);
    let out = update(Some(&a.object), &scaled, "hpa", &a.managed_fields, T1);
    assert_eq!(
        entry(&out, "hpa").unwrap().fields_v1,
        json!({"f:spec": {"f:replicas": {}}})
    );
    let alpha = entry(&out, "alpha").unwrap();
    assert!(alpha.fields_v1["f:spec"].get("f:replicas").is_none());
    assert!(alpha.fields_v1["f:spec"].get("f:selector").is_some());
    assert_eq!(alpha.time.as_deref(), Some(T0));
}

#[test]
fn update_removing_a_field_drops_it_from_every_manager() {
    let a = apply(None, &nginx_deployment(2), "alpha", false, &[], T0).unwrap();
    let mut edited = a.object.clone();
    edited["metadata"]["labels"] = json!({});
    let out = update(Some(&a.object), &edited, "editor", &a.managed_fields, T1);
    let alpha = entry(&out, "alpha").unwrap();
    assert!(alpha.fields_v1["f:metadata"].get("f:labels").is_none());
    // The editor changed nothing it could own, so it gets no entry.
    assert!(entry(&out, "editor").is_none());
}

#[test]
fn managed_fields_round_trip_through_the_object() {
    let a = apply(None, &nginx_deployment(2), "alpha", false, &[], T0).unwrap();
    let parsed = ssa::managed_fields_of(&a.object).unwrap();
    assert_eq!(parsed, a.managed_fields);
    let mut obj = a.object.clone();
    ssa::set_managed_fields(&mut obj, &[]);
    assert!(obj["metadata"].get("managedFields").is_none());
}

#[test]
fn applied_config_with_duplicate_or_keyless_list_items_is_invalid() {
    let mut dup = nginx_deployment(1);
    dup["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "nginx", "image": "other"}));
    assert!(matches!(
        apply(None, &dup, "alpha", false, &[], T0),
        Err(ApplyError::Invalid(_))
    ));
    assert!(matches!(
        apply(None, &json!([1]), "alpha", false, &[], T0),
        Err(ApplyError::Invalid(_))
    ));
}

#[test]
fn malformed_managed_fields_are_reported() {
    let bad = vec![ManagedFieldsEntry {
        manager: "x".into(),
        operation: Operation::Update,
        api_version: "apps/v1".into(),
        time: None,
        fields_type: "FieldsV1".into(),
        fields_v1: json!({"q:bogus": {}}),
        subresource: String::new(),
    }];
    assert!(matches!(
        apply(None, &nginx_deployment(1), "alpha", false, &bad, T0),
        Err(ApplyError::InvalidManagedFields(_))
    ));
}

#[test]
fn crd_schema_list_map_keys_drive_apply_merge() {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "spec": {"group": "ferry.dev", "names": {"kind": "Widget"}, "versions": [{
            "name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "parts": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["id"],
                        "items": {"type": "object", "properties": {
                            "id": {"type": "string"}, "size": {"type": "integer"}}}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}
            }}}
        }]}
    });
    let mut schema = Schema::builtin().clone();
    let registered = schema.register_crd(&crd).unwrap();
    assert_eq!(
        registered,
        vec![("ferry.dev/v1".to_string(), "Widget".to_string())]
    );
    let ty = schema.lookup("ferry.dev/v1", "Widget").unwrap();
    let w = |parts: Value, tags: Value| {
        json!({"apiVersion": "ferry.dev/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"parts": parts, "tags": tags}})
    };
    let a = ssa::apply_at(
        None,
        &w(json!([{"id": "a", "size": 1}]), json!(["x"])),
        "alpha",
        false,
        &[],
        ty,
        T0,
    )
    .unwrap();
    let b = ssa::apply_at(
        Some(&a.object),
        &json!({"apiVersion": "ferry.dev/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"parts": [{"id": "b", "size": 2}]}}),
        "beta",
        false,
        &a.managed_fields,
        ty,
        T1,
    )
    .unwrap();
    assert_eq!(
        b.object["spec"]["parts"],
        json!([{"id": "a", "size": 1}, {"id": "b", "size": 2}])
    );
    assert_eq!(
        entry(&b, "beta").unwrap().fields_v1,
        json!({"f:spec": {"f:parts": {"k:{\"id\":\"b\"}": {".": {}, "f:id": {}, "f:size": {}}}}})
    );
    // An item without its key (and no default) is rejected.
    let keyless = w(json!([{"size": 3}]), json!([]));
    assert!(matches!(
        ssa::apply_at(
            Some(&b.object),
            &keyless,
            "delta",
            false,
            &b.managed_fields,
            ty,
            T2
        ),
        Err(ApplyError::Invalid(_))
    ));
    // Atomic (default) list: another applier replacing it conflicts.
    let err = ssa::apply_at(
        Some(&b.object),
        &w(json!([{"id": "a", "size": 1}]), json!(["y"])),
        "gamma",
        false,
        &b.managed_fields,
        ty,
        T2,
    )
    .unwrap_err();
    assert!(err.to_string().contains(".spec.tags"), "{err}");
}

#[test]
fn untyped_objects_own_every_map_entry() {
    let obj = json!({"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"},
        "spec": {"a": 1, "list": [1, 2]}});
    let ty = k8s_merge::TypeRef::untyped();
    let out = ssa::apply_at(None, &obj, "alpha", false, &[], ty, T0).unwrap();
    assert_eq!(
        out.managed_fields[0].fields_v1,
        json!({"f:spec": {".": {}, "f:a": {}, "f:list": {}}})
    );
}

#[test]
fn manager_name_defaults_from_user_agent() {
    assert_eq!(
        ssa::manager_from_user_agent("kubectl/v1.36.0 (linux/amd64) kubernetes/abcdef"),
        "kubectl"
    );
    assert_eq!(ssa::manager_from_user_agent(""), "");
    assert_eq!(ssa::manager_from_user_agent(&"x".repeat(300)).len(), 128);
}

#[test]
fn pod_created_by_controller_matches_real_kube_controller_manager_entry() {
    // A ReplicaSet-created Pod as submitted (after defaulting), and the entry a v1.3x apiserver
    // recorded for it.
    let probe = |delay: i64| {
        json!({"failureThreshold": 3, "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
            "initialDelaySeconds": delay, "periodSeconds": delay, "successThreshold": 1, "timeoutSeconds": 1})
    };
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "frontend-7fbcf7f966-", "namespace": "default",
            "labels": {"app": "guestbook", "app.kubernetes.io/component": "web",
                "app.kubernetes.io/name": "frontend", "app.kubernetes.io/part-of": "guestbook",
                "pod-template-hash": "7fbcf7f966", "tier": "frontend"},
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true,
                "kind": "ReplicaSet", "name": "frontend-7fbcf7f966", "uid": "0f1c0ad2-cff7-43ed-a1f3-9adecf09b4fe"}]
        },
        "spec": {
            "containers": [{
                "name": "php-redis", "image": "nginx:1.21.6", "imagePullPolicy": "IfNotPresent",
                "env": [{"name": "GET_HOSTS_FROM", "value": "dns"},
                    {"name": "PASSWORD_SERVICE_HOST", "valueFrom": {"secretKeyRef": {"name": "frontend-secret", "key": "password-service-host"}}}],
                "livenessProbe": probe(10),
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "readinessProbe": probe(5),
                "resources": {"limits": {"cpu": "200m", "memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "100Mi"}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {}, "terminationGracePeriodSeconds": 30
        }
    });
    let out = update(None, &pod, "kube-controller-manager", &[], T0);
    let probe_fields = json!({".": {}, "f:failureThreshold": {},
        "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}},
        "f:initialDelaySeconds": {}, "f:periodSeconds": {}, "f:successThreshold": {}, "f:timeoutSeconds": {}});
    let expected = json!({
        "f:metadata": {
            "f:generateName": {},
            "f:labels": {".": {}, "f:app": {}, "f:app.kubernetes.io/component": {}, "f:app.kubernetes.io/name": {},
                "f:app.kubernetes.io/part-of": {}, "f:pod-template-hash": {}, "f:tier": {}},
            "f:ownerReferences": {".": {}, "k:{\"uid\":\"0f1c0ad2-cff7-43ed-a1f3-9adecf09b4fe\"}": {}}
        },
        "f:spec": {
            "f:containers": {"k:{\"name\":\"php-redis\"}": {
                ".": {},
                "f:env": {".": {},
                    "k:{\"name\":\"GET_HOSTS_FROM\"}": {".": {}, "f:name": {}, "f:value": {}},
                    "k:{\"name\":\"PASSWORD_SERVICE_HOST\"}": {".": {}, "f:name": {},
                        "f:valueFrom": {".": {}, "f:secretKeyRef": {}}}},
                "f:image": {}, "f:imagePullPolicy": {},
                "f:livenessProbe": probe_fields,
                "f:name": {},
                "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                "f:readinessProbe": probe_fields,
                "f:resources": {".": {}, "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}},
                    "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
                "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}
            }},
            "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
            "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}
        }
    });
    let e = entry(&out, "kube-controller-manager").unwrap();
    assert_eq!(e.fields_v1, expected);
    assert_eq!(e.api_version, "v1");
    // Keys come out in structured-merge-diff order.
    let keys: Vec<&String> = e.fields_v1["f:spec"]["f:containers"]["k:{\"name\":\"php-redis\"}"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys[0], ".");
    assert_eq!(keys[1], "f:env");
}

#[test]
fn status_subresource_update_is_a_separate_manager_and_ignores_spec() {
    let created = update(None, &nginx_deployment(1), "kubectl-create", &[], T0);
    let mut with_status = created.object.clone();
    with_status["status"] = json!({"replicas": 1, "readyReplicas": 1});
    with_status["spec"]["replicas"] = json!(9);
    let only_status = ssa::FieldSet::from_paths([
        &[ssa::PathElement::Field("spec".into())][..],
        &[ssa::PathElement::Field("metadata".into())][..],
    ]);
    let ty = Schema::builtin().type_of(&with_status);
    let out = ssa::update_with(
        Some(&created.object),
        &with_status,
        "kube-controller-manager",
        &created.managed_fields,
        ty,
        ssa::WriteOptions {
            time: Some(T1),
            subresource: "status",
            ignored: Some(&only_status),
        },
    )
    .unwrap();
    let kcm = entry(&out, "kube-controller-manager").unwrap();
    assert_eq!(kcm.subresource, "status");
    assert_eq!(
        kcm.fields_v1,
        json!({"f:status": {"f:readyReplicas": {}, "f:replicas": {}}})
    );
    // The creator keeps .spec.replicas: the ignored spec change moved no ownership.
    let creator = entry(&out, "kubectl-create").unwrap();
    assert_eq!(creator.fields_v1["f:spec"]["f:replicas"], json!({}));
    let encoded = serde_json::to_value(kcm).unwrap();
    assert_eq!(encoded["subresource"], json!("status"));
}

#[test]
fn apply_through_a_subresource_is_a_distinct_manager_identity() {
    let main = apply(None, &nginx_deployment(1), "ctl", false, &[], T0).unwrap();
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment"}, "spec": {"replicas": 1}});
    let ty = Schema::builtin().type_of(&scale);
    let out = ssa::apply_with(
        Some(&main.object),
        &scale,
        "ctl",
        false,
        &main.managed_fields,
        ty,
        ssa::WriteOptions {
            time: Some(T1),
            subresource: "scale",
            ignored: None,
        },
    )
    .unwrap();
    let ctl: Vec<&ManagedFieldsEntry> = out
        .managed_fields
        .iter()
        .filter(|e| e.manager == "ctl")
        .collect();
    assert_eq!(ctl.len(), 2);
    assert_eq!(
        out.object["spec"]["selector"],
        json!({"matchLabels": {"app": "nginx"}})
    );
}

#[test]
fn first_apply_to_object_without_managed_fields_conflicts_with_before_first_apply() {
    let live = nginx_deployment(3);
    let err = apply(Some(&live), &nginx_deployment(4), "ferry", false, &[], T0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    // Same values: shared ownership with the synthetic manager.
    let out = apply(Some(&live), &nginx_deployment(3), "ferry", false, &[], T0).unwrap();
    assert!(entry(&out, ssa::BEFORE_FIRST_APPLY).is_some());
    assert!(entry(&out, "ferry").is_some());
}

#[test]
fn reset_fields_ignore_status_on_main_writes_and_spec_on_status_writes() {
    let ty = Schema::builtin().lookup("apps/v1", "Deployment").unwrap();
    let main = ssa::reset_fields(ty, "");
    let paths: Vec<String> = main.paths().iter().map(ToString::to_string).collect();
    assert_eq!(paths, [".status"]);
    let status = ssa::reset_fields(ty, "status");
    let paths: Vec<String> = status.paths().iter().map(ToString::to_string).collect();
    assert_eq!(paths, [".spec", ".metadata.labels"]);
    let cm = Schema::builtin().lookup("v1", "ConfigMap").unwrap();
    assert!(ssa::reset_fields(cm, "").is_empty());

    // A main-resource apply carrying status neither owns nor conflicts on it.
    let mut cfg = nginx_deployment(1);
    cfg["status"] = json!({"replicas": 5});
    let out = ssa::apply_with(
        None,
        &cfg,
        "ferry",
        false,
        &[],
        ty,
        ssa::WriteOptions {
            time: Some(T0),
            ignored: Some(&main),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(out.managed_fields[0].fields_v1.get("f:status").is_none());
}

#[test]
fn apply_list_merge_orders_shared_items_by_config_and_keeps_live_only_items() {
    // (live container names, applied names, merged names), structured-merge-diff's list merge.
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&["a", "b", "c"], &["c", "a"], &["b", "c", "a"]),
        (&["a", "b"], &["b", "x"], &["a", "b", "x"]),
        (&["a"], &["x", "a"], &["x", "a"]),
        (&[], &["x", "y"], &["x", "y"]),
    ];
    for (live_names, applied_names, want) in cases {
        let containers = |names: &[&str]| -> Value {
            Value::Array(
                names
                    .iter()
                    .map(|n| json!({"name": n, "image": "i"}))
                    .collect(),
            )
        };
        let mut live = nginx_deployment(1);
        live["spec"]["template"]["spec"]["containers"] = containers(live_names);
        let created = update(None, &live, "creator", &[], T0);
        let mut cfg = nginx_deployment(1);
        cfg["spec"]["template"]["spec"]["containers"] = containers(applied_names);
        let out = apply(
            Some(&created.object),
            &cfg,
            "ferry",
            false,
            &created.managed_fields,
            T1,
        )
        .unwrap();
        let got: Vec<&str> = out.object["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, *want, "live {live_names:?} applied {applied_names:?}");
    }
}

#[test]
fn apply_merges_granular_maps_and_keeps_unowned_live_fields() {
    let mut live = nginx_deployment(1);
    live["metadata"]["annotations"] = json!({"keep": "me"});
    live["spec"]["paused"] = json!(true);
    let created = update(None, &live, "creator", &[], T0);
    let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "annotations": {"new": "x"}}});
    let out = apply(
        Some(&created.object),
        &cfg,
        "ferry",
        false,
        &created.managed_fields,
        T1,
    )
    .unwrap();
    assert_eq!(
        out.object["metadata"]["annotations"],
        json!({"keep": "me", "new": "x"})
    );
    assert_eq!(out.object["spec"]["paused"], json!(true));
    assert_eq!(
        entry(&out, "ferry").unwrap().fields_v1,
        json!({"f:metadata": {"f:annotations": {"f:new": {}}}})
    );
}

#[test]
fn applier_giving_up_a_shared_field_leaves_value_and_other_owner() {
    let a = apply(None, &nginx_deployment(3), "alpha", false, &[], T0).unwrap();
    let b = apply(
        Some(&a.object),
        &nginx_deployment(3),
        "beta",
        false,
        &a.managed_fields,
        T1,
    )
    .unwrap();
    let mut without_replicas = nginx_deployment(3);
    without_replicas["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    let c = apply(
        Some(&b.object),
        &without_replicas,
        "alpha",
        false,
        &b.managed_fields,
        T2,
    )
    .unwrap();
    assert_eq!(c.object["spec"]["replicas"], json!(3));
    assert!(
        entry(&c, "alpha").unwrap().fields_v1["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        entry(&c, "beta").unwrap().fields_v1["f:spec"]["f:replicas"],
        json!({})
    );
}

#[test]
fn dropping_the_last_label_keeps_metadata_and_the_labels_others_set() {
    let with_label = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "ferry-x", "labels": {"a": "b"}}
    });
    let first = apply(None, &with_label, "kubectl", false, &[], T0).expect("first apply");
    let mut live = first.object.clone();
    live["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!("ferry-x");
    let without = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ferry-x"}});
    let second = apply(
        Some(&live),
        &without,
        "kubectl",
        false,
        &first.managed_fields,
        T1,
    )
    .expect("second apply");
    assert_eq!(second.object["metadata"]["name"], "ferry-x");
    assert_eq!(
        second.object["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "ferry-x"}),
        "only the label the manager dropped goes"
    );
}
