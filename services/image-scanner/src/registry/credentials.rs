//! Registry credentials from a `kubernetes.io/dockerconfigjson` Secret and TLS material from a
//! `certSecretRef` Secret. Secret values never appear in errors or `Debug` output.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// A Secret that does not hold usable registry credentials or TLS material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The Secret lacks the key Flux reads.
    #[error("secret has no '{0}' key")]
    MissingKey(&'static str),
    /// `.dockerconfigjson` is not a Docker config JSON document.
    #[error("'.dockerconfigjson' is not a valid Docker config: {0}")]
    InvalidDockerConfig(String),
    /// The Docker config has no entry for the registry.
    #[error("docker config has no credentials for registry {0}")]
    NoEntryForRegistry(String),
    /// An entry's `auth` field is not base64 of `user:password`.
    #[error("docker config entry for {0} has an invalid 'auth' field")]
    InvalidAuthField(String),
    /// Client certificates are not supported by the registry client.
    #[error(
        "client certificate authentication (tls.crt/tls.key) is not supported for registries; only ca.crt is"
    )]
    ClientCertificateUnsupported,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

/// Reads the credentials for `registry` (a host with optional port, e.g. `ghcr.io`) from a
/// Secret's decoded `data`, as Flux does for `spec.secretRef`: key `.dockerconfigjson` (or the
/// legacy `.dockercfg`), entry matched by host (`https://host/v1/` style keys too, and Docker
/// Hub's aliases), `username`/`password` or base64 `auth`.
pub fn auth_from_docker_config(
    data: &BTreeMap<String, Vec<u8>>,
    registry: &str,
) -> Result<RegistryAuth, CredentialsError> {
    let raw = data
        .get(".dockerconfigjson")
        .or_else(|| data.get(".dockercfg"))
        .ok_or(CredentialsError::MissingKey(".dockerconfigjson"))?;
    let auths: BTreeMap<String, DockerAuth> = match serde_json::from_slice::<DockerConfig>(raw) {
        Ok(config) if !config.auths.is_empty() => config.auths,
        // The legacy `.dockercfg` format is the `auths` map itself.
        _ => serde_json::from_slice(raw)
            .map_err(|e| CredentialsError::InvalidDockerConfig(e.classify_message()))?,
    };
    let wanted = normalise_host(registry);
    let entry = auths
        .iter()
        .find(|(key, _)| normalise_host(key) == wanted)
        .map(|(_, entry)| entry)
        .ok_or_else(|| CredentialsError::NoEntryForRegistry(registry.to_owned()))?;
    if let Some(token) = entry
        .registry_token
        .as_ref()
        .filter(|token| !token.is_empty())
    {
        return Ok(RegistryAuth::Bearer(token.clone()));
    }
    let (user, pass) = match (&entry.username, &entry.password, &entry.auth) {
        (Some(user), Some(pass), _) if !user.is_empty() => (user.clone(), pass.clone()),
        (_, _, Some(auth)) if !auth.is_empty() => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| CredentialsError::InvalidAuthField(registry.to_owned()))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| CredentialsError::InvalidAuthField(registry.to_owned()))?;
            let (user, pass) = decoded
                .split_once(':')
                .ok_or_else(|| CredentialsError::InvalidAuthField(registry.to_owned()))?;
            (user.to_owned(), pass.to_owned())
        }
        _ => match &entry.identity_token {
            // An identity token is a refresh token presented as the password of `<token>`.
            Some(token) if !token.is_empty() => ("<token>".to_owned(), token.clone()),
            _ => return Err(CredentialsError::InvalidAuthField(registry.to_owned())),
        },
    };
    Ok(RegistryAuth::Basic(user, pass))
}

/// `https://index.docker.io/v1/` → `docker.io`; `ghcr.io/` → `ghcr.io`.
fn normalise_host(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

trait ClassifyMessage {
    fn classify_message(&self) -> String;
}

impl ClassifyMessage for serde_json::Error {
    /// Only the position and category: serde's message may quote secret bytes.
    fn classify_message(&self) -> String {
        format!(
            "{:?} error at line {} column {}",
            self.classify(),
            self.line(),
            self.column()
        )
    }
}

/// TLS settings from a `certSecretRef` Secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Extra CA certificates (PEM) to trust.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_pem", &self.ca_pem.as_ref().map(|c| c.len()))
            .finish()
    }
}

/// Reads `ca.crt` (or the legacy `caFile`) from a `certSecretRef` Secret's decoded `data`.
/// Client certificates (`tls.crt`/`tls.key`, `certFile`/`keyFile`) are refused with a clear
/// error: oci-client cannot present one.
pub fn tls_from_secret_data(
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<TlsSettings, CredentialsError> {
    if ["tls.crt", "tls.key", "certFile", "keyFile"]
        .iter()
        .any(|key| data.contains_key(*key))
    {
        return Err(CredentialsError::ClientCertificateUnsupported);
    }
    let ca = data
        .get("ca.crt")
        .or_else(|| data.get("caFile"))
        .ok_or(CredentialsError::MissingKey("ca.crt"))?;
    Ok(TlsSettings {
        ca_pem: Some(ca.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(json: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([(".dockerconfigjson".to_owned(), json.as_bytes().to_vec())])
    }

    #[test]
    fn docker_config_username_password_entry_matches_by_host() {
        let data = secret(
            r#"{"auths":{"https://ghcr.io/v1/":{"username":"bot","password":"s3cret"},"other.io":{"username":"x","password":"y"}}}"#,
        );
        let auth = auth_from_docker_config(&data, "ghcr.io").expect("entry");
        assert_eq!(auth, RegistryAuth::Basic("bot".into(), "s3cret".into()));
    }

    #[test]
    fn docker_config_auth_field_is_base64_user_colon_password() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("user:pa:ss");
        let data = secret(&format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{encoded}"}}}}}}"#
        ));
        let auth = auth_from_docker_config(&data, "docker.io").expect("docker hub alias");
        assert_eq!(auth, RegistryAuth::Basic("user".into(), "pa:ss".into()));
    }

    #[test]
    fn docker_config_errors_never_quote_the_secret() {
        let data = secret(r#"{"auths":{"ghcr.io":{"auth":"not-base64-s3cret!"}}}"#);
        let err = auth_from_docker_config(&data, "ghcr.io").expect_err("bad auth");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let data = secret(r#"{"auths": s3cret"#);
        let err = auth_from_docker_config(&data, "ghcr.io").expect_err("bad json");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = auth_from_docker_config(&secret(r#"{"auths":{}}"#), "ghcr.io").expect_err("none");
        assert_eq!(err, CredentialsError::NoEntryForRegistry("ghcr.io".into()));
    }

    #[test]
    fn cert_secret_reads_ca_and_refuses_client_certificates() {
        let data = BTreeMap::from([("ca.crt".to_owned(), b"PEM".to_vec())]);
        assert_eq!(
            tls_from_secret_data(&data).expect("ca").ca_pem.as_deref(),
            Some(&b"PEM"[..])
        );
        let data = BTreeMap::from([("tls.crt".to_owned(), b"PEM".to_vec())]);
        assert_eq!(
            tls_from_secret_data(&data),
            Err(CredentialsError::ClientCertificateUnsupported)
        );
    }
}
