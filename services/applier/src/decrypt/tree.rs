//! The sops tree walk: which leaves are encrypted (suffix and regex rules on the path of keys),
//! each opened with its path as associated data and fed, in document order, to the MAC.

use regex::Regex;
use serde_json::Value;

use super::cipher::{self, CipherError, Plain};
use super::mac::Mac;

/// sops' default when a document records no rule.
const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// Why the tree cannot be decrypted. Messages name paths, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A rule regex does not compile.
    #[error("sops rule {rule} is not a valid regex: {reason}")]
    Regex {
        /// `encrypted_regex` or `unencrypted_regex`.
        rule: &'static str,
        /// The compiler's explanation.
        reason: String,
    },
    /// A value that the rules say is encrypted could not be opened.
    #[error("value at {path} {source}")]
    Value {
        /// The sops path (`key:key:`).
        path: String,
        /// What went wrong.
        source: CipherError,
    },
    /// A value that should be encrypted is plain: something changed the document after sops.
    #[error(
        "value at {path} should be encrypted by the document's sops rules but is plain; it was added or changed after encryption (by the kustomize build or by hand): re-encrypt the file, or have sops leave it plain (unencrypted_suffix, encrypted_regex)"
    )]
    NotEncrypted {
        /// The sops path.
        path: String,
    },
}

/// Which values of a document sops encrypted.
#[derive(Debug, Clone)]
pub struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    /// The MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

impl Rules {
    /// Rules from the `sops` section; with none set, sops' default `_unencrypted` suffix.
    pub fn new(
        unencrypted_suffix: Option<String>,
        encrypted_suffix: Option<String>,
        unencrypted_regex: Option<&str>,
        encrypted_regex: Option<&str>,
        mac_only_encrypted: bool,
    ) -> Result<Self, TreeError> {
        let compile = |rule, re: Option<&str>| {
            re.filter(|r| !r.is_empty())
                .map(|r| {
                    Regex::new(r).map_err(|e| TreeError::Regex {
                        rule,
                        reason: e.to_string(),
                    })
                })
                .transpose()
        };
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let mut rules = Self {
            unencrypted_suffix: non_empty(unencrypted_suffix),
            encrypted_suffix: non_empty(encrypted_suffix),
            unencrypted_regex: compile("unencrypted_regex", unencrypted_regex)?,
            encrypted_regex: compile("encrypted_regex", encrypted_regex)?,
            mac_only_encrypted,
        };
        if rules.unencrypted_suffix.is_none()
            && rules.encrypted_suffix.is_none()
            && rules.unencrypted_regex.is_none()
            && rules.encrypted_regex.is_none()
        {
            rules.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.into());
        }
        Ok(rules)
    }

    /// Whether sops encrypts the leaf at `path` (the keys leading to it; list items add none).
    pub fn encrypts(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix
            && path.iter().any(|k| k.ends_with(suffix.as_str()))
        {
            encrypted = false;
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|k| k.ends_with(suffix.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|k| re.is_match(k))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|k| re.is_match(k));
        }
        encrypted
    }
}

/// Decrypts every encrypted leaf of `doc` in place (the `sops` key must already be removed),
/// feeding the MAC as sops does.
pub fn decrypt(
    doc: &mut Value,
    key: &[u8; 32],
    rules: &Rules,
    mac: &mut Mac,
) -> Result<(), TreeError> {
    walk(doc, &mut Vec::new(), key, rules, mac)
}

fn walk(
    node: &mut Value,
    path: &mut Vec<String>,
    key: &[u8; 32],
    rules: &Rules,
    mac: &mut Mac,
) -> Result<(), TreeError> {
    match node {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                walk(v, path, key, rules, mac)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| walk(v, path, key, rules, mac)),
        // sops neither encrypts nor hashes nulls.
        Value::Null => Ok(()),
        leaf => {
            let sops_path = format!("{}:", path.join(":"));
            if !rules.encrypts(path) {
                if !rules.mac_only_encrypted {
                    mac.add(&plain_bytes(leaf));
                }
                return Ok(());
            }
            let plain = match leaf {
                // sops leaves empty strings as they are.
                Value::String(s) if s.is_empty() => Plain::Str(String::new()),
                Value::String(s) if cipher::is_encrypted(s) => cipher::decrypt(s, key, &sops_path)
                    .map_err(|source| TreeError::Value {
                        path: sops_path.clone(),
                        source,
                    })?,
                _ => return Err(TreeError::NotEncrypted { path: sops_path }),
            };
            mac.add(&plain.mac_bytes());
            *leaf = plain.into_json();
            Ok(())
        }
    }
}

/// The MAC bytes of a leaf sops left plain.
fn plain_bytes(leaf: &Value) -> Vec<u8> {
    match leaf {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(b) => Plain::Bool(*b).mac_bytes(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Plain::Int(i).mac_bytes(),
            (None, Some(f)) => Plain::Float(f).mac_bytes(),
            (None, None) => n.to_string().into_bytes(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn default_rule_leaves_unencrypted_suffix_keys_and_their_children_plain() {
        let rules = Rules::new(None, None, None, None, false).unwrap();
        assert!(rules.encrypts(&path(&["stringData", "password"])));
        assert!(!rules.encrypts(&path(&["stringData", "user_unencrypted"])));
        assert!(!rules.encrypts(&path(&["meta_unencrypted", "x"])));
    }

    #[test]
    fn encrypted_regex_encrypts_only_matching_paths() {
        let rules = Rules::new(None, None, None, Some("^(data|stringData)$"), false).unwrap();
        assert!(rules.encrypts(&path(&["data", "token"])));
        assert!(!rules.encrypts(&path(&["metadata", "name"])));
        let rules = Rules::new(None, Some("_enc".into()), None, None, false).unwrap();
        assert!(rules.encrypts(&path(&["a_enc", "b"])));
        assert!(!rules.encrypts(&path(&["a", "b"])));
        let rules = Rules::new(None, None, Some("^meta"), None, false).unwrap();
        assert!(!rules.encrypts(&path(&["metadata", "name"])));
        assert!(rules.encrypts(&path(&["data", "x"])));
    }

    #[test]
    fn a_plain_value_where_the_rules_expect_ciphertext_is_named_by_path() {
        let rules = Rules::new(None, None, None, Some("^data$"), false).unwrap();
        let mut doc = serde_json::json!({"kind": "Secret", "data": {"x": "cGxhaW4="}});
        let err = decrypt(&mut doc, &[0; 32], &rules, &mut Mac::new()).unwrap_err();
        assert_eq!(
            err,
            TreeError::NotEncrypted {
                path: "data:x:".into()
            }
        );
        assert!(!err.to_string().contains("cGxhaW4="));
    }
}
