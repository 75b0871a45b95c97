//! Defaults, validation errors, revision strings, condition helpers and the generated CRDs.

use std::time::Duration;

use flux_api::conditions::{self, reasons, types};
use flux_api::crd;
use flux_api::image;
use flux_api::kustomize::{DeletionPolicy, Kustomization, SubstituteStrategy};
use flux_api::meta::{Condition, ConditionStatus};
use flux_api::notification::Receiver;
use flux_api::revision::{Algorithm, Digest, Revision, RevisionError};
use flux_api::source::{GitProvider, GitRepository, OCIProvider, OCIRepository};
use flux_api::validation::{FieldError, from_yaml};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use pretty_assertions::assert_eq;

const SHA1: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
const SHA256: &str = "3b6cdcc7adcc9a84d3214ee1c029543789d90b5ae69debe9efa3f66e982875de";

fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    from_yaml(yaml).unwrap_or_else(|e| panic!("parse failed: {e}"))
}

fn parse_err<T: serde::de::DeserializeOwned + std::fmt::Debug>(yaml: &str) -> FieldError {
    match from_yaml::<T>(yaml) {
        Err(flux_api::validation::ParseError::Field(e)) => e,
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn git_repo(spec: &str) -> GitRepository {
    parse(&format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: r\nspec:\n{spec}"
    ))
}

fn kustomization(spec: &str) -> Kustomization {
    parse(&format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: k\nspec:\n{spec}"
    ))
}

fn crd_named(name: &str) -> CustomResourceDefinition {
    crd::all_crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"))
}

fn schema<'a>(
    crd: &'a CustomResourceDefinition,
    version: &str,
    path: &[&str],
) -> &'a JSONSchemaProps {
    let v = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .expect("version");
    let mut node = v
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    for p in path {
        node = node
            .properties
            .as_ref()
            .and_then(|props| props.get(*p))
            .unwrap_or_else(|| panic!("no property {p} in {path:?}"));
    }
    node
}

fn schema_default(
    crd: &CustomResourceDefinition,
    version: &str,
    path: &[&str],
) -> serde_json::Value {
    schema(crd, version, path)
        .default
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| panic!("no default at {path:?}"))
}

fn at(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).expect("timestamp"))
}

// ---------------------------------------------------------------- defaults

#[test]
fn git_repository_timeout_defaults_to_60s_in_code_and_crd() {
    let gr = git_repo("  url: https://github.com/org/repo\n  interval: 1m\n");
    assert_eq!(gr.spec.timeout, None, "decoding does not inject defaults");
    assert_eq!(gr.spec.timeout(), Duration::from_secs(60));
    let crd = crd_named("gitrepositories.source.toolkit.fluxcd.io");
    assert_eq!(schema_default(&crd, "v1", &["spec", "timeout"]), "60s");
    assert_eq!(
        schema_default(&crd, "v1", &["spec", "verify", "mode"]),
        "HEAD"
    );
}

#[test]
fn git_repository_ref_defaults_to_master_and_provider_to_generic() {
    let gr = git_repo("  url: https://github.com/org/repo\n  interval: 1m\n  ref: {}\n");
    assert_eq!(gr.spec.reference().branch.as_deref(), Some("master"));
    assert_eq!(gr.spec.provider(), GitProvider::Generic);
    let tagged =
        git_repo("  url: https://github.com/org/repo\n  interval: 1m\n  ref:\n    tag: v1.0.0\n");
    assert_eq!(tagged.spec.reference().branch, None);
    assert_eq!(tagged.spec.reference().tag.as_deref(), Some("v1.0.0"));
}

#[test]
fn oci_repository_defaults_to_tag_latest_generic_provider_and_60s() {
    let o: OCIRepository = parse(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: o\nspec:\n  url: oci://ghcr.io/org/app\n  interval: 5m\n",
    );
    assert_eq!(o.spec.reference().tag.as_deref(), Some("latest"));
    assert_eq!(o.spec.provider(), OCIProvider::Generic);
    assert_eq!(o.spec.timeout(), Duration::from_secs(60));
    let crd = crd_named("ocirepositories.source.toolkit.fluxcd.io");
    assert_eq!(schema_default(&crd, "v1", &["spec", "provider"]), "generic");
    assert_eq!(schema_default(&crd, "v1", &["spec", "timeout"]), "60s");
    assert_eq!(
        schema_default(&crd, "v1", &["spec", "verify", "provider"]),
        "cosign"
    );
}

#[test]
fn kustomization_prune_is_required() {
    let err = parse_err::<Kustomization>(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: k\nspec:\n  interval: 5m\n  sourceRef:\n    kind: GitRepository\n    name: repo\n",
    );
    assert_eq!(err.field, "spec");
    assert!(err.to_string().contains("missing field `prune`"), "{err}");
    let crd = crd_named("kustomizations.kustomize.toolkit.fluxcd.io");
    let required = schema(&crd, "v1", &["spec"])
        .required
        .clone()
        .unwrap_or_default();
    for field in ["interval", "prune", "sourceRef"] {
        assert!(required.iter().any(|r| r == field), "{field} not required");
    }
}

#[test]
fn kustomization_timeout_defaults_to_interval_minus_30s_with_30s_floor() {
    let spec = "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: repo\n";
    let k = kustomization(&format!("  interval: 10m\n{spec}"));
    assert_eq!(k.spec.timeout(), Duration::from_secs(570));
    assert_eq!(k.spec.retry_interval(), Duration::from_secs(600));
    assert_eq!(k.spec.deletion_policy(), DeletionPolicy::MirrorPrune);
    assert_eq!(
        k.spec.substitute_strategy(),
        SubstituteStrategy::WithVariables
    );
    let short = kustomization(&format!("  interval: 40s\n{spec}"));
    assert_eq!(short.spec.timeout(), Duration::from_secs(30));
    let explicit = kustomization(&format!("  interval: 1h\n  timeout: 10s\n{spec}"));
    assert_eq!(explicit.spec.timeout(), Duration::from_secs(30));
    let crd = crd_named("kustomizations.kustomize.toolkit.fluxcd.io");
    assert_eq!(schema_default(&crd, "v1", &["spec", "force"]), false);
}

#[test]
fn image_repository_defaults_exclude_signature_tags_and_time_out_at_interval() {
    let r: image::ImageRepository = parse(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: r\nspec:\n  image: ghcr.io/org/app\n  interval: 5m\n",
    );
    assert_eq!(r.spec.exclusion_list(), vec![r"^.*\.sig$".to_owned()]);
    assert_eq!(r.spec.timeout(), Duration::from_secs(300));
    let crd = crd_named("imagerepositories.image.toolkit.fluxcd.io");
    for version in ["v1", "v1beta2"] {
        assert_eq!(
            schema_default(&crd, version, &["spec", "exclusionList"]),
            serde_json::json!([r"^.*\.sig$"])
        );
        assert_eq!(
            schema_default(&crd, version, &["spec", "provider"]),
            "generic"
        );
    }
}

#[test]
fn image_policy_and_automation_defaults_match_flux() {
    let crd = crd_named("imagepolicies.image.toolkit.fluxcd.io");
    assert_eq!(
        schema_default(&crd, "v1", &["spec", "digestReflectionPolicy"]),
        "Never"
    );
    assert_eq!(
        schema_default(&crd, "v1", &["spec", "policy", "alphabetical", "order"]),
        "asc"
    );
    let crd = crd_named("imageupdateautomations.image.toolkit.fluxcd.io");
    assert_eq!(
        schema_default(&crd, "v1", &["spec", "update"]),
        serde_json::json!({"strategy": "Setters"})
    );
    assert_eq!(
        schema_default(&crd, "v1", &["spec", "sourceRef", "kind"]),
        "GitRepository"
    );
}

#[test]
fn receiver_interval_defaults_to_10m() {
    let r: Receiver = parse(
        "apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata:\n  name: r\nspec:\n  type: generic\n  secretRef:\n    name: t\n  resources:\n    - kind: GitRepository\n      name: repo\n",
    );
    assert_eq!(r.spec.interval(), Duration::from_secs(600));
    let crd = crd_named("receivers.notification.toolkit.fluxcd.io");
    assert_eq!(schema_default(&crd, "v1", &["spec", "interval"]), "10m");
}

#[test]
fn every_crd_version_defaults_status_observed_generation_to_minus_one() {
    for crd in crd::all_crds() {
        for v in &crd.spec.versions {
            assert_eq!(
                schema_default(&crd, &v.name, &["status"]),
                serde_json::json!({"observedGeneration": -1}),
                "{:?} {}",
                crd.metadata.name,
                v.name
            );
        }
    }
}

// ---------------------------------------------------------------- validation

#[test]
fn malformed_interval_is_reported_with_its_field_path() {
    let err = parse_err::<GitRepository>(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: r\nspec:\n  url: https://example.com/repo\n  interval: 5x\n",
    );
    assert_eq!(err.field, "spec.interval");
    assert!(
        err.to_string()
            .starts_with(r#"spec.interval: "5x" is not a duration (want Go duration like 1m30s)"#),
        "{err}"
    );
}

#[test]
fn git_repository_validate_names_url_timeout_and_service_account_fields() {
    let gr = git_repo(
        "  url: git@github.com:org/repo\n  interval: 1m\n  timeout: 1h\n  serviceAccountName: sa\n",
    );
    let errs = gr.spec.validate().expect_err("invalid");
    assert!(errs.has_field("spec.url"), "{errs}");
    assert!(errs.has_field("spec.timeout"), "{errs}");
    assert!(errs.has_field("spec.serviceAccountName"), "{errs}");
    assert!(errs.to_string().contains(
        "spec.serviceAccountName: serviceAccountName can only be set when provider is 'azure' or 'aws'"
    ));
    let ok = git_repo(
        "  url: ssh://git@github.com/org/repo\n  interval: 1m\n  provider: aws\n  serviceAccountName: sa\n",
    );
    ok.spec.validate().expect("valid");
}

#[test]
fn go_durations_outside_flux_patterns_fail_validation() {
    let gr = git_repo("  url: https://github.com/org/repo\n  interval: 1500us\n");
    let errs = gr
        .spec
        .validate()
        .expect_err("us is not in Flux's interval pattern");
    assert_eq!(errs.errors()[0].field, "spec.interval");
}

#[test]
fn kustomization_validate_names_kube_config_and_length_fields() {
    let k = kustomization(
        "  interval: 5m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: repo\n  targetNamespace: \"\"\n  kubeConfig:\n    secretRef:\n      name: a\n    configMapRef:\n      name: b\n",
    );
    let errs = k.spec.validate().expect_err("invalid");
    assert!(errs.has_field("spec.kubeConfig"), "{errs}");
    assert!(errs.has_field("spec.targetNamespace"), "{errs}");
}

#[test]
fn kustomization_source_kind_outside_the_enum_is_rejected_by_field() {
    let err = parse_err::<Kustomization>(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: k\nspec:\n  interval: 5m\n  prune: true\n  sourceRef:\n    kind: HelmRepository\n    name: repo\n",
    );
    assert_eq!(err.field, "spec.sourceRef.kind");
}

#[test]
fn image_policy_interval_rules_follow_flux_cel() {
    let base = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: p\nspec:\n  imageRepositoryRef:\n    name: r\n  policy:\n    semver:\n      range: 1.x\n";
    let p: image::ImagePolicy = parse(&format!("{base}  interval: 5m\n"));
    let errs = p.spec.validate().expect_err("interval needs Always");
    assert_eq!(errs.errors()[0].field, "spec.interval");
    let p: image::ImagePolicy = parse(&format!("{base}  digestReflectionPolicy: Always\n"));
    let errs = p.spec.validate().expect_err("Always needs interval");
    assert!(
        errs.to_string().contains("spec.interval must be set"),
        "{errs}"
    );
    let p: image::ImagePolicy = parse(&format!(
        "{base}  digestReflectionPolicy: Always\n  interval: 5m\n"
    ));
    p.spec.validate().expect("valid");
    let p: image::ImagePolicy = parse(&format!("{base}  filterTags:\n    pattern: '^(unclosed'\n"));
    assert!(
        p.spec
            .validate()
            .expect_err("bad regex")
            .has_field("spec.filterTags.pattern")
    );
}

#[test]
fn receiver_validate_enforces_oidc_and_secret_rules() {
    let base = "apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata:\n  name: r\nspec:\n  resources:\n    - kind: GitRepository\n      name: repo\n";
    let r: Receiver = parse(&format!("{base}  type: github\n"));
    let errs = r.spec.validate().expect_err("github needs a secret");
    assert!(
        errs.to_string()
            .contains("spec.secretRef: secretRef is required when type is not generic-oidc")
    );
    let r: Receiver = parse(&format!(
        "{base}  type: generic-oidc\n  secretRef:\n    name: t\n"
    ));
    let errs = r.spec.validate().expect_err("oidc rules");
    assert!(errs.has_field("spec.oidcProviders"), "{errs}");
    assert!(errs.has_field("spec.secretRef"), "{errs}");
    let err = parse_err::<Receiver>(&format!("{base}  type: teams\n"));
    assert_eq!(err.field, "spec.type");
}

#[test]
fn image_repository_validate_checks_exclusion_regexes() {
    let r: image::ImageRepository = parse(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: r\nspec:\n  image: ghcr.io/org/app\n  interval: 5m\n  exclusionList:\n    - '['\n",
    );
    let errs = r.spec.validate().expect_err("bad regex");
    assert_eq!(errs.errors()[0].field, "spec.exclusionList[0]");
}

// ---------------------------------------------------------------- revisions

#[test]
fn revisions_parse_and_format_in_every_flux_form() {
    let cases: Vec<(String, Revision)> = vec![
        (
            format!("main@sha1:{SHA1}"),
            Revision::branch("main", SHA1).unwrap(),
        ),
        (
            format!("feature/x@sha1:{SHA1}"),
            Revision::branch("feature/x", SHA1).unwrap(),
        ),
        (
            format!("v1.0.0@sha1:{SHA1}"),
            Revision::tag("v1.0.0", SHA1).unwrap(),
        ),
        (
            format!("6.6.0-rc.1@sha1:{SHA1}"),
            Revision::tag("6.6.0-rc.1", SHA1).unwrap(),
        ),
        (
            format!("refs/pull/1/head@sha1:{SHA1}"),
            Revision::reference("refs/pull/1/head", SHA1).unwrap(),
        ),
        (format!("sha1:{SHA1}"), Revision::commit(SHA1).unwrap()),
        (
            format!("latest@sha256:{SHA256}"),
            Revision::oci("latest", SHA256).unwrap(),
        ),
        (
            format!("sha256:{SHA256}"),
            Revision::Digest(Digest::sha256(SHA256).unwrap()),
        ),
    ];
    for (text, expected) in cases {
        let parsed: Revision = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, expected, "{text}");
        assert_eq!(parsed.to_string(), text);
    }
}

#[test]
fn legacy_revisions_are_accepted_and_rewritten_like_transform_revision() {
    let r: Revision = format!("main/{SHA1}").parse().unwrap();
    assert_eq!(r.to_string(), format!("main@sha1:{SHA1}"));
    let r: Revision = SHA1.parse().unwrap();
    assert_eq!(r, Revision::commit(SHA1).unwrap());
    assert_eq!(r.to_string(), format!("sha1:{SHA1}"));
}

#[test]
fn malformed_revisions_are_rejected_with_typed_errors() {
    assert_eq!("".parse::<Revision>(), Err(RevisionError::Empty));
    assert!(matches!(
        format!("@sha1:{SHA1}").parse::<Revision>(),
        Err(RevisionError::EmptyName(_))
    ));
    assert!(matches!(
        "main@sha1:abc".parse::<Revision>(),
        Err(RevisionError::WrongLength {
            algorithm: Algorithm::Sha1,
            expected: 40,
            actual: 3
        })
    ));
    assert!(matches!(
        format!("main@md5:{SHA1}").parse::<Revision>(),
        Err(RevisionError::UnknownAlgorithm(a)) if a == "md5"
    ));
    assert!(matches!(
        format!("sha1:{}", SHA1.to_uppercase()).parse::<Revision>(),
        Err(RevisionError::NotHex(_))
    ));
    assert!(matches!(
        "main".parse::<Revision>(),
        Err(RevisionError::MissingAlgorithm(_))
    ));
    assert!(matches!(
        "main@".parse::<Revision>(),
        Err(RevisionError::Empty)
    ));
    let err = "main@sha1:abc".parse::<Revision>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "sha1 digest must have 40 hex digits, got 3"
    );
}

#[test]
fn digests_require_algorithm_and_exact_lowercase_hex() {
    let d = Digest::parse_sha256(&format!("sha256:{SHA256}")).unwrap();
    assert_eq!(d.algorithm(), Algorithm::Sha256);
    assert_eq!(d.hex(), SHA256);
    assert_eq!(d.to_string(), format!("sha256:{SHA256}"));
    assert!(matches!(
        Digest::parse_sha256(&format!("sha1:{SHA1}")),
        Err(RevisionError::UnexpectedAlgorithm { .. })
    ));
    assert!(
        format!("sha256:{}", &SHA256[..63])
            .parse::<Digest>()
            .is_err()
    );
    assert!(SHA256.parse::<Digest>().is_err());
}

// ---------------------------------------------------------------- conditions

fn cond(type_: &str, status: ConditionStatus, reason: &str, msg: &str, t: i64) -> Condition {
    conditions::new_condition(type_, status, reason, msg, Some(1), at(t))
}

#[test]
fn setting_a_condition_keeps_transition_time_unless_status_changes() {
    let mut list = vec![cond(
        types::READY,
        ConditionStatus::True,
        reasons::SUCCEEDED,
        "a",
        100,
    )];
    conditions::set(
        &mut list,
        cond(
            types::READY,
            ConditionStatus::True,
            reasons::SUCCEEDED,
            "b",
            200,
        ),
    );
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].message, "b");
    assert_eq!(list[0].last_transition_time, at(100));
    conditions::set(
        &mut list,
        cond(
            types::READY,
            ConditionStatus::False,
            reasons::FAILED,
            "c",
            300,
        ),
    );
    assert_eq!(list[0].last_transition_time, at(300));
    assert_eq!(list[0].reason, reasons::FAILED);
    conditions::set(
        &mut list,
        cond(
            types::HEALTHY,
            ConditionStatus::Unknown,
            reasons::PROGRESSING,
            "",
            400,
        ),
    );
    assert_eq!(list.len(), 2);
    assert!(conditions::is_false(&list, types::READY));
    assert!(conditions::is_unknown(&list, types::HEALTHY));
    assert!(conditions::is_unknown(&list, types::STALLED));
    assert_eq!(
        conditions::find(&list, types::HEALTHY).map(|c| c.last_transition_time.clone()),
        Some(at(400))
    );
}

#[test]
fn abnormal_true_conditions_are_removed_instead_of_set_false() {
    let mut list = Vec::new();
    conditions::set_abnormal(
        &mut list,
        types::RECONCILING,
        true,
        reasons::PROGRESSING,
        "working",
        Some(1),
        at(1),
    );
    assert!(conditions::is_true(&list, types::RECONCILING));
    conditions::set_abnormal(
        &mut list,
        types::RECONCILING,
        false,
        reasons::SUCCEEDED,
        "",
        Some(1),
        at(2),
    );
    assert!(conditions::find(&list, types::RECONCILING).is_none());
}

#[test]
fn ready_summary_follows_flux_negative_polarity_priority() {
    let order = [
        types::STALLED,
        types::RECONCILING,
        types::FETCH_FAILED,
        types::ARTIFACT_OUTDATED,
        types::ARTIFACT_IN_STORAGE,
    ];
    let negative = [
        types::STALLED,
        types::RECONCILING,
        types::FETCH_FAILED,
        types::ARTIFACT_OUTDATED,
    ];
    let stored = cond(
        types::ARTIFACT_IN_STORAGE,
        ConditionStatus::True,
        reasons::SUCCEEDED,
        "stored artifact for revision 'x'",
        10,
    );

    let ok = vec![stored.clone()];
    let ready =
        conditions::summarize_ready(&ok, &order, &negative, Some(1), at(20)).expect("ready");
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        (ConditionStatus::True, reasons::SUCCEEDED)
    );
    assert_eq!(ready.message, "stored artifact for revision 'x'");

    let failing = vec![
        stored.clone(),
        cond(
            types::FETCH_FAILED,
            ConditionStatus::True,
            reasons::AUTHENTICATION_FAILED,
            "401",
            11,
        ),
    ];
    let ready =
        conditions::summarize_ready(&failing, &order, &negative, Some(1), at(20)).expect("ready");
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        (ConditionStatus::False, reasons::AUTHENTICATION_FAILED)
    );

    let progressing = vec![
        stored.clone(),
        cond(
            types::RECONCILING,
            ConditionStatus::True,
            reasons::PROGRESSING,
            "reconciling",
            12,
        ),
    ];
    let ready = conditions::summarize_ready(&progressing, &order, &negative, Some(1), at(20))
        .expect("ready");
    assert_eq!(ready.status, ConditionStatus::Unknown);

    let mut with_ready = ok.clone();
    with_ready.push(cond(
        types::READY,
        ConditionStatus::True,
        reasons::SUCCEEDED,
        "old",
        5,
    ));
    let ready = conditions::summarize_ready(&with_ready, &order, &negative, Some(1), at(20))
        .expect("ready");
    assert_eq!(
        ready.last_transition_time,
        at(5),
        "unchanged status keeps its transition time"
    );

    assert!(conditions::summarize_ready(&[], &order, &negative, Some(1), at(20)).is_none());
}

// ---------------------------------------------------------------- CRDs

#[test]
fn crds_in_deploy_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let files = crd::rendered_files().expect("render");
    for (name, contents) in files {
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            on_disk == contents,
            "deploy/crds/{name} is stale; regenerate with `cargo run -p flux-api --bin crdgen -- deploy/crds`"
        );
    }
}

#[test]
fn crds_carry_flux_names_short_names_categories_and_columns() {
    let expect = [
        (
            "gitrepositories.source.toolkit.fluxcd.io",
            "GitRepository",
            vec!["gitrepo"],
            "fluxcd-sources",
            vec!["URL", "Age", "Ready", "Status"],
        ),
        (
            "ocirepositories.source.toolkit.fluxcd.io",
            "OCIRepository",
            vec!["ocirepo"],
            "fluxcd-sources",
            vec!["URL", "Ready", "Status", "Age"],
        ),
        (
            "kustomizations.kustomize.toolkit.fluxcd.io",
            "Kustomization",
            vec!["ks"],
            "fluxcd-appliers",
            vec!["Age", "Ready", "Status"],
        ),
        (
            "imagerepositories.image.toolkit.fluxcd.io",
            "ImageRepository",
            vec!["imgrepo", "imagerepo"],
            "fluxcd-images",
            vec!["Image", "Tags", "Ready", "Status", "Last scan", "Age"],
        ),
        (
            "imagepolicies.image.toolkit.fluxcd.io",
            "ImagePolicy",
            vec!["imgpol", "imagepol"],
            "fluxcd-images",
            vec!["Image", "Tag", "Ready", "Status", "Age"],
        ),
        (
            "imageupdateautomations.image.toolkit.fluxcd.io",
            "ImageUpdateAutomation",
            vec!["iua", "imgupd", "imgauto"],
            "fluxcd-images",
            vec!["Ready", "Status", "Last run", "Age"],
        ),
        (
            "receivers.notification.toolkit.fluxcd.io",
            "Receiver",
            vec![],
            "fluxcd-notifications",
            vec!["Age", "Ready", "Status"],
        ),
    ];
    assert_eq!(crd::all_crds().len(), expect.len());
    for (name, kind, short, category, columns) in expect {
        let c = crd_named(name);
        assert_eq!(c.spec.names.kind, kind);
        assert_eq!(
            c.spec.names.list_kind.as_deref(),
            Some(format!("{kind}List").as_str())
        );
        assert_eq!(c.spec.names.short_names.clone().unwrap_or_default(), short);
        assert_eq!(
            c.spec.names.categories.clone().unwrap_or_default(),
            vec!["all", "fluxcd", category]
        );
        assert_eq!(c.spec.scope, "Namespaced");
        assert_eq!(
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kustomize.toolkit.fluxcd.io/substitute"))
                .map(String::as_str),
            Some("disabled")
        );
        for v in &c.spec.versions {
            let names: Vec<&str> = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|col| col.name.as_str())
                .collect();
            assert_eq!(names, columns, "{name} {}", v.name);
            assert!(
                v.subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref())
                    .is_some()
            );
        }
    }
}

#[test]
fn image_crds_store_v1_and_serve_deprecated_v1beta2() {
    for name in [
        "imagerepositories.image.toolkit.fluxcd.io",
        "imagepolicies.image.toolkit.fluxcd.io",
        "imageupdateautomations.image.toolkit.fluxcd.io",
    ] {
        let c = crd_named(name);
        let versions: Vec<(&str, bool, bool, Option<bool>)> = c
            .spec
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.served, v.storage, v.deprecated))
            .collect();
        assert_eq!(
            versions,
            vec![
                ("v1", true, true, None),
                ("v1beta2", true, false, Some(true))
            ]
        );
    }
}

#[test]
fn crds_embed_flux_cel_rules() {
    let rules = |crd: &CustomResourceDefinition, path: &[&str]| -> Vec<String> {
        schema(crd, "v1", path)
            .x_kubernetes_validations
            .iter()
            .flatten()
            .map(|r| r.rule.clone())
            .collect()
    };
    let git = crd_named("gitrepositories.source.toolkit.fluxcd.io");
    assert_eq!(rules(&git, &["spec"]).len(), 1);
    let ks = crd_named("kustomizations.kustomize.toolkit.fluxcd.io");
    assert_eq!(rules(&ks, &["spec", "kubeConfig"]).len(), 2);
    let pol = crd_named("imagepolicies.image.toolkit.fluxcd.io");
    assert_eq!(rules(&pol, &["spec"]).len(), 2);
    let rcv = crd_named("receivers.notification.toolkit.fluxcd.io");
    assert_eq!(rules(&rcv, &["spec"]).len(), 4);
}

#[test]
fn crd_schemas_carry_flux_patterns_and_enums() {
    let git = crd_named("gitrepositories.source.toolkit.fluxcd.io");
    assert_eq!(
        schema(&git, "v1", &["spec", "interval"]).pattern.as_deref(),
        Some(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
    );
    assert_eq!(
        schema(&git, "v1", &["spec", "url"]).pattern.as_deref(),
        Some(r"^(http|https|ssh|git|file)://.*$"),
        "Flux's schemes plus the two local ones Ferry fetches"
    );
    let providers: Vec<serde_json::Value> = schema(&git, "v1", &["spec", "provider"])
        .enum_
        .iter()
        .flatten()
        .map(|j| j.0.clone())
        .collect();
    assert_eq!(providers, vec!["generic", "aws", "azure", "github"]);
    assert!(schema(&git, "v1", &["spec", "timeout"]).nullable.is_none());
}

#[test]
fn deprecated_latest_image_strings_parse_into_image_refs() {
    let r = image::ImageRef::parse("localhost:5000/org/app:1.2.3").expect("parses");
    assert_eq!(
        (r.name.as_str(), r.tag.as_str()),
        ("localhost:5000/org/app", "1.2.3")
    );
    assert_eq!(r.to_string(), "localhost:5000/org/app:1.2.3");
    let d = image::ImageRef::parse(&format!("ghcr.io/app:v1@sha256:{SHA256}")).expect("parses");
    assert_eq!(d.digest, Some(format!("sha256:{SHA256}")));
    assert!(image::ImageRef::parse("localhost:5000/org/app").is_none());
}

#[test]
fn go_duration_parses_long_fractions_without_overflow() {
    let d: flux_api::GoDuration = "1.123456789012345678901234567890h".parse().expect("parses");
    assert_eq!(d.as_duration().as_secs(), 4044);
    assert_eq!(d.to_string(), "1.123456789012345678901234567890h");
    assert_eq!(
        flux_api::GoDuration::from_duration(Duration::from_secs(5400)).as_str(),
        "1h30m0s"
    );
}

#[test]
fn artifacts_match_revisions_in_new_and_legacy_spelling() {
    let gr: GitRepository = parse(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/v1/gitrepository-status.yaml"),
        )
        .expect("fixture"),
    );
    let artifact = gr.status.and_then(|s| s.artifact).expect("artifact");
    assert_eq!(
        artifact.parsed_revision().expect("valid"),
        Revision::reference("refs/pull/420/head", SHA1).expect("valid")
    );
    assert!(artifact.has_revision(&format!("refs/pull/420/head@sha1:{SHA1}")));
    assert!(artifact.has_revision(&format!("refs/pull/420/head/{SHA1}")));
    assert!(!artifact.has_revision(&format!("main@sha1:{SHA1}")));
}
