//! Flux users' manifests survive parse → serialise unchanged, for every kind and version.

use std::path::{Path, PathBuf};

use flux_api::image::{self, v1beta2};
use flux_api::kustomize::Kustomization;
use flux_api::notification::Receiver;
use flux_api::source::{GitRepository, OCIRepository};
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixtures(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".yaml"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures {dir}/{prefix}*");
    files
}

/// Parses the YAML into `T` and checks that serialising it gives back the same JSON.
fn assert_round_trip<T: DeserializeOwned + Serialize>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let expected: Value = serde_saphyr::from_str(&text).expect("fixture is YAML");
    let typed: T = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let actual = serde_json::to_value(&typed).expect("serialise");
    assert_eq!(
        expected,
        actual,
        "{} changed in a round trip",
        path.display()
    );
    typed
}

fn round_trip_all<T: DeserializeOwned + Serialize>(dir: &str, prefix: &str) -> Vec<T> {
    fixtures(dir, prefix)
        .iter()
        .map(|p| assert_round_trip::<T>(p))
        .collect()
}

#[test]
fn git_repository_manifests_round_trip_exactly() {
    let all: Vec<GitRepository> = round_trip_all("v1", "gitrepository-");
    for gr in &all {
        gr.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn oci_repository_manifests_round_trip_exactly() {
    let all: Vec<OCIRepository> = round_trip_all("v1", "ocirepository-");
    for o in &all {
        o.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn kustomization_manifests_round_trip_exactly() {
    let all: Vec<Kustomization> = round_trip_all("v1", "kustomization-");
    for k in &all {
        k.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn image_repository_manifests_round_trip_exactly() {
    let all: Vec<image::ImageRepository> = round_trip_all("v1", "imagerepository-");
    for r in &all {
        r.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn image_policy_manifests_round_trip_exactly() {
    let all: Vec<image::ImagePolicy> = round_trip_all("v1", "imagepolicy-");
    for p in &all {
        p.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn image_update_automation_manifests_round_trip_exactly() {
    let all: Vec<image::ImageUpdateAutomation> = round_trip_all("v1", "imageupdateautomation-");
    for a in &all {
        a.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn receiver_manifests_round_trip_exactly() {
    let all: Vec<Receiver> = round_trip_all("v1", "receiver-");
    for r in &all {
        r.spec.validate().expect("fixture is valid");
    }
}

#[test]
fn every_v1_fixture_is_covered_by_a_round_trip_test() {
    let covered = [
        "gitrepository-",
        "ocirepository-",
        "kustomization-",
        "imagerepository-",
        "imagepolicy-",
        "imageupdateautomation-",
        "receiver-",
    ];
    for path in fixtures("v1", "") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(
            covered.iter().any(|p| name.starts_with(p)),
            "{name} is not exercised"
        );
    }
}

#[test]
fn v1beta2_image_repository_round_trips_and_converts_to_v1() {
    let path = &fixtures("v1beta2", "imagerepository")[0];
    let old: v1beta2::ImageRepository = assert_round_trip(path);
    old.spec.validate().expect("valid");
    let new = image::ImageRepository::from(old.clone());
    assert_eq!(new.metadata, old.metadata);
    assert_eq!(new.spec.image, "ghcr.io/stefanprodan/podinfo");
    assert_eq!(new.spec.interval.as_str(), "1m0s");
    let status = new.status.expect("status kept");
    assert_eq!(status.last_scan_result.map(|r| r.tag_count), Some(7));
}

#[test]
fn v1beta2_image_policy_latest_image_converts_to_latest_ref() {
    let path = &fixtures("v1beta2", "imagepolicy")[0];
    let old: v1beta2::ImagePolicy = assert_round_trip(path);
    old.spec.validate().expect("valid");
    let new = image::ImagePolicy::from(old);
    let status = new.status.expect("status kept");
    let latest = status
        .latest_ref
        .expect("latestRef derived from latestImage");
    assert_eq!(latest.name, "ghcr.io/stefanprodan/podinfo");
    assert_eq!(latest.tag, "6.3.6");
    assert_eq!(latest.digest, None);
    let previous = status.observed_previous_ref.expect("previous ref derived");
    assert_eq!(previous.tag, "6.3.5");
}

#[test]
fn v1beta2_image_update_automation_round_trips_and_converts_to_v1() {
    let path = &fixtures("v1beta2", "imageupdateautomation")[0];
    let old: v1beta2::ImageUpdateAutomation = assert_round_trip(path);
    old.spec.validate().expect("valid");
    let new = image::ImageUpdateAutomation::from(old);
    let git = new.spec.git.expect("git kept");
    assert_eq!(git.push.and_then(|p| p.branch).as_deref(), Some("main"));
    assert_eq!(
        new.status.and_then(|s| s.last_push_commit).as_deref(),
        Some("5394cb7f48332b2de7c17dd8b8384bbc84b7e738")
    );
}

#[test]
fn converted_v1_objects_serialise_with_the_v1_api_version() {
    let path = &fixtures("v1beta2", "imagepolicy")[0];
    let old: v1beta2::ImagePolicy = assert_round_trip(path);
    let new = image::ImagePolicy::from(old);
    let json = serde_json::to_value(&new).expect("serialise");
    assert_eq!(json["apiVersion"], "image.toolkit.fluxcd.io/v1");
    assert_eq!(json["kind"], "ImagePolicy");
    assert_eq!(json["status"]["latestRef"]["tag"], "6.3.6");
    assert!(json["status"].get("latestImage").is_none());
}
