//! One SOPS value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, opened with the data key and the
//! value's path as associated data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aes::Aes256;
use aes_gcm::{AeadInOut, AesGcm, Key, KeyInit, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// sops uses AES-256-GCM with a 32-byte IV (not the usual 12).
type SopsGcm = AesGcm<Aes256, U32>;

/// Why a value cannot be opened. Messages never carry the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// Not an `ENC[AES256_GCM,…]` string.
    #[error("is not a SOPS AES256_GCM value")]
    Format,
    /// A base64 part is not valid or has the wrong length.
    #[error("has a malformed {0} part")]
    Part(&'static str),
    /// The tag does not verify: tampered value, wrong data key, or wrong path.
    #[error("failed authentication (tampered value or wrong key)")]
    Authentication,
    /// The plaintext does not parse as its declared type.
    #[error("does not decode as its declared type {0}")]
    Type(String),
    /// A type sops does not write.
    #[error("has unknown type {0:?}")]
    UnknownType(String),
}

/// A decrypted value with the type sops recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// `type:str`
    Str(String),
    /// `type:int`
    Int(i64),
    /// `type:float`
    Float(f64),
    /// `type:bool`
    Bool(bool),
    /// `type:bytes`
    Bytes(Vec<u8>),
}

impl Plain {
    /// The bytes sops feeds the MAC for this value (Go's formatting: `True`/`False`, shortest
    /// non-exponent floats).
    pub fn mac_bytes(&self) -> Vec<u8> {
        match self {
            Plain::Str(s) => s.as_bytes().to_vec(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => f.to_string().into_bytes(),
            Plain::Bool(true) => b"True".to_vec(),
            Plain::Bool(false) => b"False".to_vec(),
            Plain::Bytes(b) => b.clone(),
        }
    }

    /// The value in the JSON tree (bytes become a string, as sops writes them).
    pub fn into_json(self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Plain::Str(s) => Value::String(s),
            Plain::Int(i) => Value::from(i),
            Plain::Float(f) => Value::from(f),
            Plain::Bool(b) => Value::Bool(b),
            Plain::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        }
    }
}

/// True when `s` looks like a sops-encrypted value.
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,") && s.ends_with(']')
}

/// Opens `value` with `key`, `aad` being the path string sops built when encrypting.
pub fn decrypt(value: &str, key: &[u8; 32], aad: &str) -> Result<Plain, CipherError> {
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(CipherError::Format)?;
    let mut data = None;
    let mut iv = None;
    let mut tag = None;
    let mut kind = None;
    for part in inner.split(',') {
        let (name, v) = part.split_once(':').ok_or(CipherError::Format)?;
        match name {
            "data" => data = Some(v),
            "iv" => iv = Some(v),
            "tag" => tag = Some(v),
            "type" => kind = Some(v),
            _ => return Err(CipherError::Format),
        }
    }
    let decode = |name: &'static str, v: Option<&str>| {
        STANDARD
            .decode(v.ok_or(CipherError::Part(name))?)
            .map_err(|_| CipherError::Part(name))
    };
    let mut buffer = decode("data", data)?;
    let iv = decode("iv", iv)?;
    let tag = decode("tag", tag)?;
    let kind = kind.ok_or(CipherError::Part("type"))?;
    let nonce = Nonce::<U32>::try_from(iv.as_slice()).map_err(|_| CipherError::Part("iv"))?;
    let tag = Tag::try_from(tag.as_slice()).map_err(|_| CipherError::Part("tag"))?;
    let cipher = SopsGcm::new(&Key::<SopsGcm>::from(*key));
    cipher
        .decrypt_inout_detached(&nonce, aad.as_bytes(), buffer.as_mut_slice().into(), &tag)
        .map_err(|_| CipherError::Authentication)?;
    typed(kind, buffer)
}

fn typed(kind: &str, bytes: Vec<u8>) -> Result<Plain, CipherError> {
    let text = || String::from_utf8(bytes.clone()).map_err(|_| CipherError::Type(kind.into()));
    match kind {
        "str" => text().map(Plain::Str),
        "int" => text()?
            .parse()
            .map(Plain::Int)
            .map_err(|_| CipherError::Type(kind.into())),
        "float" => text()?
            .parse()
            .map(Plain::Float)
            .map_err(|_| CipherError::Type(kind.into())),
        // Go's strconv.ParseBool, which sops uses.
        "bool" => match text()?.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Plain::Bool(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Plain::Bool(false)),
            _ => Err(CipherError::Type(kind.into())),
        },
        "bytes" => Ok(Plain::Bytes(bytes)),
        other => Err(CipherError::UnknownType(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_are_rejected_before_any_crypto() {
        let key = [7u8; 32];
        assert_eq!(decrypt("plain", &key, "a:"), Err(CipherError::Format));
        assert_eq!(
            decrypt(
                "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
                &key,
                "a:"
            ),
            Err(CipherError::Part("data"))
        );
        assert_eq!(
            decrypt(
                "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
                &key,
                "a:"
            ),
            Err(CipherError::Part("iv"))
        );
    }

    #[test]
    fn mac_bytes_follow_gos_formatting() {
        assert_eq!(Plain::Bool(true).mac_bytes(), b"True");
        assert_eq!(Plain::Float(1.5).mac_bytes(), b"1.5");
        assert_eq!(Plain::Float(2.0).mac_bytes(), b"2");
        assert_eq!(Plain::Int(-3).mac_bytes(), b"-3");
    }
}
