//! Semver constraints in the Masterminds syntax Flux uses for `ref.semver` and ImagePolicy:
//! `||` groups, comma- or space-separated comparators, `~`, `^`, `x` ranges, hyphen ranges, `!=`.

mod constraint;
mod version;

pub use constraint::{Constraint, ConstraintError};
pub use version::parse_version;

/// The highest of `candidates` that parses as a version (a leading `v`, and missing minor or
/// patch numbers, are accepted as Masterminds does) and satisfies `constraint`.
pub fn latest_matching<'a>(
    constraint: &Constraint,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter_map(|tag| parse_version(tag).map(|v| (v, tag)))
        .filter(|(v, _)| constraint.matches(v))
        .max_by(|(a, tag_a), (b, tag_b)| a.cmp(b).then_with(|| tag_a.cmp(tag_b)))
        .map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_matching_orders_numerically_and_keeps_the_original_tag() {
        let c = Constraint::parse(">=1.0.0").expect("parses");
        let tags = ["v1.2.0", "1.10.0", "v1.9.9", "latest", "2.0.0-rc.1"];
        assert_eq!(latest_matching(&c, tags), Some("1.10.0"));
    }

    #[test]
    fn latest_matching_returns_none_when_nothing_matches() {
        let c = Constraint::parse("^3").expect("parses");
        assert_eq!(latest_matching(&c, ["1.0.0", "2.0.0"]), None);
    }
}
