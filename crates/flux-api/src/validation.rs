//! Field-naming validation errors, checks the CRD's OpenAPI schema cannot express
//! (or that must also run client-side), and path-aware decoding of manifests.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::duration::GoDuration;

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The value is not a Go duration.
    #[error("{value:?} is not a duration (want Go duration like 1m30s)")]
    NotADuration {
        /// The rejected value.
        value: String,
    },
    /// The value does not match the pattern Flux's CRD enforces.
    #[error("{value:?} does not match {pattern}")]
    Pattern {
        /// The rejected value.
        value: String,
        /// The required pattern.
        pattern: &'static str,
    },
    /// A required value is missing or empty.
    #[error("required value is missing")]
    Required,
    /// The value is not in the allowed set.
    #[error("{value:?} is not one of {allowed:?}")]
    NotOneOf {
        /// The rejected value.
        value: String,
        /// The accepted values.
        allowed: &'static [&'static str],
    },
    /// A string or list length is out of bounds.
    #[error("length {len} is outside {min}..={max}")]
    Length {
        /// Actual length.
        len: usize,
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
    /// The value is not a valid regular expression.
    #[error("{value:?} is not a valid regular expression: {reason}")]
    InvalidRegex {
        /// The rejected expression.
        value: String,
        /// The compiler's message.
        reason: String,
    },
    /// A cross-field rule (Flux's CEL `x-kubernetes-validations`) is violated.
    #[error("{0}")]
    Rule(&'static str),
    /// The manifest could not be decoded into the typed resource.
    #[error("{0}")]
    Decode(String),
}

/// A validation failure of one field, named by its JSON path (e.g. `spec.interval`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.ref.branch`.
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
}

/// All validation failures found in one object (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The individual errors.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// Whether any error names `field`.
    pub fn has_field(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    pub(crate) fn push(&mut self, field: impl Into<String>, problem: Problem) {
        self.0.push(FieldError {
            field: field.into(),
            problem,
        });
    }

    pub(crate) fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Why a manifest could not be parsed into a typed resource.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid YAML.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// The document does not fit the type; the error names the field.
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// Decodes a JSON value into `T`, naming the offending field on failure
/// (e.g. `spec.interval: "5x" is not a duration (want Go duration like 1m30s): ...`).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = err.path().to_string();
        FieldError {
            field: if field == "." { String::new() } else { field },
            problem: Problem::Decode(err.into_inner().to_string()),
        }
    })
}

/// Parses one YAML document into `T`, naming the offending field on failure.
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let value: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| ParseError::Yaml(e.to_string()))?;
    Ok(from_value(value)?)
}

/// Matches Flux's duration patterns: one or more `<digits>[.<digits>]<unit>` groups.
fn matches_duration_pattern(s: &str, units: &[&str]) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if int_len == 0 {
            return false;
        }
        rest = &rest[int_len..];
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            if frac_len == 0 {
                return false;
            }
            rest = &r[frac_len..];
        }
        match units.iter().find(|u| rest.starts_with(**u)) {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

/// Checks an `interval`-like duration against `^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`.
pub(crate) fn check_interval(errors: &mut ValidationErrors, field: &str, d: &GoDuration) {
    if !matches_duration_pattern(d.as_str(), &["ms", "s", "m", "h"]) {
        errors.push(
            field,
            Problem::Pattern {
                value: d.as_str().to_owned(),
                pattern: crate::duration::INTERVAL_PATTERN,
            },
        );
    }
}

/// Checks a `timeout` duration against `^([0-9]+(\.[0-9]+)?(ms|s|m))+$` (no hours).
pub(crate) fn check_timeout(errors: &mut ValidationErrors, field: &str, d: &GoDuration) {
    if !matches_duration_pattern(d.as_str(), &["ms", "s", "m"]) {
        errors.push(
            field,
            Problem::Pattern {
                value: d.as_str().to_owned(),
                pattern: crate::duration::TIMEOUT_PATTERN,
            },
        );
    }
}

/// Checks that a string field is non-empty.
pub(crate) fn check_required(errors: &mut ValidationErrors, field: &str, value: &str) {
    if value.is_empty() {
        errors.push(field, Problem::Required);
    }
}

/// Checks a string's length in characters.
pub(crate) fn check_length(
    errors: &mut ValidationErrors,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) {
    let len = value.chars().count();
    if len < min || len > max {
        errors.push(field, Problem::Length { len, min, max });
    }
}

/// Checks that a string starts with one of the given prefixes (Flux's URL patterns).
pub(crate) fn check_prefix(
    errors: &mut ValidationErrors,
    field: &str,
    value: &str,
    prefixes: &[&str],
    pattern: &'static str,
) {
    if !prefixes.iter().any(|p| value.starts_with(p)) {
        errors.push(
            field,
            Problem::Pattern {
                value: value.to_owned(),
                pattern,
            },
        );
    }
}

/// Checks that a string compiles as a regular expression.
pub(crate) fn check_regex(errors: &mut ValidationErrors, field: &str, value: &str) {
    if let Err(e) = regex::Regex::new(value) {
        errors.push(
            field,
            Problem::InvalidRegex {
                value: value.to_owned(),
                reason: e.to_string(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_patterns_follow_flux() {
        let units = ["ms", "s", "m", "h"];
        for ok in ["1m", "1m30s", "1.5h", "500ms", "10m0s"] {
            assert!(matches_duration_pattern(ok, &units), "{ok}");
        }
        for bad in ["", "1", "1us", "1.s", "+1m", "m"] {
            assert!(!matches_duration_pattern(bad, &units), "{bad}");
        }
        assert!(!matches_duration_pattern("1h", &["ms", "s", "m"]));
    }
}
