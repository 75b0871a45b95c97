//! Name validation (RFC 1123 / RFC 1035) with the real server's messages.

use crate::resources::NameRule;

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower)
}

/// Checks a name against a rule; returns the error message if invalid.
pub fn check_name(name: &str, rule: NameRule) -> Option<String> {
    match rule {
        NameRule::Label => {
            if label_ok(name) {
                None
            } else if name.len() > 63 {
                Some("must be no more than 63 characters".into())
            } else {
                Some("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into())
            }
        }
        NameRule::Label1035 => {
            if label_ok(name) && name.starts_with(|c: char| c.is_ascii_lowercase()) {
                None
            } else if name.len() > 63 {
                Some("must be no more than 63 characters".into())
            } else {
                Some("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into())
            }
        }
        NameRule::Subdomain => {
            if name.len() > 253 {
                Some("must be no more than 253 characters".into())
            } else if !name.is_empty() && name.split('.').all(label_ok) {
                None
            } else {
                Some("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into())
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                Some(format!("may not be '{name}'"))
            } else if name.contains('/') || name.contains('%') {
                Some(format!(
                    "may not contain '{}'",
                    if name.contains('/') { "/" } else { "%" }
                ))
            } else if name.is_empty() {
                Some("name or generateName is required".into())
            } else {
                None
            }
        }
    }
}

/// Checks label keys and values; returns `(field, message)` pairs.
pub fn check_labels(labels: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = vec![];
    let Some(map) = labels.as_object() else {
        return out;
    };
    for (k, v) in map {
        let name = k.rsplit('/').next().unwrap_or(k);
        let name_ok = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !name_ok {
            out.push(("metadata.labels".to_string(), format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
        }
        match v.as_str() {
            Some(s) => {
                let ok = s.is_empty()
                    || (s.len() <= 63
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && s.ends_with(|c: char| c.is_ascii_alphanumeric()));
                if !ok {
                    out.push(("metadata.labels".to_string(), format!("Invalid value: \"{s}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
                }
            }
            None => out.push((
                "metadata.labels".into(),
                format!("Invalid value: label {k} must be a string"),
            )),
        }
    }
    out
}
