//! `ferry build` end to end: stdout stream, exit status and error text.

use std::path::Path;
use std::process::{Command, Output};

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, content).expect("write");
}

fn ferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .expect("run ferry")
}

#[test]
fn build_prints_the_kustomize_stream() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "app/kustomization.yaml",
        "namePrefix: dev-\nresources:\n- cm.yaml\n",
    );
    write(
        tmp.path(),
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n",
    );
    let dir = tmp.path().join("app");
    let out = ferry(&["build", dir.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "apiVersion: v1\ndata:\n  a: \"1\"\nkind: ConfigMap\nmetadata:\n  name: dev-cm\n"
    );
}

#[test]
fn build_failure_exits_non_zero_with_kustomize_style_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "app/kustomization.yaml",
        "resourcez:\n- cm.yaml\n",
    );
    let dir = tmp.path().join("app");
    let out = ferry(&["build", dir.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("kustomization.yaml"), "{err}");
    assert!(err.contains("resourcez"), "{err}");
}

#[test]
fn load_restrictor_flag_controls_access_outside_the_kustomization() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "app/kustomization.yaml",
        "resources:\n- ../shared/cm.yaml\n",
    );
    write(
        tmp.path(),
        "shared/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n",
    );
    let dir = tmp.path().join("app");
    let dir = dir.to_str().expect("utf-8 path");
    let root_only = ferry(&["build", dir]);
    assert!(!root_only.status.success());
    let none = ferry(&["build", "--load-restrictor", "LoadRestrictionsNone", dir]);
    assert!(
        none.status.success(),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let bad = ferry(&["build", "--load-restrictor", "Sometimes", dir]);
    assert!(!bad.status.success());
}

#[test]
fn root_flag_confines_reads_to_the_given_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "repo/app/kustomization.yaml",
        "resources:\n- ../../outside/cm.yaml\n",
    );
    write(
        tmp.path(),
        "outside/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n",
    );
    let root = tmp.path().join("repo");
    let dir = root.join("app");
    let out = ferry(&[
        "build",
        "--load-restrictor",
        "LoadRestrictionsNone",
        "--root",
        root.to_str().expect("utf-8 path"),
        dir.to_str().expect("utf-8 path"),
    ]);
    assert!(!out.status.success());
}
