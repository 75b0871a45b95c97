//! Safety and bad-input tests: confinement to the root, resource limits and clear errors.

use ferry_kustomize::{DiskFs, Error, Limits, LoadRestrictor, MemFs, Options, build_yaml};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n";

fn err(fs: &MemFs, dir: &str, opts: &Options) -> Error {
    match build_yaml(fs, dir, opts) {
        Ok(out) => panic!("expected an error, got output:\n{out}"),
        Err(e) => e,
    }
}

#[test]
fn dotdot_path_above_root_is_rejected() {
    let fs = MemFs::new().with("app/kustomization.yaml", "resources:\n- ../../etc/passwd\n");
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::PathEscape { .. }), "{e}");
}

#[test]
fn absolute_resource_path_is_rejected() {
    let fs = MemFs::new().with("app/kustomization.yaml", "resources:\n- /etc/passwd\n");
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::AbsolutePath(_)), "{e}");
}

#[test]
fn root_only_restrictor_rejects_file_outside_kustomization_dir() {
    let fs = MemFs::new()
        .with(
            "app/kustomization.yaml",
            "resources:\n- ../shared/cm.yaml\n",
        )
        .with("shared/cm.yaml", CM);
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::PathEscape { .. }), "{e}");
}

#[test]
fn load_restrictor_none_allows_sibling_file_inside_root() {
    let fs = MemFs::new()
        .with(
            "app/kustomization.yaml",
            "resources:\n- ../shared/cm.yaml\n",
        )
        .with("shared/cm.yaml", CM);
    let opts = Options {
        load_restrictor: LoadRestrictor::None,
        ..Options::default()
    };
    let out = build_yaml(&fs, "app", &opts).expect("builds");
    assert!(out.contains("name: cm"));
}

#[cfg(unix)]
#[test]
fn symlink_pointing_outside_root_is_rejected() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret.yaml"), CM).expect("write");
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    std::fs::write(app.join("kustomization.yaml"), "resources:\n- link.yaml\n").expect("write");
    std::os::unix::fs::symlink(outside.path().join("secret.yaml"), app.join("link.yaml"))
        .expect("symlink");
    let fs = DiskFs::new(root.path()).expect("root");
    match build_yaml(&fs, "app", &Options::default()) {
        Ok(out) => panic!("read through a symlink out of the root:\n{out}"),
        Err(e) => assert!(
            matches!(e, Error::PathEscape { .. } | Error::NotFound(_)),
            "{e}"
        ),
    }
}

#[cfg(unix)]
#[test]
fn symlink_inside_root_is_followed() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    std::fs::write(app.join("real.yaml"), CM).expect("write");
    std::fs::write(app.join("kustomization.yaml"), "resources:\n- link.yaml\n").expect("write");
    std::os::unix::fs::symlink(app.join("real.yaml"), app.join("link.yaml")).expect("symlink");
    let fs = DiskFs::new(root.path()).expect("root");
    let out = build_yaml(&fs, "app", &Options::default()).expect("builds");
    assert!(out.contains("name: cm"));
}

#[test]
fn billion_laughs_fails_fast_with_limit_error() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for n in names {
        bomb.push_str(&format!(
            "  {n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = n;
    }
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- bomb.yaml\n")
        .with("app/bomb.yaml", bomb);
    let start = std::time::Instant::now();
    let e = err(&fs, "app", &Options::default());
    assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
    assert!(matches!(e, Error::Limit { .. } | Error::Yaml { .. }), "{e}");
    assert!(e.to_string().contains("bomb.yaml"), "{e}");
}

#[test]
fn oversized_file_is_rejected() {
    let big = format!("{CM}  big: \"{}\"\n", "x".repeat(2000));
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- big.yaml\n")
        .with("app/big.yaml", big);
    let opts = Options {
        limits: Limits {
            max_file_bytes: 1000,
            ..Limits::default()
        },
        ..Options::default()
    };
    let e = err(&fs, "app", &opts);
    assert!(matches!(e, Error::FileTooLarge { .. }), "{e}");
}

#[test]
fn too_many_documents_are_rejected() {
    let many = std::iter::repeat_n(CM, 20)
        .collect::<Vec<_>>()
        .join("---\n");
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- many.yaml\n")
        .with("app/many.yaml", many);
    let opts = Options {
        limits: Limits {
            max_documents: 5,
            ..Limits::default()
        },
        ..Options::default()
    };
    let e = err(&fs, "app", &opts);
    assert!(matches!(e, Error::Limit { .. }), "{e}");
}

#[test]
fn cycle_between_kustomizations_is_an_error() {
    let fs = MemFs::new()
        .with("a/kustomization.yaml", "resources:\n- ../b\n")
        .with("b/kustomization.yaml", "resources:\n- ../a\n");
    let e = err(&fs, "a", &Options::default());
    assert!(matches!(e, Error::Cycle(_)), "{e}");
}

#[test]
fn missing_resource_file_names_the_path() {
    let fs = MemFs::new().with("app/kustomization.yaml", "resources:\n- nothere.yaml\n");
    let e = err(&fs, "app", &Options::default());
    assert!(e.to_string().contains("nothere.yaml"), "{e}");
}

#[test]
fn directory_without_kustomization_is_an_error() {
    let fs = MemFs::new().with("app/cm.yaml", CM);
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::MissingKustomization(_)), "{e}");
}

#[test]
fn unknown_kustomization_field_names_file_and_field() {
    let fs = MemFs::new().with(
        "app/kustomization.yaml",
        "resources: []\nnamePrefixx: oops-\n",
    );
    let e = err(&fs, "app", &Options::default());
    let msg = e.to_string();
    assert!(matches!(e, Error::Kustomization { .. }), "{msg}");
    assert!(msg.contains("app/kustomization.yaml"), "{msg}");
    assert!(msg.contains("namePrefixx"), "{msg}");
}

#[test]
fn kustomization_fields_match_case_insensitively_like_go() {
    let fs = MemFs::new()
        .with(
            "app/kustomization.yaml",
            "nameprefix: p-\nresources:\n- cm.yaml\n",
        )
        .with("app/cm.yaml", CM);
    let out = build_yaml(&fs, "app", &Options::default()).expect("builds");
    assert!(out.contains("name: p-cm"), "{out}");
}

#[test]
fn invalid_yaml_reports_line_and_column() {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- bad.yaml\n")
        .with(
            "app/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
        );
    let e = err(&fs, "app", &Options::default());
    let msg = e.to_string();
    assert!(matches!(e, Error::Yaml { .. }), "{msg}");
    assert!(msg.contains("bad.yaml"), "{msg}");
    assert!(msg.contains("line"), "{msg}");
    assert!(msg.contains("column"), "{msg}");
}

#[test]
fn remote_resources_are_not_supported() {
    let fs = MemFs::new().with(
        "app/kustomization.yaml",
        "resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0\n",
    );
    let e = err(&fs, "app", &Options::default());
    assert!(
        e.to_string().contains("remote resources are not supported"),
        "{e}"
    );
}

#[test]
fn helm_charts_are_not_supported() {
    let fs = MemFs::new().with(
        "app/kustomization.yaml",
        "helmCharts:\n- name: minecraft\n  repo: https://example.invalid/charts\n",
    );
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("helmCharts"), "{e}");
}

#[test]
fn exec_function_transformers_are_not_supported() {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- cm.yaml\ntransformers:\n- fn.yaml\n")
        .with("app/cm.yaml", CM)
        .with(
            "app/fn.yaml",
            "apiVersion: example.com/v1\nkind: MyTransformer\nmetadata:\n  name: t\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./run.sh\n",
        );
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn duplicate_resource_ids_are_an_error() {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n")
        .with("app/a.yaml", CM)
        .with("app/b.yaml", CM);
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::DuplicateId(_)), "{e}");
}

#[test]
fn patch_naming_a_missing_object_is_an_error() {
    let fs = MemFs::new()
        .with(
            "app/kustomization.yaml",
            "resources:\n- cm.yaml\npatchesStrategicMerge:\n- p.yaml\n",
        )
        .with("app/cm.yaml", CM)
        .with(
            "app/p.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  x: y\n",
        );
    let e = err(&fs, "app", &Options::default());
    assert!(e.to_string().contains("other"), "{e}");
}

#[test]
fn patch_with_target_matching_nothing_is_not_an_error() {
    let fs = MemFs::new()
        .with(
            "app/kustomization.yaml",
            "resources:\n- cm.yaml\npatches:\n- target:\n    kind: Secret\n  patch: |-\n    - op: add\n      path: /data/x\n      value: y\n",
        )
        .with("app/cm.yaml", CM);
    let out = build_yaml(&fs, "app", &Options::default()).expect("builds");
    assert!(out.contains("name: cm"), "{out}");
}

#[cfg(unix)]
#[test]
fn symlinked_base_directory_outside_root_is_rejected() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        outside.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\n",
    )
    .expect("write");
    std::fs::write(outside.path().join("cm.yaml"), CM).expect("write");
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    std::fs::write(app.join("kustomization.yaml"), "resources:\n- base\n").expect("write");
    std::os::unix::fs::symlink(outside.path(), app.join("base")).expect("symlink");
    let fs = DiskFs::new(root.path()).expect("root");
    let opts = Options {
        load_restrictor: LoadRestrictor::None,
        ..Options::default()
    };
    match build_yaml(&fs, "app", &opts) {
        Ok(out) => panic!("read a base through a symlink out of the root:\n{out}"),
        Err(e) => assert!(
            matches!(e, Error::PathEscape { .. } | Error::NotFound(_)),
            "{e}"
        ),
    }
}

#[test]
fn kustomization_nesting_is_bounded() {
    let mut fs = MemFs::new();
    for i in 0..10 {
        fs.add(
            &format!("k{i}/kustomization.yaml"),
            format!("resources:\n- ../k{}\n", i + 1),
        );
    }
    fs.add("k10/kustomization.yaml", "resources: []\n");
    let opts = Options {
        limits: Limits {
            max_kustomization_depth: 5,
            ..Limits::default()
        },
        ..Options::default()
    };
    let e = err(&fs, "k0", &opts);
    assert!(e.to_string().contains("nested more than 5"), "{e}");
}

#[test]
fn wrongly_typed_kustomization_field_names_file_and_field() {
    let fs = MemFs::new().with("app/kustomization.yaml", "namePrefix: [a, b]\n");
    let e = err(&fs, "app", &Options::default());
    let msg = e.to_string();
    assert!(msg.contains("app/kustomization.yaml"), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");
    assert!(msg.contains("namePrefix"), "{msg}");
}

#[test]
fn empty_kustomization_file_is_an_error() {
    let fs = MemFs::new().with("app/kustomization.yaml", "\n");
    let e = err(&fs, "app", &Options::default());
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn duplicate_keys_in_a_resource_are_an_error() {
    let fs = MemFs::new()
        .with("app/kustomization.yaml", "resources:\n- cm.yaml\n")
        .with(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
        );
    let e = err(&fs, "app", &Options::default());
    assert!(matches!(e, Error::Yaml { .. }), "{e}");
}
