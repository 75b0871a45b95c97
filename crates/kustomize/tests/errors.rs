//! Inputs kustomize v5.5 rejects are rejected too (checked against `kubectl kustomize`).

use ferry_kustomize::{MemFs, Options, build_yaml};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

fn fails(kustomization: &str) -> String {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", kustomization)
        .with("app/cm.yaml", CM);
    match build_yaml(&fs, "app", &Options::default()) {
        Ok(out) => panic!("expected an error, got:\n{out}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn replicas_for_a_name_no_workload_has_is_an_error() {
    let msg = fails("resources:\n- cm.yaml\nreplicas:\n- name: nothing\n  count: 2\n");
    assert!(msg.contains("nothing"), "{msg}");
}

#[test]
fn generator_merge_without_base_object_is_an_error() {
    let msg = fails(
        "resources:\n- cm.yaml\nconfigMapGenerator:\n- name: other\n  behavior: merge\n  literals: [a=b]\n",
    );
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn generator_repeating_a_key_is_an_error() {
    let msg = fails("configMapGenerator:\n- name: g\n  literals:\n  - a=1\n  - a=2\n");
    assert!(msg.contains("repeats the key"), "{msg}");
}

#[test]
fn replacement_source_selecting_nothing_is_an_error() {
    let msg = fails(
        "resources:\n- cm.yaml\nreplacements:\n- source:\n    kind: Secret\n    name: x\n  targets:\n  - select:\n      kind: ConfigMap\n    fieldPaths: [data.x]\n",
    );
    assert!(msg.contains("Secret"), "{msg}");
}

#[test]
fn var_naming_no_object_is_an_error() {
    let msg = fails(
        "resources:\n- cm.yaml\nvars:\n- name: V\n  objref:\n    kind: Secret\n    name: x\n    apiVersion: v1\n",
    );
    assert!(msg.contains("'V'"), "{msg}");
}

#[test]
fn json_patch_removing_missing_field_is_an_error() {
    let msg = fails(
        "resources:\n- cm.yaml\npatches:\n- target:\n    kind: ConfigMap\n  patch: |-\n    - op: remove\n      path: /data/missing\n",
    );
    assert!(msg.contains("/data/missing"), "{msg}");
}

#[test]
fn unknown_sort_order_is_an_error() {
    let msg = fails("resources:\n- cm.yaml\nsortOptions:\n  order: random\n");
    assert!(msg.contains("sortOptions.order"), "{msg}");
}

#[test]
fn component_used_as_a_resource_is_an_error() {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- ../comp\n")
        .with(
            "comp/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
        );
    let err = build_yaml(&fs, "app", &Options::default()).expect_err("component as resource");
    assert!(err.to_string().contains("Component"), "{err}");
}
