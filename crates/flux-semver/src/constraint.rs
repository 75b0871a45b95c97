//! Parsing and checking Masterminds-style constraints.

use semver::{Prerelease, Version};
use std::cmp::Ordering;

/// A parsed constraint: any of the `||` groups, each an AND of comparators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    groups: Vec<Vec<Comparator>>,
}

/// Why a constraint string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The constraint is empty or has an empty `||` group.
    #[error("empty constraint")]
    Empty,
    /// A comparator's version part is not a version or wildcard.
    #[error("'{0}' is not a valid version in a constraint")]
    BadVersion(String),
    /// An operator without a version after it.
    #[error("operator '{0}' has no version after it")]
    DanglingOperator(String),
}

/// One comparator as a half-open range, plus Masterminds' pre-release rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Comparator {
    Range {
        lower: Option<(Version, bool)>,
        upper: Option<(Version, bool)>,
        allows_prerelease: bool,
    },
    /// Outside `[lower, upper)`, or not equal to `lower` when `upper` is `None`.
    Not {
        lower: Version,
        upper: Option<Version>,
        allows_prerelease: bool,
    },
}

/// A version as written in a constraint, where missing parts are wildcards.
#[derive(Debug, Clone)]
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Prerelease,
}

const OPERATORS: &[&str] = &["!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^"];

impl Constraint {
    /// Parses `text`, e.g. `>=1.0.0 <2.0.0 || ^3.1`, `~1.2`, `1.2.x`, `1.0 - 1.4.5`, `!=1.3.0`.
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let groups = text
            .split("||")
            .map(parse_group)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Constraint { groups })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.groups
            .iter()
            .any(|group| group.iter().all(|c| c.matches(version)))
    }
}

impl std::str::FromStr for Constraint {
    type Err = ConstraintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

fn parse_group(text: &str) -> Result<Vec<Comparator>, ConstraintError> {
    let tokens: Vec<&str> = text
        .split([',', ' ', '\t'])
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Err(ConstraintError::Empty);
    }
    let mut comparators = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let mut token = tokens[i].to_string();
        if OPERATORS.contains(&token.as_str()) {
            let next = tokens
                .get(i + 1)
                .ok_or_else(|| ConstraintError::DanglingOperator(token.clone()))?;
            token.push_str(next);
            i += 1;
        }
        if tokens.get(i + 1) == Some(&"-") {
            let upper = tokens
                .get(i + 2)
                .ok_or_else(|| ConstraintError::DanglingOperator("-".into()))?;
            comparators.push(hyphen(&token, upper)?);
            i += 3;
            continue;
        }
        comparators.push(comparator(&token)?);
        i += 1;
    }
    Ok(comparators)
}

fn comparator(token: &str) -> Result<Comparator, ConstraintError> {
    let op = OPERATORS
        .iter()
        .find(|op| token.starts_with(**op))
        .copied()
        .unwrap_or("");
    let p = partial(&token[op.len()..])?;
    let pre = !p.pre.is_empty();
    let range =
        |lower: Option<(Version, bool)>, upper: Option<(Version, bool)>| Comparator::Range {
            lower,
            upper,
            allows_prerelease: pre,
        };
    Ok(match op {
        "" | "=" => range(Some((p.floor(), true)), p.exact_or_ceiling()),
        "!=" => Comparator::Not {
            lower: p.floor(),
            upper: if p.is_partial() { p.ceiling() } else { None },
            allows_prerelease: pre,
        },
        ">" => match p.ceiling() {
            Some(ceiling) if p.is_partial() => range(Some((ceiling, true)), None),
            _ => range(Some((p.floor(), false)), None),
        },
        ">=" | "=>" => range(Some((p.floor(), true)), None),
        "<" => range(None, Some((p.floor(), false))),
        "<=" | "=<" => range(None, p.exact_or_ceiling()),
        "~" | "~>" => range(
            Some((p.floor(), true)),
            p.tilde_ceiling().map(|v| (v, false)),
        ),
        "^" => range(
            Some((p.floor(), true)),
            p.caret_ceiling().map(|v| (v, false)),
        ),
        other => return Err(ConstraintError::DanglingOperator(other.to_string())),
    })
}

fn hyphen(lower: &str, upper: &str) -> Result<Comparator, ConstraintError> {
    let low = partial(lower)?;
    let high = partial(upper)?;
    Ok(Comparator::Range {
        lower: Some((low.floor(), true)),
        upper: high.exact_or_ceiling(),
        allows_prerelease: !low.pre.is_empty() || !high.pre.is_empty(),
    })
}

fn partial(text: &str) -> Result<Partial, ConstraintError> {
    let bad = || ConstraintError::BadVersion(text.to_string());
    let body = text.strip_prefix('v').unwrap_or(text);
    if body.is_empty() {
        return Err(bad());
    }
    let (core, pre) = match body.split_once('-') {
        Some((core, pre)) => (core, pre.split('+').next().unwrap_or("")),
        None => (body.split('+').next().unwrap_or(body), ""),
    };
    let mut parts = core.split('.');
    let mut next = || -> Result<Option<u64>, ConstraintError> {
        match parts.next() {
            None | Some("x" | "X" | "*") => Ok(None),
            Some(n) => n.parse().map(Some).map_err(|_| bad()),
        }
    };
    let major = next()?;
    let minor = next()?;
    let patch = next()?;
    if parts.next().is_some() {
        return Err(bad());
    }
    let pre = Prerelease::new(pre).map_err(|_| bad())?;
    Ok(Partial {
        major,
        minor: major.and(minor),
        patch: major.and(minor).and(patch),
        pre,
    })
}

impl Partial {
    fn is_partial(&self) -> bool {
        self.patch.is_none()
    }

    /// The lowest version the partial covers: missing parts are 0.
    fn floor(&self) -> Version {
        let mut v = Version::new(
            self.major.unwrap_or(0),
            self.minor.unwrap_or(0),
            self.patch.unwrap_or(0),
        );
        v.pre = self.pre.clone();
        v
    }

    /// The first version above what the partial covers (`1.2` -> `1.3.0`); `None` for `*`.
    fn ceiling(&self) -> Option<Version> {
        match (self.major, self.minor, self.patch) {
            (None, _, _) => None,
            (Some(major), None, _) => Some(Version::new(major + 1, 0, 0)),
            (Some(major), Some(minor), None) => Some(Version::new(major, minor + 1, 0)),
            (Some(major), Some(minor), Some(patch)) => Some(Version::new(major, minor, patch + 1)),
        }
    }

    /// `<= self`: inclusive for a full version, below the ceiling for a partial one.
    fn exact_or_ceiling(&self) -> Option<(Version, bool)> {
        if self.is_partial() {
            self.ceiling().map(|v| (v, false))
        } else {
            Some((self.floor(), true))
        }
    }

    fn tilde_ceiling(&self) -> Option<Version> {
        match (self.major, self.minor) {
            (None, _) => None,
            (Some(major), None) => Some(Version::new(major + 1, 0, 0)),
            (Some(major), Some(minor)) => Some(Version::new(major, minor + 1, 0)),
        }
    }

    fn caret_ceiling(&self) -> Option<Version> {
        match (self.major, self.minor, self.patch) {
            (None, _, _) => None,
            (Some(0), None, _) => Some(Version::new(1, 0, 0)),
            (Some(0), Some(0), None) => Some(Version::new(0, 1, 0)),
            (Some(0), Some(0), Some(patch)) => Some(Version::new(0, 0, patch + 1)),
            (Some(0), Some(minor), _) => Some(Version::new(0, minor + 1, 0)),
            (Some(major), _, _) => Some(Version::new(major + 1, 0, 0)),
        }
    }
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        match self {
            Comparator::Range {
                lower,
                upper,
                allows_prerelease,
            } => {
                prerelease_ok(v, *allows_prerelease)
                    && lower
                        .as_ref()
                        .is_none_or(|(l, inclusive)| above(v, l, *inclusive))
                    && upper
                        .as_ref()
                        .is_none_or(|(u, inclusive)| below(v, u, *inclusive))
            }
            Comparator::Not {
                lower,
                upper,
                allows_prerelease,
            } => {
                let inside = match upper {
                    Some(upper) => above(v, lower, true) && below(v, upper, false),
                    None => v.cmp_precedence(lower) == Ordering::Equal,
                };
                prerelease_ok(v, *allows_prerelease) && !inside
            }
        }
    }
}

/// Masterminds: a pre-release version only satisfies comparators that mention a pre-release.
fn prerelease_ok(v: &Version, allows_prerelease: bool) -> bool {
    v.pre.is_empty() || allows_prerelease
}

fn above(v: &Version, bound: &Version, inclusive: bool) -> bool {
    match v.cmp_precedence(bound) {
        Ordering::Greater => true,
        Ordering::Equal => inclusive,
        Ordering::Less => false,
    }
}

fn below(v: &Version, bound: &Version, inclusive: bool) -> bool {
    match v.cmp_precedence(bound) {
        Ordering::Less => true,
        Ordering::Equal => inclusive,
        Ordering::Greater => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(constraint: &str, version: &str) -> bool {
        let c = Constraint::parse(constraint).expect("constraint parses");
        let v = crate::parse_version(version).expect("version parses");
        c.matches(&v)
    }

    #[test]
    fn masterminds_table_of_comparators() {
        let cases = [
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("=1.2", "1.2.9", true),
            ("=1.2", "1.3.0", false),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.3", "1.2.4", true),
            ("!=1.2", "1.2.7", false),
            ("!=1.2", "1.3.0", true),
            (">1.2.3", "1.2.4", true),
            (">1.2.3", "1.2.3", false),
            (">1.2", "1.2.9", false),
            (">1.2", "1.3.0", true),
            (">=1.2", "1.2.0", true),
            ("<1.2", "1.1.9", true),
            ("<1.2", "1.2.0", false),
            ("<=1.2", "1.2.9", true),
            ("<=1.2", "1.3.0", false),
            ("<=1.2.3", "1.2.3", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.0", true),
            ("~1", "2.0.0", false),
            ("~>1.2", "1.2.5", true),
            ("^1.2.3", "1.9.9", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0", "0.9.0", true),
            ("^0", "1.0.0", false),
            ("1.2.x", "1.2.7", true),
            ("1.2.x", "1.3.0", false),
            ("*", "42.0.0", true),
            ("x", "0.0.1", true),
            (">= 1.2, < 3.0.0 || >= 4.2.3", "4.3.0", true),
            (">= 1.2, < 3.0.0 || >= 4.2.3", "3.5.0", false),
            (">=1.0.0 <2.0.0", "1.5.0", true),
            (">=1.0.0 <2.0.0", "2.0.0", false),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4", "1.4.9", true),
            ("1.2 - 1.4", "1.5.0", false),
            ("v1.2.3", "v1.2.3", true),
        ];
        for (constraint, version, want) in cases {
            assert_eq!(
                check(constraint, version),
                want,
                "{constraint} vs {version}"
            );
        }
    }

    #[test]
    fn prereleases_match_only_constraints_that_mention_one() {
        assert!(!check("*", "1.0.0-rc.1"));
        assert!(!check(">=1.0.0", "2.0.0-rc.1"));
        assert!(check(">=1.0.0-0", "2.0.0-rc.1"));
        assert!(check("^2.0.0-rc.0", "2.0.0-rc.1"));
        assert!(!check("^2.0.0-rc.2", "2.0.0-rc.1"));
    }

    #[test]
    fn build_metadata_does_not_affect_matching() {
        assert!(check("=1.2.3", "1.2.3+build.5"));
    }

    #[test]
    fn malformed_constraints_are_errors() {
        assert_eq!(Constraint::parse(""), Err(ConstraintError::Empty));
        assert_eq!(Constraint::parse("1.0 ||"), Err(ConstraintError::Empty));
        assert!(matches!(
            Constraint::parse(">="),
            Err(ConstraintError::DanglingOperator(_))
        ));
        assert!(matches!(
            Constraint::parse("abc"),
            Err(ConstraintError::BadVersion(_))
        ));
    }
}
