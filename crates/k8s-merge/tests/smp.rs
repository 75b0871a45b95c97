//! Strategic merge patch semantics over the built-in schema.

use k8s_merge::{Schema, TypeRef, smp};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"template": {"spec": {"containers": containers}}}
    })
}

fn patch_deployment(original: &Value, patch: Value) -> Result<Value, smp::Error> {
    let ty = Schema::builtin()
        .lookup("apps/v1", "Deployment")
        .expect("Deployment in builtin schema");
    smp::apply(original, &patch, ty)
}

fn containers(v: &Value) -> Value {
    v.pointer("/spec/template/spec/containers")
        .cloned()
        .unwrap_or(Value::Null)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn containers_merge_by_name_and_keep_unpatched_fields() {
    let orig = deployment(json!([
        {"name": "app", "image": "app:1", "args": ["--a"]},
        {"name": "sidecar", "image": "side:1"}
    ]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(
        containers(&out),
        json!([
            {"name": "app", "image": "app:2", "args": ["--a"]},
            {"name": "sidecar", "image": "side:1"}
        ])
    );
    assert_eq!(out["metadata"], orig["metadata"]);
}

#[test]
fn list_order_follows_apimachinery_patch_then_server_interleaving() {
    // (original names, patch names, expected names)
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        // A new item has no live position, so apimachinery puts it before server-only items.
        (&["a", "b"], &["c"], &["c", "a", "b"]),
        (&["a", "b", "c"], &["c", "d"], &["a", "b", "c", "d"]),
        (&["a", "b", "c"], &["d", "a"], &["d", "a", "b", "c"]),
        (&["a", "b"], &["c", "a"], &["c", "a", "b"]),
        (&["a", "b", "c"], &["b"], &["a", "b", "c"]),
        (&[], &["x", "y"], &["x", "y"]),
    ];
    for (orig, patch, want) in cases {
        let orig_list: Vec<Value> = orig.iter().map(|n| json!({"name": n})).collect();
        let patch_list: Vec<Value> = patch
            .iter()
            .map(|n| json!({"name": n, "image": "i"}))
            .collect();
        let out = patch_deployment(
            &deployment(Value::Array(orig_list)),
            json!({"spec": {"template": {"spec": {"containers": patch_list}}}}),
        )
        .unwrap();
        assert_eq!(
            names(&containers(&out)),
            *want,
            "orig {orig:?} patch {patch:?}"
        );
    }
}

#[test]
fn env_merges_by_name_inside_a_container() {
    let orig = deployment(json!([{"name": "app", "env": [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}
    ]}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}
    ]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(
        containers(&out)[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
    );
}

#[test]
fn ports_merge_by_container_port() {
    let orig = deployment(json!([{"name": "app", "ports": [
        {"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}
    ]}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 443, "protocol": "TCP"}, {"containerPort": 9090}]}
    ]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(
        containers(&out)[0]["ports"],
        json!([
            {"containerPort": 80, "name": "http"},
            {"containerPort": 443, "name": "https", "protocol": "TCP"},
            {"containerPort": 9090}
        ])
    );
}

#[test]
fn patch_delete_directive_removes_list_item_by_merge_key() {
    let orig = deployment(json!([{"name": "app"}, {"name": "sidecar"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}
    ]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(containers(&out), json!([{"name": "app"}]));
}

#[test]
fn patch_replace_directive_in_list_replaces_whole_list() {
    let orig = deployment(json!([{"name": "app", "image": "a"}, {"name": "sidecar"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "new", "image": "n"}, {"$patch": "replace"}
    ]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(containers(&out), json!([{"name": "new", "image": "n"}]));
}

#[test]
fn map_directives_replace_and_delete() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
    let out = patch_deployment(
        &orig,
        json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    assert_eq!(out["metadata"]["annotations"], json!({"x": "y"}));

    let out =
        patch_deployment(&orig, json!({"metadata": {"labels": {"$patch": "delete"}}})).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
}

#[test]
fn null_deletes_keys_and_unmatched_nulls_are_ignored() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}}});
    let out = patch_deployment(
        &orig,
        json!({"metadata": {"labels": {"a": null, "zzz": null}, "annotations": {"n": null, "k": "v"}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    assert_eq!(out["metadata"]["annotations"], json!({"k": "v"}));
}

#[test]
fn lists_without_patch_strategy_are_replaced() {
    let orig = deployment(json!([{"name": "app", "args": ["a", "b"], "command": ["x"]}]));
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["c"]}]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(containers(&out)[0]["args"], json!(["c"]));
    assert_eq!(containers(&out)[0]["command"], json!(["x"]));
}

#[test]
fn primitive_merge_list_is_a_set_union_in_patch_order() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["a", "b"]}});
    let out = patch_deployment(&orig, json!({"metadata": {"finalizers": ["c", "a"]}})).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn delete_from_primitive_list_removes_values() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["a", "b", "c"]}});
    let out = patch_deployment(
        &orig,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    // On a missing list it is a no-op, not an insertion.
    let bare = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let out = patch_deployment(
        &bare,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
    )
    .unwrap();
    assert_eq!(out["metadata"], json!({"name": "web"}));
}

#[test]
fn set_element_order_reorders_merged_list() {
    let orig = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
        "containers": [{"name": "a", "image": "new"}]
    }}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(names(&containers(&out)), ["c", "a", "b"]);
    assert_eq!(containers(&out)[1]["image"], json!("new"));
    assert!(
        out.pointer("/spec/template/spec/$setElementOrder~1containers")
            .is_none()
    );
}

#[test]
fn set_element_order_without_patch_list_only_reorders() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["a", "b", "c"]}});
    let out = patch_deployment(
        &orig,
        json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "b", "a"]));
}

#[test]
fn set_element_order_inconsistent_with_patch_is_an_error() {
    let orig = deployment(json!([{"name": "a"}, {"name": "b"}]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b"}, {"name": "a"}]
    }}}});
    assert!(matches!(
        patch_deployment(&orig, patch),
        Err(smp::Error::BadDirective { .. })
    ));
}

#[test]
fn retain_keys_clears_unlisted_fields_of_strategy() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_on_volume_item_switches_volume_source() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"template": {"spec": {"volumes": [
        {"name": "data", "emptyDir": {}}, {"name": "other", "emptyDir": {}}
    ]}}}});
    let patch = json!({"spec": {"template": {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}
    ]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cm"}}, {"name": "other", "emptyDir": {}}])
    );
}

#[test]
fn retain_keys_rejects_patch_setting_unlisted_field() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": {}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    assert!(matches!(
        patch_deployment(&orig, patch),
        Err(smp::Error::BadDirective { .. })
    ));
}

#[test]
fn malformed_patches_are_errors_not_panics() {
    let orig = deployment(json!([{"name": "a"}]));
    let cases = [
        json!({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}}}),
        json!({"metadata": {"$patch": "bogus"}}),
        json!({"spec": {"template": {"spec": {"containers": [["nested"]]}}}}),
        json!({"metadata": {"finalizers": ["a", {"b": 1}]}}),
        json!({"metadata": {"$retainKeys": "name"}}),
        json!({"metadata": {"$setElementOrder/finalizers": "x"}}),
    ];
    for patch in cases {
        let with_fin = {
            let mut o = orig.clone();
            o["metadata"]["finalizers"] = json!(["a"]);
            o
        };
        assert!(
            patch_deployment(&with_fin, patch.clone()).is_err(),
            "patch {patch}"
        );
    }
    assert!(patch_deployment(&orig, json!([1])).is_err());
}

#[test]
fn new_keys_have_directives_and_nulls_resolved() {
    let orig = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let patch = json!({"spec": {"replicas": 2, "paused": null, "template": {"spec": {"containers": [
        {"name": "gone", "$patch": "delete"}, {"name": "app", "env": [{"name": "A", "value": null}]}
    ]}}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(
        out["spec"],
        json!({"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A"}]}]}}})
    );
}

#[test]
fn service_ports_merge_by_port() {
    let ty = Schema::builtin().lookup("v1", "Service").unwrap();
    let orig = json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [
        {"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}
    ]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}});
    let out = smp::apply(&orig, &patch, ty).unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}])
    );
}

#[test]
fn atomic_tolerations_are_replaced() {
    let ty = Schema::builtin().lookup("v1", "Pod").unwrap();
    let orig = json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c"}]}});
    let patch = json!({"spec": {"tolerations": [{"key": "b"}]}});
    let out = smp::apply(&orig, &patch, ty).unwrap();
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
}

#[test]
fn type_change_replaces_value() {
    let ty = Schema::builtin().lookup("v1", "ConfigMap").unwrap();
    let orig = json!({"data": {"a": "1"}, "metadata": {"labels": "oops"}});
    let out = smp::apply(&orig, &json!({"metadata": {"labels": {"x": "y"}}}), ty).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"x": "y"}));
    assert_eq!(out["data"], json!({"a": "1"}));
}

#[test]
fn untyped_values_fall_back_to_json_merge_patch() {
    let orig = json!({"spec": {"items": [{"name": "a"}, {"name": "b"}], "keep": 1, "drop": 2}});
    let patch = json!({"spec": {"items": [{"name": "c"}], "drop": null}});
    let out = smp::apply(&orig, &patch, TypeRef::untyped()).unwrap();
    assert_eq!(out, json!({"spec": {"items": [{"name": "c"}], "keep": 1}}));
}

#[test]
fn unknown_fields_of_typed_objects_merge_like_maps() {
    let orig = deployment(json!([{"name": "app"}]));
    let patch = json!({"spec": {"extra": {"a": [1]}}});
    let out = patch_deployment(&orig, patch).unwrap();
    assert_eq!(out["spec"]["extra"], json!({"a": [1]}));
}
