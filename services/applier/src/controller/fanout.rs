//! Which Kustomizations a new artifact concerns, and whether each needs a new render: pure
//! decisions, so every replica reaches the same ones.

use ferry_proto::events::v1::ArtifactReady;

/// `spec.path` normalized: no leading `./` or `/`, no trailing `/`; `""` is the root.
pub fn normalize(path: &str) -> String {
    let mut p = path.trim();
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    let p = p.trim_end_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

/// Whether `path` is `dir` or below it (everything is below the root `""`).
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether the change in `artifact` certainly leaves the render of the Kustomization at
/// `path` as it was, judged from paths alone (the applier does not read the artifact).
///
/// A changed file under the Kustomization's own path affects it. A changed file elsewhere may
/// still be read through a relative reference (`../../base`), so it counts as unaffecting only
/// when it lies under the path of another Kustomization of the same source that is not an
/// ancestor of this one (a monorepo with one directory per app). Everything else (an unknown
/// change set, a first artifact, a shared `base/`) is unsure, and unsure means render; the
/// renderer's own reach check then makes that render cheap.
pub fn render_unaffected(path: &str, siblings: &[String], artifact: &ArtifactReady) -> bool {
    if artifact.all_paths_changed
        || artifact.changed_paths.is_empty()
        || artifact.previous_revision.is_empty()
    {
        return false;
    }
    let own = normalize(path);
    let others: Vec<String> = siblings
        .iter()
        .map(|p| normalize(p))
        .filter(|p| *p != own && !is_under(&own, p))
        .collect();
    artifact.changed_paths.iter().all(|changed| {
        let changed = normalize(changed);
        !is_under(&changed, &own) && others.iter().any(|o| is_under(&changed, o))
    })
}

/// `Nats-Msg-Id` of the render request for one spec generation at one artifact.
pub fn render_request_id(uid: &str, generation: i64, digest: &str) -> String {
    format!("{uid}/{generation}/{digest}")
}

/// `Nats-Msg-Id` of a `ReconcileRequest` caused by an upstream artifact.
pub fn upstream_request_id(uid: &str, generation: i64, digest: &str) -> String {
    format!("{uid}/{generation}/upstream/{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(changed: &[&str]) -> ArtifactReady {
        ArtifactReady {
            revision: "main@sha1:2".into(),
            previous_revision: "main@sha1:1".into(),
            digest: "sha256:ab".into(),
            changed_paths: changed.iter().map(|s| (*s).to_owned()).collect(),
            ..ArtifactReady::default()
        }
    }

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paths_normalize_like_flux() {
        assert_eq!(normalize("./overlays/dev/"), "overlays/dev");
        assert_eq!(normalize("./"), "");
        assert_eq!(normalize("."), "");
        assert_eq!(normalize("/apps"), "apps");
        assert!(is_under("apps/a/x.yaml", "apps/a"));
        assert!(!is_under("apps/ab/x.yaml", "apps/a"));
        assert!(is_under("anything", ""));
    }

    #[test]
    fn a_change_under_another_apps_directory_does_not_rerender() {
        let siblings = paths(&["./apps/a", "./apps/b"]);
        assert!(render_unaffected(
            "./apps/a",
            &siblings,
            &artifact(&["apps/b/deploy.yaml"])
        ));
        assert!(!render_unaffected(
            "./apps/a",
            &siblings,
            &artifact(&["apps/a/deploy.yaml"])
        ));
    }

    #[test]
    fn unsure_changes_rerender() {
        let siblings = paths(&["./overlays/dev", "./overlays/prod"]);
        // A shared base may be read through ../../base.
        assert!(!render_unaffected(
            "./overlays/dev",
            &siblings,
            &artifact(&["base/configmap.yaml"])
        ));
        // No other Kustomization claims the file.
        assert!(!render_unaffected(
            "./overlays/dev",
            &paths(&["./overlays/dev"]),
            &artifact(&["README.md"])
        ));
        // An ancestor's path covers everything, including this one's inputs.
        assert!(!render_unaffected(
            "./apps/a",
            &paths(&["./apps/a", "./"]),
            &artifact(&["base/x.yaml"])
        ));
        let mut unknown = artifact(&[]);
        unknown.all_paths_changed = true;
        assert!(!render_unaffected("./apps/a", &siblings, &unknown));
        let mut first = artifact(&["apps/b/x.yaml"]);
        first.previous_revision.clear();
        assert!(!render_unaffected("./apps/a", &siblings, &first));
    }

    #[test]
    fn message_ids_are_stable_across_replicas() {
        assert_eq!(render_request_id("u", 3, "sha256:ab"), "u/3/sha256:ab");
        assert_eq!(
            upstream_request_id("u", 3, "sha256:ab"),
            "u/3/upstream/sha256:ab"
        );
    }
}
