//! Scans against a real registry (Debian's `docker-registry`) and policy evaluation over what
//! it returns.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_integration_tests::registry::{Registry, push_image};
use flux_api::image::{ImagePolicySpec, ImageRef, ReflectionPolicy};
use image_scanner::policy::{Policy, latest_ref};
use image_scanner::registry::{
    ClientOptions, ImageName, RegistryAuthSource, RegistryClient, RegistryError, TagScan,
    auth_from_docker_config, scan_tags,
};

const TAGS: &[&str] = &[
    "1.0.0",
    "1.2.0",
    "1.10.0",
    "2.0.0-rc.1",
    "latest",
    "main-0a1b2c3-1700000300",
    "main-ffee001-1700000900",
    "main-1234abc-1699999999",
    "RELEASE.2024-03-01T10-00-00Z",
    "RELEASE.2024-11-20T08-30-00Z",
    "sha256-0123abcd.sig",
];

fn insecure() -> ClientOptions {
    ClientOptions {
        insecure: true,
        timeout: Duration::from_secs(30),
        ..ClientOptions::default()
    }
}

fn default_exclusions() -> Vec<String> {
    vec![r"^.*\.sig$".to_owned()]
}

async fn registry_with_tags(repo: &str, tags: &[&str]) -> (Registry, ImageName) {
    let registry = Registry::start().await.expect("docker-registry starts");
    for tag in tags {
        push_image(&registry, repo, tag).await.expect("push");
    }
    let image = ImageName::parse(&format!("{}/{repo}", registry.host())).expect("image name");
    (registry, image)
}

fn policy(yaml_policy: serde_json::Value) -> ImagePolicySpec {
    serde_json::from_value(serde_json::json!({
        "imageRepositoryRef": {"name": "app"},
        "policy": yaml_policy["policy"],
        "filterTags": yaml_policy.get("filterTags"),
    }))
    .expect("policy spec")
}

fn latest(scan: &TagScan, spec: serde_json::Value) -> String {
    Policy::from_spec(&policy(spec))
        .expect("compiles")
        .latest(scan.tags.iter().map(String::as_str))
        .expect("a tag is chosen")
        .to_owned()
}

#[tokio::test]
async fn policies_pick_the_right_latest_tag_from_a_real_registry_scan() {
    let (_registry, image) = registry_with_tags("team/app", TAGS).await;
    let scan = scan_tags(
        &image,
        &RegistryAuthSource::Anonymous,
        &default_exclusions(),
        insecure(),
    )
    .await
    .expect("scan");
    assert_eq!(scan.tags.len(), TAGS.len() - 1, "the .sig tag is excluded");
    assert!(!scan.tags.iter().any(|t| t.ends_with(".sig")));
    assert_eq!(scan.canonical_image_name, image.canonical());
    assert_eq!(
        scan.latest_tags.first().map(String::as_str),
        Some("main-ffee001-1700000900")
    );

    let cases = [
        (
            serde_json::json!({"policy": {"semver": {"range": ">=1.0.0"}}}),
            "1.10.0",
        ),
        (
            serde_json::json!({"policy": {"semver": {"range": ">=1.0.0-0"}}}),
            "2.0.0-rc.1",
        ),
        (
            serde_json::json!({"policy": {"alphabetical": {"order": "asc"}}}),
            "main-ffee001-1700000900",
        ),
        (
            serde_json::json!({"policy": {"alphabetical": {"order": "desc"}}}),
            "1.0.0",
        ),
        (
            serde_json::json!({
                "policy": {"numerical": {"order": "asc"}},
                "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"}
            }),
            "main-ffee001-1700000900",
        ),
        (
            serde_json::json!({
                "policy": {"numerical": {"order": "desc"}},
                "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"}
            }),
            "main-1234abc-1699999999",
        ),
        (
            serde_json::json!({
                "policy": {"alphabetical": {}},
                "filterTags": {"pattern": "^RELEASE\\.(?P<timestamp>.*)Z$", "extract": "$timestamp"}
            }),
            "RELEASE.2024-11-20T08-30-00Z",
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(latest(&scan, spec.clone()), want, "{spec}");
    }
}

#[tokio::test]
async fn tag_listing_ends_cleanly_on_a_registry_that_ignores_n_and_last() {
    // distribution 2.8 ignores `n`/`last` on tags/list: the second page repeats the first,
    // which must end the listing without duplicates (paging proper: see fake_registry.rs).
    let tags = ["a1", "a2", "a3", "a4", "a5"];
    let (_registry, image) = registry_with_tags("paged", &tags).await;
    let options = ClientOptions {
        page_size: 2,
        ..insecure()
    };
    let scan = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], options)
        .await
        .expect("scan");
    assert_eq!(scan.tags, tags);
    assert_eq!(scan.pages, 2);
}

#[tokio::test]
async fn digest_reflection_records_the_pushed_manifest_digest() {
    let registry = Registry::start().await.expect("docker-registry starts");
    push_image(&registry, "digests", "1.0.0")
        .await
        .expect("push");
    let pushed = push_image(&registry, "digests", "1.1.0")
        .await
        .expect("push");
    let image_spec = format!("{}/digests", registry.host());
    let mut spec = policy(serde_json::json!({"policy": {"semver": {"range": "1.x"}}}));
    let tags = vec!["1.0.0".to_owned(), "1.1.0".to_owned()];
    let client = RegistryClient::new(insecure()).expect("client");
    let auth = RegistryAuthSource::Anonymous;

    let never = latest_ref(&spec, &image_spec, &tags, None, &client, &auth)
        .await
        .expect("latest");
    assert_eq!(
        never,
        ImageRef {
            name: image_spec.clone(),
            tag: "1.1.0".into(),
            digest: None
        }
    );
    spec.digest_reflection_policy = Some(ReflectionPolicy::IfNotPresent);
    let reflected = latest_ref(&spec, &image_spec, &tags, None, &client, &auth)
        .await
        .expect("latest with digest");
    assert_eq!(reflected.digest.as_deref(), Some(pushed.as_str()));
    // IfNotPresent keeps a recorded digest for the same tag without asking the registry.
    let stale = ImageRef {
        digest: Some("sha256:recorded".into()),
        ..reflected.clone()
    };
    let kept = latest_ref(&spec, &image_spec, &tags, Some(&stale), &client, &auth)
        .await
        .expect("kept");
    assert_eq!(kept.digest.as_deref(), Some("sha256:recorded"));
    spec.digest_reflection_policy = Some(ReflectionPolicy::Always);
    let always = latest_ref(&spec, &image_spec, &tags, Some(&stale), &client, &auth)
        .await
        .expect("always");
    assert_eq!(always.digest.as_deref(), Some(pushed.as_str()));
}

#[tokio::test]
async fn basic_auth_registry_rejects_anonymous_scans_and_accepts_docker_config_credentials() {
    let registry = Registry::start_with_htpasswd("scanner", "s3cret-pass")
        .await
        .expect("docker-registry starts");
    push_image(&registry, "private/app", "1.0.0")
        .await
        .expect("push");
    push_image(&registry, "private/app", "1.1.0")
        .await
        .expect("push");
    let image = ImageName::parse(&format!("{}/private/app", registry.host())).expect("name");

    let err = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], insecure())
        .await
        .expect_err("anonymous is refused");
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");

    let config = serde_json::json!({"auths": {registry.host(): {"username": "scanner", "password": "s3cret-pass"}}});
    let secret = BTreeMap::from([(
        ".dockerconfigjson".to_owned(),
        config.to_string().into_bytes(),
    )]);
    let auth = auth_from_docker_config(&secret, image.registry()).expect("credentials");
    let scan = scan_tags(&image, &RegistryAuthSource::Static(auth), &[], insecure())
        .await
        .expect("authenticated scan");
    assert_eq!(scan.tags, ["1.0.0", "1.1.0"]);

    let wrong = oci_client::secrets::RegistryAuth::Basic("scanner".into(), "wrong".into());
    let err = scan_tags(&image, &RegistryAuthSource::Static(wrong), &[], insecure())
        .await
        .expect_err("wrong password");
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");
    assert!(!err.to_string().contains("s3cret-pass"));
}

#[tokio::test]
async fn missing_repository_is_a_read_failure_with_its_status() {
    let (_registry, _) = registry_with_tags("exists", &["1"]).await;
    let image = ImageName::parse(&format!("{}/does-not-exist", _registry.host())).expect("name");
    let err = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], insecure())
        .await
        .expect_err("404");
    assert_eq!(err.reason(), "ReadOperationFailed", "{err}");
    assert!(
        matches!(
            err,
            RegistryError::Read {
                status: Some(404),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let image = ImageName::parse(&format!("{addr}/slow")).expect("name");
    let options = ClientOptions {
        timeout: Duration::from_millis(500),
        ..insecure()
    };
    let started = std::time::Instant::now();
    let err = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], options)
        .await
        .expect_err("timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.reason(), "ReadOperationFailed", "{err}");
    hold.abort();
}
