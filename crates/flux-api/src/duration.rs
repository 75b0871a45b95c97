//! Go `time.Duration` strings (`1m0s`, `10m`, `1h30m`, `500ms`) as a typed value.
//! The original spelling is kept so manifests round-trip byte-for-byte.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Flux's pattern for `interval`-like fields (`ms`, `s`, `m`, `h` units).
pub const INTERVAL_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";
/// Flux's pattern for most `timeout` fields (no `h` unit).
pub const TIMEOUT_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$";

/// Why a string is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a duration (want Go duration like 1m30s): {reason}")]
pub struct DurationParseError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub reason: DurationErrorReason,
}

/// The specific defect found while parsing a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationErrorReason {
    /// The string is empty.
    #[error("empty string")]
    Empty,
    /// A negative duration was given; Flux intervals cannot be negative.
    #[error("negative durations are not allowed")]
    Negative,
    /// A number was expected at the given byte offset.
    #[error("expected a number at offset {0}")]
    ExpectedNumber(usize),
    /// A number had no unit after it.
    #[error("missing unit after number at offset {0}")]
    MissingUnit(usize),
    /// The unit is not one of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    /// The value does not fit in 64-bit nanoseconds.
    #[error("value overflows")]
    Overflow,
}

/// A Go duration string, e.g. `1m30s`.
///
/// Parsing accepts everything Go's `time.ParseDuration` accepts for non-negative values.
/// [`Display`](fmt::Display) and serialisation reproduce the original text; use
/// [`GoDuration::from_duration`] to get Go's canonical spelling (`1m0s`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GoDuration {
    text: String,
    value: Duration,
}

impl GoDuration {
    /// Builds a duration spelled the way Go's `Duration.String()` prints it.
    pub fn from_duration(value: Duration) -> Self {
        Self {
            text: format_go_duration(value),
            value,
        }
    }

    /// A duration from trusted text (crate-internal defaults such as `60s`).
    pub(crate) fn known(text: &str, value: Duration) -> Self {
        Self {
            text: text.to_owned(),
            value,
        }
    }

    /// The parsed value.
    pub fn as_duration(&self) -> Duration {
        self.value
    }

    /// The text as written (or as formatted by [`GoDuration::from_duration`]).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Go's canonical spelling of this value (`10m` becomes `10m0s`).
    pub fn canonical(&self) -> String {
        format_go_duration(self.value)
    }
}

impl From<Duration> for GoDuration {
    fn from(value: Duration) -> Self {
        Self::from_duration(value)
    }
}

impl FromStr for GoDuration {
    type Err = DurationParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = parse_go_duration(s).map_err(|reason| DurationParseError {
            input: s.to_owned(),
            reason,
        })?;
        Ok(Self {
            text: s.to_owned(),
            value,
        })
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

const NANOS_PER: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string (non-negative values only).
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationErrorReason> {
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        if r.trim_start_matches(['0', '.']).is_empty() && !r.is_empty() {
            return Ok(Duration::ZERO);
        }
        return Err(DurationErrorReason::Negative);
    }
    if rest.is_empty() {
        return Err(DurationErrorReason::Empty);
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let offset = s.len() - rest.len();
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationErrorReason::ExpectedNumber(offset));
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(DurationErrorReason::MissingUnit(s.len() - rest.len()));
        }
        let scale = NANOS_PER
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationErrorReason::UnknownUnit(unit.to_owned()))?;
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| DurationErrorReason::Overflow)?
        };
        let mut nanos = int_value
            .checked_mul(scale)
            .ok_or(DurationErrorReason::Overflow)?;
        // Fractions: truncate below one nanosecond, as Go does.
        let mut divisor: u128 = 1;
        let mut frac_value: u128 = 0;
        for digit in frac_part.bytes().take(20) {
            frac_value = frac_value * 10 + u128::from(digit - b'0');
            divisor *= 10;
        }
        nanos += frac_value * scale / divisor;
        total = total
            .checked_add(nanos)
            .ok_or(DurationErrorReason::Overflow)?;
        if total > i64::MAX as u128 {
            return Err(DurationErrorReason::Overflow);
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationErrorReason::Overflow)?;
    let sub = u32::try_from(total % 1_000_000_000).map_err(|_| DurationErrorReason::Overflow)?;
    Ok(Duration::new(secs, sub))
}

/// Formats a duration the way Go's `time.Duration.String()` does (`1h30m0s`, `500ms`, `0s`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let secs = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&fraction(secs, 1_000_000_000));
    out.push('s');
    out
}

/// `value / unit` printed with the shortest exact decimal fraction.
fn fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rem = value % unit;
    if rem == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_like_go() {
        let cases = [
            ("1m0s", 60_000, "1m0s"),
            ("10m", 600_000, "10m0s"),
            ("1h30m", 5_400_000, "1h30m0s"),
            ("500ms", 500, "500ms"),
            ("1.5s", 1_500, "1.5s"),
            ("60s", 60_000, "1m0s"),
            ("0", 0, "0s"),
            ("2h45m30.5s", 9_930_500, "2h45m30.5s"),
        ];
        for (input, millis, canonical) in cases {
            let d: GoDuration = input.parse().expect(input);
            assert_eq!(d.as_duration(), Duration::from_millis(millis), "{input}");
            assert_eq!(d.to_string(), input);
            assert_eq!(d.canonical(), canonical, "{input}");
        }
        assert_eq!(format_go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(format_go_duration(Duration::from_nanos(12)), "12ns");
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in ["", "5x", "m", "10", "1h-5m", ".s", "-1s", "1.5.5s"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad:?} should fail");
        }
        let err = "5x".parse::<GoDuration>().unwrap_err();
        assert_eq!(err.reason, DurationErrorReason::UnknownUnit("x".into()));
    }
}
