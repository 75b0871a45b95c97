//! Secret `data` values that are whole sops-encrypted files (from a `secretGenerator` over an
//! encrypted JSON, YAML or binary file): decrypted in their own format, as Flux does.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::document::{self, DocumentError};
use super::keys::AgeKeys;

/// Why a data value cannot be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The file format has no decryptor here.
    #[error(
        "data key {key:?} holds a SOPS-encrypted {format} file, which Ferry does not decrypt; encrypt the Secret manifest itself with sops (encrypted_regex: ^(data|stringData)$) instead"
    )]
    Unsupported {
        /// The Secret data key.
        key: String,
        /// The detected format.
        format: &'static str,
    },
    /// The value claims sops encryption but does not parse as its format.
    #[error("data key {key:?} looks SOPS-encrypted but is not a valid {format} sops file")]
    Malformed {
        /// The Secret data key.
        key: String,
        /// The format expected from the key's extension.
        format: &'static str,
    },
    /// The file does not decrypt.
    #[error("data key {key:?}: the encrypted file {source}")]
    Document {
        /// The Secret data key.
        key: String,
        /// Why.
        source: DocumentError,
    },
}

impl FileError {
    /// True for what Ferry does not implement.
    pub fn is_unsupported(&self) -> bool {
        match self {
            Self::Unsupported { .. } => true,
            Self::Document { source, .. } => source.is_unsupported(),
            Self::Malformed { .. } => false,
        }
    }
}

/// A Secret generated from an encrypted dotenv file has sops' metadata as plain keys.
const DOTENV_MAC_KEY: &str = "sops_mac";

/// The `data` keys of Secret `doc` whose values are sops-encrypted files (none for other kinds).
pub fn encrypted_keys(doc: &Value) -> Vec<String> {
    if doc.get("kind").and_then(Value::as_str) != Some("Secret") {
        return Vec::new();
    }
    let Some(data) = doc.get("data").and_then(Value::as_object) else {
        return Vec::new();
    };
    data.iter()
        .filter(|(k, v)| {
            k.as_str() == DOTENV_MAC_KEY
                || v.as_str()
                    .and_then(|s| STANDARD.decode(s).ok())
                    .is_some_and(|b| looks_encrypted(&b))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn looks_encrypted(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    has(b"ENC[AES256_GCM,") && has(b"sops")
}

/// Decrypts the data values named by `keys` in Secret `doc`, in place.
pub fn decrypt(
    doc: &mut Value,
    names: &[String],
    keys: &AgeKeys,
    secret: &str,
) -> Result<(), FileError> {
    let Some(data) = doc.get_mut("data").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for name in names {
        if name == DOTENV_MAC_KEY {
            return Err(FileError::Unsupported {
                key: name.clone(),
                format: "dotenv (secretGenerator envs)",
            });
        }
        let Some(Value::String(encoded)) = data.get_mut(name) else {
            continue;
        };
        let bytes = STANDARD.decode(encoded.as_bytes()).unwrap_or_default();
        let plain = decrypt_file(name, &bytes, keys, secret)?;
        *encoded = STANDARD.encode(plain);
    }
    Ok(())
}

fn decrypt_file(
    name: &str,
    bytes: &[u8],
    keys: &AgeKeys,
    secret: &str,
) -> Result<Vec<u8>, FileError> {
    let format = format_of(name);
    let malformed = || FileError::Malformed {
        key: name.into(),
        format,
    };
    let document = |source| FileError::Document {
        key: name.into(),
        source,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    match format {
        "dotenv" => Err(FileError::Unsupported {
            key: name.into(),
            format,
        }),
        "YAML" => {
            let mut doc: Value = serde_saphyr::from_str(text).map_err(|_| malformed())?;
            document::decrypt(&mut doc, keys, secret, document::MacCheck::Verify)
                .map_err(document)?;
            serde_saphyr::to_string(&doc)
                .map(String::into_bytes)
                .map_err(|_| malformed())
        }
        "JSON" => {
            let mut doc: Value = serde_json::from_str(text).map_err(|_| malformed())?;
            document::decrypt(&mut doc, keys, secret, document::MacCheck::Verify)
                .map_err(document)?;
            let mut out = serde_json::to_vec_pretty(&doc).map_err(|_| malformed())?;
            out.push(b'\n');
            Ok(out)
        }
        _ => {
            // sops' binary format: `{"data": ENC[...], "sops": {...}}`, the file is `data`.
            let mut doc: Value = serde_json::from_str(text).map_err(|_| malformed())?;
            document::decrypt(&mut doc, keys, secret, document::MacCheck::Verify)
                .map_err(document)?;
            match doc.get("data") {
                Some(Value::String(s)) => Ok(s.clone().into_bytes()),
                _ => Err(malformed()),
            }
        }
    }
}

/// sops picks the format from the file extension, as Flux does from the data key.
fn format_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "yaml" | "yml" => "YAML",
        "json" => "JSON",
        "env" => "dotenv",
        _ => "binary",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::encrypted;
    use super::*;

    fn secret_with(name: &str, file: &Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {name: STANDARD.encode(file.to_string()), "plain": STANDARD.encode("x")}})
    }

    fn value_of(doc: &Value, name: &str) -> String {
        let b64 = doc["data"][name].as_str().expect("data value");
        String::from_utf8(STANDARD.decode(b64).expect("base64")).expect("utf-8")
    }

    #[test]
    fn yaml_and_binary_files_decrypt_in_their_own_format_and_plain_values_stay() {
        let (file, keys) = encrypted(&json!({"user": "app", "pass": "hunter2"}), &[]);
        let mut doc = secret_with("creds.yaml", &file);
        let names = encrypted_keys(&doc);
        assert_eq!(names, ["creds.yaml"]);
        decrypt(&mut doc, &names, &keys, "ns/keys").expect("decrypts");
        let yaml: Value = serde_saphyr::from_str(&value_of(&doc, "creds.yaml")).expect("YAML");
        assert_eq!(yaml, json!({"user": "app", "pass": "hunter2"}));
        assert_eq!(value_of(&doc, "plain"), "x");

        let (file, keys) = encrypted(&json!({"data": "raw file\n"}), &[]);
        let mut doc = secret_with("id_rsa", &file);
        decrypt(&mut doc, &["id_rsa".into()], &keys, "ns/keys").expect("decrypts");
        assert_eq!(value_of(&doc, "id_rsa"), "raw file\n");
    }

    #[test]
    fn dotenv_files_and_generated_dotenv_secrets_are_unsupported_naming_the_key() {
        let (file, keys) = encrypted(&json!({"A": "1"}), &[]);
        let mut doc = secret_with("app.env", &file);
        let err = decrypt(&mut doc, &["app.env".into()], &keys, "ns/keys").unwrap_err();
        assert!(err.is_unsupported());
        assert!(err.to_string().contains("\"app.env\""), "{err}");
        let generated = json!({"kind": "Secret", "data": {"A": "RU5D", "sops_mac": "RU5D"}});
        assert_eq!(encrypted_keys(&generated), ["sops_mac"]);
    }
}
