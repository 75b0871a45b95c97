//! One sops document (a JSON/YAML tree with a top-level `sops` section): recover the data key,
//! open every encrypted value, verify the MAC, drop the `sops` section.

use serde_json::Value;

use super::keys::AgeKeys;
use super::mac::{Mac, MacError};
use super::metadata::{Metadata, MetadataError};
use super::tree::{self, TreeError};

/// Why a document cannot be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The `sops` section is unusable or no identity opens the data key.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A value cannot be opened.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The integrity check failed.
    #[error(transparent)]
    Mac(#[from] MacError),
}

impl DocumentError {
    /// True for what no retry fixes and Ferry does not implement (not a wrong key).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Self::Metadata(MetadataError::Unsupported(_) | MetadataError::NoAgeRecipient(_))
        )
    }
}

/// True when `doc` carries sops metadata (a `sops` mapping with a MAC).
pub fn is_encrypted(doc: &Value) -> bool {
    doc.get("sops").is_some_and(|s| s.get("mac").is_some())
}

/// Whether the document MAC is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCheck {
    /// Verify it (files kept byte for byte; objects whose owner opted in).
    Verify,
    /// Skip it, as Flux does for built objects: the build sorts keys and adds values, which
    /// changes what the MAC covers. Each value stays authenticated by its own AES-GCM tag.
    Skip,
}

/// Decrypts `doc` in place with `keys` (from decryption Secret `secret`, for messages). On
/// error `doc` may be half-decrypted: the caller must drop it.
pub fn decrypt(
    doc: &mut Value,
    keys: &AgeKeys,
    secret: &str,
    check: MacCheck,
) -> Result<(), DocumentError> {
    let section = doc
        .as_object_mut()
        .and_then(|m| m.shift_remove("sops"))
        .ok_or_else(|| MetadataError::Malformed("no sops section".into()))?;
    let metadata = Metadata::parse(&section)?;
    let rules = metadata.rules()?;
    let key = metadata.data_key(keys, secret)?;
    let mut mac = Mac::new();
    tree::decrypt(doc, &key, &rules, &mut mac)?;
    if check == MacCheck::Verify {
        mac.verify(&metadata.mac, &metadata.lastmodified, &key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::encrypted;
    use super::*;

    #[test]
    fn typed_values_lists_and_nulls_decrypt_and_pass_the_mac() {
        let doc = json!({"n": 5, "b": true, "f": 1.5, "s": "x", "e": "", "z": null,
            "l": [1, "a", {"k": false}], "plain_unencrypted": {"n": 7, "b": false}});
        let (mut enc, keys) = encrypted(&doc, &[]);
        assert!(enc["n"].as_str().is_some_and(|s| s.contains("type:int")));
        decrypt(&mut enc, &keys, "ns/keys", MacCheck::Verify).expect("decrypts");
        assert_eq!(enc, doc);
    }

    #[test]
    fn mac_only_encrypted_ignores_changes_to_plain_values_but_not_to_encrypted_ones() {
        let doc = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        let args = ["--encrypted-regex", "^data$", "--mac-only-encrypted"];
        let (mut enc, keys) = encrypted(&doc, &args);
        enc["metadata"]["name"] = json!("renamed");
        let mut tampered = enc.clone();
        decrypt(&mut enc, &keys, "ns/keys", MacCheck::Verify)
            .expect("plain values are outside the MAC");
        assert_eq!(enc["data"]["k"], "v");
        // Dropping an encrypted value changes what the MAC covers.
        tampered["data"] = json!({});
        assert_eq!(
            decrypt(&mut tampered, &keys, "ns/keys", MacCheck::Verify),
            Err(DocumentError::Mac(MacError::Mismatch))
        );
    }
}
