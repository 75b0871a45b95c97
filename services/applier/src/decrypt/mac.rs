//! The sops MAC: SHA-512 over the plaintext values in document order, stored encrypted with the
//! data key and `lastmodified` as associated data; a mismatch means the document was altered.

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha512};

use super::cipher::{self, CipherError, Plain};

/// Why the integrity check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// `lastmodified` is not an RFC 3339 time.
    #[error("has a lastmodified that is not an RFC 3339 time")]
    LastModified,
    /// The stored MAC cannot be opened.
    #[error("has a sops MAC that {0}")]
    Stored(CipherError),
    /// The values do not hash to the stored MAC.
    #[error(
        "failed the sops integrity check: its MAC does not match its values (tampered, or changed after encryption by the build); re-encrypt the file with sops"
    )]
    Mismatch,
}

/// The running hash of a document's plaintext values.
pub struct Mac(Sha512);

impl Default for Mac {
    fn default() -> Self {
        Self::new()
    }
}

impl Mac {
    /// An empty hash.
    pub fn new() -> Self {
        Self(Sha512::new())
    }

    /// Adds one value's bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Checks the hash against the stored, encrypted MAC.
    pub fn verify(self, stored: &str, lastmodified: &str, key: &[u8; 32]) -> Result<(), MacError> {
        let computed = hex::encode_upper(self.0.finalize());
        let aad = go_rfc3339(lastmodified)?;
        let expected = match cipher::decrypt(stored, key, &aad).map_err(MacError::Stored)? {
            Plain::Str(s) => s,
            _ => return Err(MacError::Stored(CipherError::Type("str".into()))),
        };
        // Both are public hashes of the plaintext; a plain comparison leaks nothing secret.
        if expected.eq_ignore_ascii_case(&computed) {
            Ok(())
        } else {
            Err(MacError::Mismatch)
        }
    }
}

/// sops re-formats the parsed time with Go's `time.RFC3339` (whole seconds, `Z` for UTC)
/// before using it as associated data.
fn go_rfc3339(s: &str) -> Result<String, MacError> {
    let t: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339(s).map_err(|_| MacError::LastModified)?;
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    Ok(if t.offset().local_minus_utc() == 0 {
        format!("{base}Z")
    } else {
        format!("{base}{}", t.format("%:z"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_is_reformatted_as_go_does() {
        assert_eq!(
            go_rfc3339("2024-09-04T13:43:30Z").unwrap(),
            "2024-09-04T13:43:30Z"
        );
        assert_eq!(
            go_rfc3339("2024-09-04T13:43:30.123+00:00").unwrap(),
            "2024-09-04T13:43:30Z"
        );
        assert_eq!(
            go_rfc3339("2024-09-04T15:43:30+02:00").unwrap(),
            "2024-09-04T15:43:30+02:00"
        );
        assert_eq!(go_rfc3339("yesterday"), Err(MacError::LastModified));
    }
}
