//! The age identities of a Kustomization's `spec.decryption.secretRef` Secret: every key ending
//! in `.agekey` holds one or more `AGE-SECRET-KEY-1…` lines, as Flux reads them.

use std::collections::BTreeMap;
use std::str::FromStr;

use age::x25519::Identity;

/// Secret keys Flux gives a meaning to that Ferry cannot use yet, with what they hold.
const UNSUPPORTED_KEYS: [(&str, &str); 4] = [
    ("sops.vault-token", "a HashiCorp Vault token"),
    ("sops.aws-kms", "AWS KMS credentials"),
    ("sops.azure-kv", "Azure Key Vault credentials"),
    ("sops.gcp-kms", "GCP KMS credentials"),
];

/// Why the decryption Secret cannot be used. Messages name keys, never their content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The Secret holds a key type Ferry does not decrypt with.
    #[error(
        "decryption Secret {secret} key {key:?} holds {what}, which Ferry does not support: only age identities (keys ending in .agekey) are; re-encrypt the files for an age recipient and store its identity under a .agekey key"
    )]
    Unsupported {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The Secret key.
        key: String,
        /// What the key holds.
        what: &'static str,
    },
    /// A `.agekey` value has a line that is not an age identity.
    #[error(
        "decryption Secret {secret} key {key:?} line {line} is not an age identity (expected AGE-SECRET-KEY-1…, as written by age-keygen)"
    )]
    Malformed {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The Secret key.
        key: String,
        /// One-based line number.
        line: usize,
    },
}

/// The age identities found in the decryption Secret, with the keys they came from.
#[derive(Default)]
pub struct AgeKeys {
    identities: Vec<Identity>,
    sources: Vec<String>,
}

impl AgeKeys {
    /// Reads the identities of Secret `secret` (`namespace/name`) from its `data`.
    pub fn from_secret(secret: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Self, KeyError> {
        let mut keys = Self::default();
        for (key, value) in data {
            if key.ends_with(".agekey") {
                keys.add(secret, key, value)?;
            } else if key.ends_with(".asc") {
                return Err(KeyError::Unsupported {
                    secret: secret.into(),
                    key: key.clone(),
                    what: "a PGP key",
                });
            } else if let Some((_, what)) = UNSUPPORTED_KEYS.iter().find(|(k, _)| k == key) {
                return Err(KeyError::Unsupported {
                    secret: secret.into(),
                    key: key.clone(),
                    what,
                });
            }
        }
        Ok(keys)
    }

    fn add(&mut self, secret: &str, key: &str, value: &[u8]) -> Result<(), KeyError> {
        let malformed = |line| KeyError::Malformed {
            secret: secret.into(),
            key: key.into(),
            line,
        };
        let text = std::str::from_utf8(value).map_err(|_| malformed(1))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity = Identity::from_str(line).map_err(|_| malformed(n + 1))?;
            self.identities.push(identity);
        }
        self.sources.push(key.to_owned());
        Ok(())
    }

    /// True when no identity was found.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The identities, for age's decryptor.
    pub fn identities(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.identities.iter().map(|i| i as &dyn age::Identity)
    }

    /// The Secret keys the identities came from, for error messages.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn agekey_values_may_hold_several_identities_and_comments() {
        let a = Identity::generate().to_string();
        let b = Identity::generate().to_string();
        let value = format!(
            "# created: today\n{}\n\n{}\n",
            a.expose_secret(),
            b.expose_secret()
        );
        let keys =
            AgeKeys::from_secret("ns/s", &data(&[("a.agekey", &value), ("other", "x")])).unwrap();
        assert_eq!(keys.identities().count(), 2);
        assert_eq!(keys.sources(), ["a.agekey"]);
    }

    #[test]
    fn pgp_and_kms_keys_are_unsupported_naming_the_key() {
        let err = AgeKeys::from_secret("ns/s", &data(&[("sops.asc", "x")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("\"sops.asc\""), "{err}");
        assert!(err.to_string().contains("PGP"), "{err}");
        let err = AgeKeys::from_secret("ns/s", &data(&[("sops.aws-kms", "x")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("sops.aws-kms"), "{err}");
    }

    #[test]
    fn a_bad_line_is_named_without_echoing_it() {
        let err = AgeKeys::from_secret("ns/s", &data(&[("k.agekey", "AGE-SECRET-KEY-1NOPE")]))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(msg.contains("\"k.agekey\" line 1"), "{msg}");
        assert!(!msg.contains("NOPE"), "{msg}");
    }
}
