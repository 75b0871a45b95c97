//! Table-driven checks of policy evaluation.

use super::*;
use flux_api::image::{
    AlphabeticalPolicy, ImagePolicyChoice, NumericalPolicy, SemVerPolicy, TagFilter as SpecFilter,
};
use flux_api::meta::NamespacedObjectReference;

enum Kind {
    SemVer(&'static str),
    Alpha(SortOrder),
    Num(SortOrder),
}

fn spec(kind: Kind, pattern: Option<&str>, extract: Option<&str>) -> ImagePolicySpec {
    let mut choice = ImagePolicyChoice {
        semver: None,
        alphabetical: None,
        numerical: None,
    };
    match kind {
        Kind::SemVer(range) => {
            choice.semver = Some(SemVerPolicy {
                range: range.to_owned(),
            })
        }
        Kind::Alpha(order) => choice.alphabetical = Some(AlphabeticalPolicy { order: Some(order) }),
        Kind::Num(order) => choice.numerical = Some(NumericalPolicy { order: Some(order) }),
    }
    ImagePolicySpec {
        image_repository_ref: NamespacedObjectReference {
            name: "repo".to_owned(),
            namespace: None,
        },
        policy: choice,
        filter_tags: pattern.map(|p| SpecFilter {
            pattern: Some(p.to_owned()),
            extract: extract.map(str::to_owned),
        }),
        digest_reflection_policy: None,
        interval: None,
        suspend: None,
    }
}

/// (name, policy, pattern, extract, tags, expected latest)
type Case = (
    &'static str,
    Kind,
    Option<&'static str>,
    Option<&'static str>,
    &'static [&'static str],
    &'static str,
);

const MAIN_TS: &str = r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$";

#[test]
fn policies_pick_the_expected_latest_tag() {
    use SortOrder::{Asc, Desc};
    let cases: Vec<Case> = vec![
        (
            "semver ignores non-versions and pre-releases by default",
            Kind::SemVer(">=1.0.0"),
            None,
            None,
            &["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "latest", "v0.9.0"],
            "1.10.0",
        ),
        (
            "semver with a pre-release floor includes pre-releases",
            Kind::SemVer(">=1.0.0-0"),
            None,
            None,
            &["1.0.0", "1.10.0", "2.0.0-rc.1", "2.0.0-rc.10", "2.0.0-rc.2"],
            "2.0.0-rc.10",
        ),
        (
            "semver release beats its own pre-releases",
            Kind::SemVer(">=1.0.0-0"),
            None,
            None,
            &["2.0.0-rc.1", "2.0.0", "2.0.0-beta.3"],
            "2.0.0",
        ),
        (
            "semver tilde stays within the minor",
            Kind::SemVer("~1.2"),
            None,
            None,
            &["1.2.0", "1.2.9", "1.3.0", "v1.2.10"],
            "v1.2.10",
        ),
        (
            "semver caret with v prefixes",
            Kind::SemVer("^2"),
            None,
            None,
            &["v1.9.0", "v2.0.0", "v2.4.1", "v3.0.0"],
            "v2.4.1",
        ),
        (
            "semver on an extracted version",
            Kind::SemVer(">=1.0.0"),
            Some(r"^app-(?P<version>\d+\.\d+\.\d+)-[a-f0-9]+$"),
            Some("$version"),
            &[
                "app-1.2.0-abc123",
                "app-1.10.0-def456",
                "other-9.9.9-000000",
                "app-1.9.0-aaa",
            ],
            "app-1.10.0-def456",
        ),
        (
            "alphabetical asc picks the last",
            Kind::Alpha(Asc),
            None,
            None,
            &["b", "c", "a"],
            "c",
        ),
        (
            "alphabetical desc picks the first",
            Kind::Alpha(Desc),
            None,
            None,
            &["b", "c", "a"],
            "a",
        ),
        (
            "alphabetical on an extracted RELEASE timestamp",
            Kind::Alpha(Asc),
            Some(r"^RELEASE\.(?P<timestamp>.*)Z$"),
            Some("$timestamp"),
            &[
                "RELEASE.2024-03-01T10-00-00Z",
                "RELEASE.2024-11-20T08-30-00Z",
                "RELEASE.2023-12-31T23-59-59Z",
                "latest",
            ],
            "RELEASE.2024-11-20T08-30-00Z",
        ),
        (
            "numerical asc picks the highest, not the lexically last",
            Kind::Num(Asc),
            None,
            None,
            &["1", "10", "9", "2.5"],
            "10",
        ),
        (
            "numerical desc picks the lowest",
            Kind::Num(Desc),
            None,
            None,
            &["3", "10", "-1", "2"],
            "-1",
        ),
        (
            "numerical main-<sha>-<unix time> picks the newest build",
            Kind::Num(Asc),
            Some(MAIN_TS),
            Some("$ts"),
            &[
                "main-0a1b2c3-1700000300",
                "main-ffee001-1700000900",
                "main-1234abc-1699999999",
                "feature-aaaaaaa-1800000000",
                "latest",
            ],
            "main-ffee001-1700000900",
        ),
        (
            "numbered group with braces",
            Kind::Num(Asc),
            Some(r"^build-(\d+)$"),
            Some("${1}"),
            &["build-7", "build-12", "build-3"],
            "build-12",
        ),
        (
            "pattern without extract compares the whole tag",
            Kind::Alpha(Asc),
            Some(r"^v1\."),
            None,
            &["v1.1", "v1.9", "v2.0"],
            "v1.9",
        ),
        (
            "tags extracting to the same value: the later one wins",
            Kind::Num(Asc),
            Some(r"^(?:a|b)-(\d+)$"),
            Some("$1"),
            &["a-5", "b-5", "a-4"],
            "b-5",
        ),
    ];
    for (name, kind, pattern, extract, tags, want) in cases {
        let policy = Policy::from_spec(&spec(kind, pattern, extract))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = policy
            .latest(tags.iter().copied())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn policies_report_why_nothing_was_picked() {
    let nothing = Policy::from_spec(&spec(Kind::SemVer("^5"), None, None)).expect("valid");
    assert!(matches!(
        nothing.latest(["1.0.0", "2.0.0"]),
        Err(PolicyError::NoMatch { candidates: 2 })
    ));
    let filtered = Policy::from_spec(&spec(Kind::Num(SortOrder::Asc), Some(MAIN_TS), Some("$ts")))
        .expect("valid");
    assert!(matches!(
        filtered.latest(["latest", "dev"]),
        Err(PolicyError::NoMatch { candidates: 0 })
    ));
    let numeric = Policy::from_spec(&spec(Kind::Num(SortOrder::Asc), None, None)).expect("valid");
    let err = numeric.latest(["1", "latest"]).expect_err("not a number");
    assert!(matches!(err, PolicyError::NotNumeric { ref tag, .. } if tag == "latest"));
}

#[test]
fn invalid_range_and_pattern_are_rejected_at_compile_time() {
    assert!(matches!(
        Policy::from_spec(&spec(Kind::SemVer(">= banana"), None, None)),
        Err(PolicyError::InvalidRange { .. })
    ));
    assert!(matches!(
        Policy::from_spec(&spec(Kind::Alpha(SortOrder::Asc), Some("(unclosed"), None)),
        Err(PolicyError::InvalidPattern { .. })
    ));
    let mut two = spec(Kind::Alpha(SortOrder::Asc), None, None);
    two.policy.numerical = Some(NumericalPolicy { order: None });
    assert!(matches!(
        Policy::from_spec(&two),
        Err(PolicyError::NoSinglePolicy)
    ));
}

#[test]
fn digest_reflection_looks_up_only_when_the_policy_says_so() {
    let previous = ImageRef {
        name: "r/app".into(),
        tag: "1.0.0".into(),
        digest: Some("sha256:aa".into()),
    };
    assert!(!needs_digest(ReflectionPolicy::Never, "1.0.0", None));
    assert!(needs_digest(
        ReflectionPolicy::Always,
        "1.0.0",
        Some(&previous)
    ));
    assert!(!needs_digest(
        ReflectionPolicy::IfNotPresent,
        "1.0.0",
        Some(&previous)
    ));
    assert!(needs_digest(
        ReflectionPolicy::IfNotPresent,
        "1.1.0",
        Some(&previous)
    ));
    assert!(needs_digest(ReflectionPolicy::IfNotPresent, "1.0.0", None));
}
