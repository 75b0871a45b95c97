//! Lenient version parsing as Masterminds' `NewVersion`: `v1`, `1.2`, `1.2.3-rc.1+build`.

use semver::Version;

/// Parses a tag as a version, filling a missing minor or patch with 0; `None` when it is not one.
pub fn parse_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    let (core, rest) = split_core(text);
    let mut parts = core.split('.');
    let major = number(parts.next()?)?;
    let minor = parts.next().map(number).unwrap_or(Some(0))?;
    let patch = parts.next().map(number).unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    Version::parse(&format!("{major}.{minor}.{patch}{rest}")).ok()
}

/// Splits `1.2.3-rc.1+b` into `1.2.3` and `-rc.1+b`.
fn split_core(text: &str) -> (&str, &str) {
    match text.find(['-', '+']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    }
}

fn number(part: &str) -> Option<u64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Masterminds rejects leading zeros in strict mode but accepts them when coercing.
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_prefixed_versions_are_coerced() {
        assert_eq!(parse_version("v1"), Version::parse("1.0.0").ok());
        assert_eq!(parse_version("1.2"), Version::parse("1.2.0").ok());
        assert_eq!(
            parse_version("v1.2.3-rc.1+b5"),
            Version::parse("1.2.3-rc.1+b5").ok()
        );
    }

    #[test]
    fn non_versions_are_rejected() {
        for tag in ["latest", "main-abc123", "1.2.3.4", "", "v", "1..2", "1.x"] {
            assert_eq!(parse_version(tag), None, "{tag}");
        }
    }
}
