//! The schema table: generator output over a fixture, built-in lookups and CRD registration.

use k8s_merge::generator::{generate_table, render_table};
use k8s_merge::{ListType, MapType, PatchStrategy, Schema, TypeKind, TypeRef};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/openapi-v3/apis__demo.ferry.dev__v1_openapi.json");
const EXPECTED: &str = include_str!("fixtures/expected_schema_table.json");

fn fixture_table() -> String {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let table = generate_table(&[("fixture.json".to_string(), doc)]).unwrap();
    render_table(&table)
}

#[test]
fn generator_output_over_fixture_matches_expected_table() {
    assert_eq!(fixture_table(), EXPECTED);
}

#[test]
fn generated_fixture_table_loads_with_the_declared_semantics() {
    let schema = Schema::from_table_json(&fixture_table()).unwrap();
    let widget = schema.lookup("demo.ferry.dev/v1", "Widget").unwrap();
    let parts = widget.walk(["spec", "parts"]);
    assert_eq!(parts.list_type(), ListType::Map);
    assert_eq!(parts.list_map_keys(), ["name", "protocol"]);
    assert_eq!(parts.list_map_key_defaults(), [json!(""), json!("TCP")]);
    assert_eq!(
        parts.patch_strategy(),
        PatchStrategy {
            merge: true,
            replace: false,
            retain_keys: true
        }
    );
    assert_eq!(parts.patch_merge_key(), Some("name"));
    assert!(parts.is_required());
    // No list-type but patch strategy merge: associative on the merge key.
    let legacy = widget.walk(["spec", "legacy"]);
    assert_eq!(legacy.list_type(), ListType::Map);
    assert_eq!(legacy.list_map_keys(), ["name"]);
    assert_eq!(
        widget.walk(["spec", "selector"]).map_type(),
        MapType::Atomic
    );
    assert_eq!(
        widget.walk(["spec", "nodeSelector"]).map_type(),
        MapType::Atomic
    );
    assert_eq!(widget.walk(["spec", "size"]).kind(), TypeKind::Scalar);
    assert_eq!(widget.walk(["spec", "port"]).kind(), TypeKind::Scalar);
    assert_eq!(widget.walk(["spec", "raw"]).kind(), TypeKind::Untyped);
    assert_eq!(widget.walk(["spec", "args"]).list_type(), ListType::Atomic);
    assert!(widget.field("spec").is_default_empty());
    assert_eq!(
        widget.walk(["spec", "parts", "limits", "cpu"]).kind(),
        TypeKind::Scalar
    );
    assert!(schema.definition("dev.ferry.demo.v1.Unreachable").is_none());
}

#[test]
fn malformed_tables_are_errors() {
    for bad in [
        "not json",
        "{}",
        r#"{"types": {"a.B": {"fields": {"x": 3}}}}"#,
        r#"{"types": {"a.B": {"fields": {"x": "missing.Def"}}}}"#,
        r#"{"types": {}, "kinds": {"v1/X": "missing.Def"}}"#,
    ] {
        assert!(Schema::from_table_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn builtin_schema_knows_core_kinds_and_their_merge_rules() {
    let s = Schema::builtin();
    assert!(s.kinds().count() > 100);
    let deploy = s.lookup("apps/v1", "Deployment").unwrap();
    assert_eq!(deploy.name(), Some("io.k8s.api.apps.v1.Deployment"));
    let containers = deploy.walk(["spec", "template", "spec", "containers"]);
    assert_eq!(containers.patch_merge_key(), Some("name"));
    assert!(containers.patch_strategy().merge);
    assert_eq!(containers.list_type(), ListType::Map);
    assert_eq!(
        containers.items().name(),
        Some("io.k8s.api.core.v1.Container")
    );
    let ports = containers.items().field("ports");
    assert_eq!(ports.patch_merge_key(), Some("containerPort"));
    assert_eq!(ports.list_map_keys(), ["containerPort", "protocol"]);
    let volumes = deploy.walk(["spec", "template", "spec", "volumes"]);
    assert!(volumes.patch_strategy().merge && volumes.patch_strategy().retain_keys);
    assert!(
        deploy
            .walk(["spec", "strategy"])
            .patch_strategy()
            .retain_keys
    );
    assert_eq!(
        deploy.walk(["spec", "selector"]).map_type(),
        MapType::Atomic
    );
    assert!(deploy.walk(["spec", "replicas"]).is_atomic());
    assert_eq!(
        deploy.walk(["metadata", "finalizers"]).list_type(),
        ListType::Set
    );
    assert_eq!(
        deploy.walk(["metadata", "labels", "app"]).kind(),
        TypeKind::Scalar
    );
    assert_eq!(
        s.lookup("v1", "Pod")
            .unwrap()
            .walk(["spec", "tolerations"])
            .list_type(),
        ListType::Atomic
    );
    assert!(s.lookup("v1", "Service").is_some());
    assert!(s.lookup("batch/v1", "CronJob").is_some());
    assert!(
        s.lookup("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .is_some()
    );
    assert!(s.lookup("example.com/v1", "Nope").is_none());
    assert!(s.lookup_or_untyped("example.com/v1", "Nope").is_untyped());
    assert_eq!(
        s.type_of(&json!({"apiVersion": "v1", "kind": "ConfigMap"}))
            .name(),
        Some("io.k8s.api.core.v1.ConfigMap")
    );
}

#[test]
fn untyped_type_ref_is_untyped_all_the_way_down() {
    let u = TypeRef::untyped();
    assert!(u.is_untyped());
    assert!(u.walk(["a", "b"]).is_untyped());
    assert!(!u.is_atomic());
    assert_eq!(u.list_type(), ListType::Atomic);
}

#[test]
fn crd_registration_types_custom_resources() {
    let crd = json!({"spec": {"group": "ferry.dev", "names": {"kind": "Gadget"}, "versions": [
        {"name": "v1alpha1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "items": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["key"],
                    "items": {"type": "object", "properties": {"key": {"type": "string", "default": "k"}}}},
                "flags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "opaque": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"a": {"type": "string"}}},
                "anything": {"x-kubernetes-preserve-unknown-fields": true},
                "port": {"x-kubernetes-int-or-string": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }}
        }}}},
        {"name": "v1"}
    ]}});
    let mut s = Schema::builtin().clone();
    let got = s.register_crd(&crd).unwrap();
    assert_eq!(got.len(), 2);
    let g = s.lookup("ferry.dev/v1alpha1", "Gadget").unwrap();
    assert_eq!(g.walk(["spec", "items"]).list_type(), ListType::Map);
    assert_eq!(
        g.walk(["spec", "items"]).list_map_key_defaults(),
        [json!("k")]
    );
    assert_eq!(g.walk(["spec", "flags"]).list_type(), ListType::Set);
    assert_eq!(g.walk(["spec", "opaque"]).map_type(), MapType::Atomic);
    assert!(g.walk(["spec", "anything", "deep"]).is_untyped());
    assert_eq!(g.walk(["spec", "port"]).kind(), TypeKind::Scalar);
    assert_eq!(g.walk(["spec", "labels", "x"]).kind(), TypeKind::Scalar);
    assert_eq!(
        g.field("metadata").name(),
        Some("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    );
    // A version without schema preserves unknown fields.
    let v1 = s.lookup("ferry.dev/v1", "Gadget").unwrap();
    assert!(v1.walk(["spec", "x"]).is_untyped());
    // The builtin schema itself is untouched.
    assert!(
        Schema::builtin()
            .lookup("ferry.dev/v1alpha1", "Gadget")
            .is_none()
    );
    // Malformed CRDs are errors.
    assert!(s.register_crd(&json!({"spec": {}})).is_err());
    assert!(
        s.register_openapi_v3("x/v1", "X", &json!("not a schema"))
            .is_err()
    );
}
