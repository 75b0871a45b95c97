//! Marker parsing, value replacement and byte-for-byte preservation.

use super::*;

fn policies() -> Policies {
    let mut p = Policies::new();
    p.insert(
        PolicyKey {
            namespace: "flux-system".into(),
            name: "app".into(),
        },
        ImageRef {
            name: "ghcr.io/org/app".into(),
            tag: "1.2.0".into(),
            digest: None,
        },
    );
    p.insert(
        PolicyKey {
            namespace: "flux-system".into(),
            name: "pinned".into(),
        },
        ImageRef {
            name: "ghcr.io/org/pinned".into(),
            tag: "2.0.0".into(),
            digest: Some("sha256:abc".into()),
        },
    );
    p
}

const DEPLOYMENT: &str = "\
# leading comment, kept
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app   # trailing comment
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}
        - name: sidecar
          image: \"ghcr.io/org/pinned:1.0.0\"   # {\"$imagepolicy\": \"flux-system:pinned\"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: versions}
data:
  tag: '1.0.0' # {\"$imagepolicy\": \"flux-system:app:tag\"}
  name: old/name # {\"$imagepolicy\":\"flux-system:app:name\"}
  digest: none #  {\"$imagepolicy\": \"flux-system:pinned:digest\"}
  list:
  - 1.0.0 # {\"$imagepolicy\": \"flux-system:app:tag\"}
  untouched: \"1.0.0\"   # {\"other\": \"x\"}
";

#[test]
fn setters_replace_only_marked_values_and_keep_everything_else_byte_for_byte() {
    let update = apply_setters("deploy.yaml", DEPLOYMENT, &policies()).expect("valid yaml");
    let expected = DEPLOYMENT
        .replace("ghcr.io/org/app:1.0.0 #", "ghcr.io/org/app:1.2.0 #")
        .replace(
            "\"ghcr.io/org/pinned:1.0.0\"",
            "\"ghcr.io/org/pinned:2.0.0@sha256:abc\"",
        )
        .replace("tag: '1.0.0'", "tag: '1.2.0'")
        .replace("name: old/name", "name: ghcr.io/org/app")
        .replace("digest: none", "digest: sha256:abc")
        .replace("  - 1.0.0 #", "  - 1.2.0 #");
    assert_eq!(update.text, expected);
    assert!(update.unresolved.is_empty(), "{:?}", update.unresolved);
    let setters: Vec<_> = update
        .changes
        .iter()
        .map(|(_, c)| c.setter.as_str())
        .collect();
    assert_eq!(
        setters,
        [
            "flux-system:app",
            "flux-system:pinned",
            "flux-system:app:tag",
            "flux-system:app:name",
            "flux-system:pinned:digest",
            "flux-system:app:tag",
        ]
    );
    let (deployment, first) = &update.changes[0];
    assert_eq!(deployment.kind, "Deployment");
    assert_eq!(deployment.name, "app");
    assert_eq!(deployment.namespace, "prod");
    assert_eq!(first.old_value, "ghcr.io/org/app:1.0.0");
    assert_eq!(first.new_value, "ghcr.io/org/app:1.2.0");
    let (config_map, _) = &update.changes[2];
    assert_eq!(
        (config_map.kind.as_str(), config_map.name.as_str()),
        ("ConfigMap", "versions")
    );
}

#[test]
fn setters_keep_crlf_line_endings_and_unchanged_values() {
    let text =
        "image: ghcr.io/org/app:1.2.0 # {\"$imagepolicy\": \"flux-system:app\"}\r\nother: x\r\n";
    let update = apply_setters("a.yaml", text, &policies()).expect("valid");
    assert_eq!(update.text, text);
    assert!(update.changes.is_empty());
    let text = "image: ghcr.io/org/app:1.0 # {\"$imagepolicy\": \"flux-system:app\"}\r\n";
    let update = apply_setters("a.yaml", text, &policies()).expect("valid");
    assert_eq!(
        update.text,
        "image: ghcr.io/org/app:1.2.0 # {\"$imagepolicy\": \"flux-system:app\"}\r\n"
    );
}

#[test]
fn markers_for_unknown_policies_or_missing_digests_are_reported_not_applied() {
    let text = "\
a: x:1 # {\"$imagepolicy\": \"flux-system:missing\"}
b: y # {\"$imagepolicy\": \"flux-system:app:digest\"}
c: z # {\"$imagepolicy\": \"bad\"}
";
    let update = apply_setters("a.yaml", text, &policies()).expect("valid");
    assert_eq!(update.text, text);
    let lines: Vec<_> = update.unresolved.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [1, 2, 3]);
    assert!(update.unresolved[0].2.contains("flux-system/missing"));
    assert!(update.unresolved[1].2.contains("digest"));
}

#[test]
fn malformed_yaml_is_an_error_naming_file_and_document() {
    let text = "a: 1\n---\nb: [unclosed # {\"$imagepolicy\": \"flux-system:app\"}\n";
    let err = apply_setters("broken.yaml", text, &policies()).expect_err("malformed");
    assert!(
        matches!(&err, SetterError::Yaml { file, document: 2, .. } if file == "broken.yaml"),
        "{err}"
    );
}

#[test]
fn marker_values_and_quoting() {
    assert_eq!(
        Marker::parse("ns:name:tag").map(|m| m.field),
        Some(SetterField::Tag)
    );
    assert_eq!(Marker::parse("ns:name:what"), None);
    assert_eq!(Marker::parse("ns"), None);
    let marked =
        find_marked_value("  - key: 'it''s' # {\"$imagepolicy\": \"a:b\"}\n").expect("marked");
    assert_eq!(marked.value, "it's");
    assert_eq!(
        marked.replace("  - key: 'it''s' # {\"$imagepolicy\": \"a:b\"}\n", "o'k"),
        "  - key: 'o''k' # {\"$imagepolicy\": \"a:b\"}\n"
    );
    let line = "image: &img old # {\"$imagepolicy\": \"a:b\"}";
    let marked = find_marked_value(line).expect("anchored");
    assert_eq!(
        marked.replace(line, "new"),
        "image: &img new # {\"$imagepolicy\": \"a:b\"}"
    );
    assert!(find_marked_value("image: {a: b} # {\"$imagepolicy\": \"a:b\"}").is_none());
    assert!(find_marked_value("key: value # {\"$imagepolicy\" \"broken\"}").is_none());
}

#[test]
fn update_dir_walks_yaml_only_skips_large_files_and_refuses_escaping_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let marked = "image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n";
    std::fs::create_dir_all(root.join("apps/dev")).expect("mkdir");
    std::fs::create_dir_all(root.join("other")).expect("mkdir");
    std::fs::write(root.join("apps/dev/a.yaml"), marked).expect("write");
    std::fs::write(root.join("apps/dev/b.txt"), marked).expect("write");
    std::fs::write(
        root.join("apps/big.yml"),
        format!("{marked}# {}\n", "x".repeat(200)),
    )
    .expect("write");
    std::fs::write(root.join("other/c.yaml"), marked).expect("write");
    let options = UpdateOptions { max_file_size: 150 };
    let result = update_dir(root, Some("./apps"), &policies(), options).expect("update");
    assert_eq!(result.files.keys().collect::<Vec<_>>(), ["apps/dev/a.yaml"]);
    assert_eq!(result.skipped.len(), 1);
    assert_eq!(result.skipped[0].file, "apps/big.yml");
    let written = std::fs::read_to_string(root.join("apps/dev/a.yaml")).expect("read");
    assert!(written.contains("app:1.2.0"));
    assert_eq!(
        std::fs::read_to_string(root.join("apps/dev/b.txt")).expect("read"),
        marked
    );
    assert_eq!(
        std::fs::read_to_string(root.join("other/c.yaml")).expect("read"),
        marked
    );
    assert!(matches!(
        update_dir(root, Some("../x"), &policies(), options),
        Err(SetterError::InvalidPath(_))
    ));
    assert!(matches!(
        update_dir(root, Some("nope"), &policies(), options),
        Err(SetterError::PathNotFound(_))
    ));
}

#[test]
fn update_dir_writes_nothing_when_any_file_is_malformed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let good = "image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n";
    let bad = "image: [ghcr.io # {\"$imagepolicy\": \"flux-system:app\"}\n";
    std::fs::write(root.join("a.yaml"), good).expect("write");
    std::fs::write(root.join("b.yaml"), bad).expect("write");
    let err = update_dir(root, None, &policies(), UpdateOptions::default()).expect_err("bad");
    assert!(matches!(err, SetterError::Yaml { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.join("a.yaml")).expect("read"),
        good
    );
}
