//! The `sops` section of an encrypted document: which values are encrypted, the MAC, and the
//! data key wrapped for each recipient; the data key is recovered with the age identities.

use std::io::Read;

use age::armor::ArmoredReader;
use serde::Deserialize;
use serde_json::Value;

use super::keys::AgeKeys;
use super::tree::Rules;

/// Why the metadata cannot be used. Messages never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The `sops` section does not have sops' shape.
    #[error("has a malformed sops section: {0}")]
    Malformed(String),
    /// A feature of sops this decryptor does not implement.
    #[error("uses {0}, which Ferry does not support")]
    Unsupported(String),
    /// No age recipient in the document; it is encrypted for other key types.
    #[error(
        "is not encrypted for any age recipient (its sops keys: {0}); Ferry decrypts with age only: add an age recipient with `sops updatekeys` or `sops -r -i --add-age`"
    )]
    NoAgeRecipient(String),
    /// No identity of the Secret opens the data key.
    #[error(
        "cannot be decrypted with the age identities of {secret} (keys: {keys}): none matches its recipients {recipients}; add the identity of one of these recipients to a .agekey key of that Secret"
    )]
    NoMatchingKey {
        /// The decryption Secret.
        secret: String,
        /// The `.agekey` keys tried.
        keys: String,
        /// The document's age recipients.
        recipients: String,
    },
    /// A recipient's wrapped key is not a valid age file.
    #[error("has an unreadable age-wrapped data key for recipient {recipient}: {reason}")]
    Wrapped {
        /// The recipient.
        recipient: String,
        /// age's explanation.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct AgeEntry {
    #[serde(default)]
    recipient: String,
    enc: String,
}

#[derive(Debug, Default, Deserialize)]
struct KeyGroup {
    #[serde(default)]
    age: Option<Vec<AgeEntry>>,
}

/// The parts of the `sops` section the decryptor reads.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    age: Option<Vec<AgeEntry>>,
    #[serde(default)]
    key_groups: Option<Vec<KeyGroup>>,
    #[serde(default)]
    shamir_threshold: Option<u64>,
    /// When the MAC was computed; the MAC's associated data.
    pub lastmodified: String,
    /// The encrypted MAC.
    pub mac: String,
    #[serde(default)]
    unencrypted_suffix: Option<String>,
    #[serde(default)]
    encrypted_suffix: Option<String>,
    #[serde(default)]
    unencrypted_regex: Option<String>,
    #[serde(default)]
    encrypted_regex: Option<String>,
    #[serde(default)]
    unencrypted_comment_regex: Option<String>,
    #[serde(default)]
    encrypted_comment_regex: Option<String>,
    #[serde(default)]
    mac_only_encrypted: Option<bool>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

impl Metadata {
    /// Reads the `sops` section.
    pub fn parse(section: &Value) -> Result<Self, MetadataError> {
        let meta: Self = serde_json::from_value(section.clone())
            .map_err(|e| MetadataError::Malformed(e.to_string()))?;
        if meta.unencrypted_comment_regex.is_some() || meta.encrypted_comment_regex.is_some() {
            // The render has no comments left, so these rules cannot be honoured.
            return Err(MetadataError::Unsupported(
                "unencrypted_comment_regex/encrypted_comment_regex (comments do not survive the build); use encrypted_regex or unencrypted_suffix".into(),
            ));
        }
        Ok(meta)
    }

    /// The rules that say which values are encrypted.
    pub fn rules(&self) -> Result<Rules, MetadataError> {
        Rules::new(
            self.unencrypted_suffix.clone(),
            self.encrypted_suffix.clone(),
            self.unencrypted_regex.as_deref(),
            self.encrypted_regex.as_deref(),
            self.mac_only_encrypted == Some(true),
        )
        .map_err(|e| MetadataError::Malformed(e.to_string()))
    }

    /// Recovers the 32-byte data key with one of `keys`' identities.
    pub fn data_key(&self, keys: &AgeKeys, secret: &str) -> Result<[u8; 32], MetadataError> {
        let groups = self.key_groups.as_deref().unwrap_or_default();
        if groups.len() > 1 && self.shamir_threshold.unwrap_or(0) > 1 {
            return Err(MetadataError::Unsupported(
                "Shamir secret sharing over several key groups".into(),
            ));
        }
        let entries: Vec<&AgeEntry> = self
            .age
            .iter()
            .flatten()
            .chain(groups.iter().flat_map(|g| g.age.iter().flatten()))
            .collect();
        if entries.is_empty() {
            return Err(MetadataError::NoAgeRecipient(self.other_key_types()));
        }
        for entry in &entries {
            if let Some(key) = unwrap(entry, keys)? {
                return Ok(key);
            }
        }
        Err(MetadataError::NoMatchingKey {
            secret: secret.to_owned(),
            keys: if keys.sources().is_empty() {
                "none".into()
            } else {
                keys.sources().join(", ")
            },
            recipients: entries
                .iter()
                .map(|e| e.recipient.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn other_key_types(&self) -> String {
        let present: Vec<&str> = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"]
            .into_iter()
            .filter(|k| {
                self.other
                    .get(*k)
                    .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            })
            .collect();
        if present.is_empty() {
            "none".into()
        } else {
            present.join(", ")
        }
    }
}

/// The data key from one recipient's armored age file; `None` when no identity matches.
fn unwrap(entry: &AgeEntry, keys: &AgeKeys) -> Result<Option<[u8; 32]>, MetadataError> {
    let wrapped = |reason: String| MetadataError::Wrapped {
        recipient: entry.recipient.clone(),
        reason,
    };
    if keys.is_empty() {
        return Ok(None);
    }
    let decryptor = age::Decryptor::new(ArmoredReader::new(entry.enc.as_bytes()))
        .map_err(|e| wrapped(e.to_string()))?;
    let mut reader = match decryptor.decrypt(keys.identities()) {
        Ok(reader) => reader,
        Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
        Err(e) => return Err(wrapped(e.to_string())),
    };
    let mut key = Vec::with_capacity(32);
    reader
        .read_to_end(&mut key)
        .map_err(|e| wrapped(e.to_string()))?;
    <[u8; 32]>::try_from(key.as_slice())
        .map(Some)
        .map_err(|_| wrapped(format!("the data key is {} bytes, not 32", key.len())))
}
