//! FieldsV1 encoding and field-set algebra.

use k8s_merge::ssa::fieldsv1::{self, FieldsV1Error};
use k8s_merge::ssa::{FieldSet, Path, PathElement};
use pretty_assertions::assert_eq;
use serde_json::json;

fn f(name: &str) -> PathElement {
    PathElement::Field(name.to_string())
}

fn k(fields: &[(&str, serde_json::Value)]) -> PathElement {
    PathElement::Key(
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
    )
}

#[test]
fn encodes_members_children_and_dot_like_structured_merge_diff() {
    let container = k(&[("name", json!("nginx"))]);
    let set = FieldSet::from_paths([
        &[f("spec"), f("replicas")][..],
        &[f("spec"), f("containers"), container.clone()][..],
        &[f("spec"), f("containers"), container.clone(), f("image")][..],
        &[
            f("metadata"),
            f("finalizers"),
            PathElement::Value(json!("a")),
        ][..],
        &[f("items"), PathElement::Index(2)][..],
    ]);
    assert_eq!(
        fieldsv1::encode(&set),
        json!({
            "f:items": {"i:2": {}},
            "f:metadata": {"f:finalizers": {"v:\"a\"": {}}},
            "f:spec": {
                "f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}}},
                "f:replicas": {}
            }
        })
    );
}

#[test]
fn decode_then_encode_round_trips_apiserver_documents() {
    let doc = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}},
            "f:selector": {}
        }
    });
    let set = fieldsv1::decode(&doc).unwrap();
    assert_eq!(set.len(), 6);
    assert!(set.has(&[f("metadata"), f("labels")]));
    assert!(set.has(&[f("metadata"), f("labels"), f("app")]));
    assert!(!set.has(&[f("metadata")]));
    assert_eq!(fieldsv1::encode(&set), doc);
}

#[test]
fn key_fields_are_sorted_by_name_whatever_the_input_order() {
    let doc = json!({"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}});
    let set = fieldsv1::decode(&doc).unwrap();
    assert_eq!(
        fieldsv1::encode(&set),
        json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}})
    );
}

#[test]
fn decode_rejects_malformed_documents() {
    let cases = [
        (json!([]), "array root"),
        (json!({"x:1": {}}), "unknown prefix"),
        (json!({"nocolon": {}}), "no prefix"),
        (json!({"k:notjson": {}}), "bad key json"),
        (json!({"k:[1]": {}}), "key not an object"),
        (json!({"i:-1": {}}), "bad index"),
        (json!({"f:a": 1}), "non-object child"),
    ];
    for (doc, why) in cases {
        assert!(fieldsv1::decode(&doc).is_err(), "{why}");
    }
    assert_eq!(
        fieldsv1::decode(&json!({"q:z": {}})),
        Err(FieldsV1Error::BadKey("q:z".into()))
    );
}

#[test]
fn paths_display_like_apiserver_conflict_fields() {
    let p = Path(vec![
        f("spec"),
        f("template"),
        f("spec"),
        f("containers"),
        k(&[("name", json!("nginx"))]),
        f("ports"),
        k(&[("containerPort", json!(80)), ("protocol", json!("TCP"))]),
        f("name"),
    ]);
    assert_eq!(
        p.to_string(),
        ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].name"
    );
    assert_eq!(
        Path(vec![f("finalizers"), PathElement::Value(json!("x"))]).to_string(),
        ".finalizers[=\"x\"]"
    );
    assert_eq!(
        Path(vec![f("a"), PathElement::Index(3)]).to_string(),
        ".a[3]"
    );
}

#[test]
fn set_algebra_union_intersection_difference() {
    let a = FieldSet::from_paths([&[f("a")][..], &[f("b"), f("c")][..], &[f("b"), f("d")][..]]);
    let b = FieldSet::from_paths([&[f("a")][..], &[f("b"), f("d")][..], &[f("e")][..]]);
    assert_eq!(a.union(&b).len(), 4);
    assert_eq!(
        a.intersection(&b),
        FieldSet::from_paths([&[f("a")][..], &[f("b"), f("d")][..]])
    );
    assert_eq!(
        a.difference(&b),
        FieldSet::from_paths([&[f("b"), f("c")][..]])
    );
    let parent = FieldSet::from_paths([&[f("b")][..]]);
    assert_eq!(a.difference(&parent), a);
    assert_eq!(
        a.recursive_difference(&parent),
        FieldSet::from_paths([&[f("a")][..]])
    );
    assert!(a.difference(&a).is_empty());
    assert!(FieldSet::new().is_empty());
}

#[test]
fn paths_iterate_members_before_children_in_element_order() {
    let set = FieldSet::from_paths([
        &[f("spec"), f("z")][..],
        &[f("spec"), f("a")][..],
        &[f("metadata"), f("labels"), f("x")][..],
        &[f("kind")][..],
    ]);
    let paths: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
    assert_eq!(paths, [".kind", ".metadata.labels.x", ".spec.a", ".spec.z"]);
}

#[test]
fn path_elements_order_fields_then_keys_then_values_then_indexes() {
    let mut v = vec![
        PathElement::Index(0),
        PathElement::Value(json!(1)),
        k(&[("a", json!("x"))]),
        f("z"),
        PathElement::Value(json!("s")),
        f("a"),
    ];
    v.sort();
    assert_eq!(
        v,
        vec![
            f("a"),
            f("z"),
            k(&[("a", json!("x"))]),
            PathElement::Value(json!(1)),
            PathElement::Value(json!("s")),
            PathElement::Index(0),
        ]
    );
}
