//! Focused tests of the building blocks: hashing, selectors, paths, output quoting, images.

use ferry_kustomize::fs::join;
use ferry_kustomize::generators::hash::{encode, go_json, hash_object};
use ferry_kustomize::output::to_yaml;
use ferry_kustomize::transformers::images::split_image;
use ferry_kustomize::transformers::selector::selector_matches;
use serde_json::json;

#[test]
fn go_json_sorts_keys_and_escapes_html_like_go() {
    let v = json!({"b": "<&>", "a": [1, "x"]});
    assert_eq!(go_json(&v), r#"{"a":[1,"x"],"b":"\u003c\u0026\u003e"}"#);
}

#[test]
fn hash_encoding_maps_digits_to_kustomize_alphabet() {
    assert_eq!(encode("0123456789abcdef"), "gh2k456789");
    assert_eq!(encode("aeaeaeaeae"), "mtmtmtmtmt");
}

#[test]
fn config_map_hash_matches_kustomize() {
    // kustomize v5.5.0 names this ConfigMap `test-m8t7bmb6g2`.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "test"}, "data": {"TEST": "'"}});
    assert_eq!(hash_object(&cm), "m8t7bmb6g2");
}

#[test]
fn label_selector_supports_equality_sets_and_existence() {
    let labels = vec![
        ("app".to_string(), "web".to_string()),
        ("tier".to_string(), "front".to_string()),
    ];
    let ok = |s: &str| selector_matches(s, &labels).expect("valid selector");
    assert!(ok("app=web"));
    assert!(ok("app==web,tier!=back"));
    assert!(ok("tier in (front, middle)"));
    assert!(ok("tier notin (back)"));
    assert!(ok("app"));
    assert!(ok("!missing"));
    assert!(!ok("app=api"));
    assert!(!ok("!app"));
}

#[test]
fn join_normalizes_and_refuses_escape() {
    assert_eq!(join("a/b", "../c/./d.yaml").expect("inside"), "a/c/d.yaml");
    assert!(join("a", "../../x").is_err());
    assert!(join("a", "/etc/passwd").is_err());
}

#[test]
fn output_quotes_only_ambiguous_strings() {
    let v =
        json!({"s": "plain", "num": "8080", "b": "true", "o": "on", "e": "", "c": "a: b", "i": 3});
    assert_eq!(
        to_yaml(&v),
        "b: \"true\"\nc: 'a: b'\ne: \"\"\ni: 3\nnum: \"8080\"\no: \"on\"\ns: plain\n"
    );
}

#[test]
fn image_references_split_into_name_tag_and_digest() {
    assert_eq!(split_image("nginx"), ("nginx", None, None));
    assert_eq!(
        split_image("reg:5000/nginx:1.2"),
        ("reg:5000/nginx", Some("1.2"), None)
    );
    assert_eq!(
        split_image("nginx@sha256:abc"),
        ("nginx", None, Some("sha256:abc"))
    );
}
