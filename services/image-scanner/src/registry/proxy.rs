//! `spec.proxySecretRef`: the HTTP proxy for every registry request of an ImageRepository, from
//! Flux's Secret keys `address` (required, `http://` or `https://`), `username` and `password`.

use std::collections::BTreeMap;

/// A proxy URL, with the credentials (percent-encoded) in its user info. `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    url: String,
    address: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A proxy Secret without a usable combination of Flux's keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No `address`.
    #[error("proxy secret has no 'address'")]
    MissingAddress,
    /// A value is not valid UTF-8.
    #[error("proxy secret key '{0}' is not valid UTF-8")]
    NotUtf8(&'static str),
    /// `address` is not an http(s) URL, or carries credentials itself.
    #[error(
        "proxy address {0:?} must be an http:// or https:// URL without credentials (put them in 'username' and 'password')"
    )]
    InvalidAddress(String),
    /// `username` without `password` or the other way round.
    #[error("proxy secret has '{present}' but no '{missing}'")]
    Incomplete {
        /// The key that is there.
        present: &'static str,
        /// The key that should be next to it.
        missing: &'static str,
    },
}

impl Proxy {
    /// Reads `address`, `username` and `password` from a Secret's decoded `data`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, ProxyError> {
        let text = |key: &'static str| -> Result<Option<String>, ProxyError> {
            data.get(key)
                .map(|v| String::from_utf8(v.clone()).map_err(|_| ProxyError::NotUtf8(key)))
                .transpose()
        };
        let address = text("address")?
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .ok_or(ProxyError::MissingAddress)?;
        let Some((scheme, rest)) = address.split_once("://") else {
            return Err(ProxyError::InvalidAddress(address));
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        if !matches!(scheme, "http" | "https") || authority.is_empty() || authority.contains('@') {
            return Err(ProxyError::InvalidAddress(address));
        }
        let url = match (text("username")?, text("password")?) {
            (Some(user), Some(pass)) => {
                format!("{scheme}://{}:{}@{rest}", encode(&user), encode(&pass))
            }
            (Some(_), None) => {
                return Err(ProxyError::Incomplete {
                    present: "username",
                    missing: "password",
                });
            }
            (None, Some(_)) => {
                return Err(ProxyError::Incomplete {
                    present: "password",
                    missing: "username",
                });
            }
            (None, None) => address.clone(),
        };
        Ok(Self { url, address })
    }

    /// The URL to hand to the HTTP client (with credentials).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (user info must not carry
/// `:`, `@` or `/` unescaped).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn credentials_are_encoded_into_the_url_and_hidden_from_debug() {
        let proxy = Proxy::from_secret_data(&data(&[
            ("address", "http://proxy.internal:3128"),
            ("username", "bot"),
            ("password", "p@ss:w/rd"),
        ]))
        .expect("proxy");
        assert_eq!(
            proxy.url(),
            "http://bot:p%40ss%3Aw%2Frd@proxy.internal:3128"
        );
        assert!(!format!("{proxy:?}").contains("p@ss"));
        let plain = Proxy::from_secret_data(&data(&[("address", "https://proxy:443")]));
        assert_eq!(
            plain.map(|p| p.url().to_owned()),
            Ok("https://proxy:443".into())
        );
    }

    #[test]
    fn bad_secrets_are_named() {
        assert_eq!(
            Proxy::from_secret_data(&data(&[])),
            Err(ProxyError::MissingAddress)
        );
        for address in ["proxy:3128", "socks5://proxy:1080", "http://u:p@proxy:3128"] {
            assert!(
                matches!(
                    Proxy::from_secret_data(&data(&[("address", address)])),
                    Err(ProxyError::InvalidAddress(_))
                ),
                "{address}"
            );
        }
        assert!(matches!(
            Proxy::from_secret_data(&data(&[("address", "http://p:1"), ("username", "u")])),
            Err(ProxyError::Incomplete { .. })
        ));
    }
}
