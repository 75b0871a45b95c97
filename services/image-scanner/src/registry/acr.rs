//! `provider: azure`: an Entra (AAD) token, exchanged at the registry's `/oauth2/exchange` for an
//! ACR refresh token, then at `/oauth2/token` for a repository-scoped access token. Both tokens
//! are cached until shortly before they expire. Tokens never appear in errors or `Debug`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use parking_lot::Mutex;
use serde::Deserialize;

/// ACR's Entra audience in the public cloud.
const ACR_SCOPE_PUBLIC: &str = "https://containerregistry.azure.net/.default";
/// Public-cloud Entra authority, used when `AZURE_AUTHORITY_HOST` is unset.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com/";
/// Tokens are refreshed this long before their `exp`.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Tokens without a readable `exp` are kept this long; no token is kept longer than
/// [`MAX_CACHE`] (Flux's `--token-cache-max-duration` ceiling).
const FALLBACK_TTL: Duration = Duration::from_secs(10 * 60);
const MAX_CACHE: Duration = Duration::from_secs(60 * 60);
/// Host suffixes of Azure Container Registry.
const ACR_SUFFIXES: &[&str] = &[".azurecr.io", ".azurecr.cn", ".azurecr.de", ".azurecr.us"];

/// Why an ACR token could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzureError {
    /// A required environment variable is unset.
    #[error("azure workload identity: environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// Neither a federated token file nor a client secret is configured.
    #[error(
        "azure workload identity: set AZURE_FEDERATED_TOKEN_FILE (workload identity) or AZURE_CLIENT_SECRET (client credentials)"
    )]
    NoCredential,
    /// The federated token file could not be read.
    #[error("reading the federated token file {path}: {message}")]
    TokenFile {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The registry host is not an Azure Container Registry.
    #[error("{0} is not an Azure Container Registry host (*.azurecr.io, .cn, .de, .us)")]
    NotAcrHost(String),
    /// An endpoint answered with an error.
    #[error("{step} failed with HTTP {status}: {message}")]
    Rejected {
        /// `entra token request`, `acr refresh token exchange`, `acr access token request`.
        step: &'static str,
        /// HTTP status.
        status: u16,
        /// `error`/`error_description` from the body, when it is JSON.
        message: String,
    },
    /// An endpoint could not be reached or its answer did not parse.
    #[error("{step} failed: {message}")]
    Transport {
        /// Which step.
        step: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// How the Entra token is obtained.
#[derive(Clone)]
pub enum AzureCredential {
    /// Workload identity: a projected service-account token read from this file on every
    /// request (it is rotated), sent as a client assertion.
    FederatedTokenFile(PathBuf),
    /// Client credentials with a secret.
    ClientSecret(String),
}

impl std::fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AzureCredential::FederatedTokenFile(path) => {
                f.debug_tuple("FederatedTokenFile").field(path).finish()
            }
            AzureCredential::ClientSecret(_) => f.write_str("ClientSecret(<redacted>)"),
        }
    }
}

/// Where and as whom to get tokens. Endpoints are injectable so tests can use a local fake.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// Entra authority, e.g. `https://login.microsoftonline.com/` (`AZURE_AUTHORITY_HOST`).
    pub authority_host: String,
    /// Tenant id (`AZURE_TENANT_ID`).
    pub tenant_id: String,
    /// Application (client) id (`AZURE_CLIENT_ID`).
    pub client_id: String,
    /// The credential.
    pub credential: AzureCredential,
    /// Base URL of the registry's OAuth endpoints instead of `https://<registry>`, e.g. a
    /// local fake's `http://127.0.0.1:1234`.
    pub registry_base_url: Option<String>,
    /// Accept registry hosts that are not `*.azurecr.*` (tests and custom clouds).
    pub allow_any_registry_host: bool,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
}

impl AzureSettings {
    /// Reads the standard variables: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, then
    /// `AZURE_FEDERATED_TOKEN_FILE` or `AZURE_CLIENT_SECRET`, and `AZURE_AUTHORITY_HOST`.
    pub fn from_env() -> Result<Self, AzureError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`from_env`](Self::from_env) with another variable source.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AzureError> {
        let tenant_id =
            lookup("AZURE_TENANT_ID").ok_or(AzureError::MissingEnv("AZURE_TENANT_ID"))?;
        let client_id =
            lookup("AZURE_CLIENT_ID").ok_or(AzureError::MissingEnv("AZURE_CLIENT_ID"))?;
        let credential = match (
            lookup("AZURE_FEDERATED_TOKEN_FILE"),
            lookup("AZURE_CLIENT_SECRET"),
        ) {
            (Some(file), _) => AzureCredential::FederatedTokenFile(PathBuf::from(file)),
            (None, Some(secret)) => AzureCredential::ClientSecret(secret),
            (None, None) => return Err(AzureError::NoCredential),
        };
        Ok(Self {
            authority_host: lookup("AZURE_AUTHORITY_HOST")
                .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned()),
            tenant_id,
            client_id,
            credential,
            registry_base_url: None,
            allow_any_registry_host: false,
            timeout: Duration::from_secs(30),
        })
    }
}

#[derive(Clone)]
struct Cached {
    token: String,
    valid_until: Instant,
}

/// Gets and caches ACR access tokens. Share one per process (or per identity).
pub struct AcrTokenProvider {
    settings: AzureSettings,
    http: reqwest::Client,
    refresh_tokens: Mutex<HashMap<String, Cached>>,
    access_tokens: Mutex<HashMap<(String, String), Cached>>,
    requests: Mutex<RequestCounts>,
}

/// How many requests each endpoint has received from this provider (to observe caching).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Entra token requests.
    pub entra: u32,
    /// `/oauth2/exchange` requests.
    pub exchange: u32,
    /// `/oauth2/token` requests.
    pub token: u32,
}

impl std::fmt::Debug for AcrTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcrTokenProvider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct EntraResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ExchangeResponse {
    refresh_token: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl AcrTokenProvider {
    /// A provider for `settings`. Installs rustls' ring provider if none is installed yet.
    pub fn new(settings: AzureSettings) -> Result<Self, AzureError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| AzureError::Transport {
                step: "building the HTTP client",
                message: e.to_string(),
            })?;
        Ok(Self {
            settings,
            http,
            refresh_tokens: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            requests: Mutex::new(RequestCounts::default()),
        })
    }

    /// Requests made so far, per endpoint.
    pub fn request_counts(&self) -> RequestCounts {
        *self.requests.lock()
    }

    /// An access token for pulling `repository` from `registry` (host, optional port), from
    /// the cache when still valid.
    pub async fn access_token(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<String, AzureError> {
        self.check_host(registry)?;
        let scope = format!("repository:{repository}:pull");
        let key = (registry.to_owned(), scope.clone());
        if let Some(token) = valid(self.access_tokens.lock().get(&key)) {
            return Ok(token);
        }
        let refresh = self.refresh_token(registry).await?;
        let token = match self.request_access_token(registry, &scope, &refresh).await {
            // A revoked or expired refresh token: exchange again, once.
            Err(AzureError::Rejected { status: 401, .. }) => {
                self.refresh_tokens.lock().remove(registry);
                let refresh = self.refresh_token(registry).await?;
                self.request_access_token(registry, &scope, &refresh)
                    .await?
            }
            other => other?,
        };
        self.access_tokens.lock().insert(
            key,
            Cached {
                valid_until: valid_until(jwt_expiry(&token)),
                token: token.clone(),
            },
        );
        Ok(token)
    }

    fn check_host(&self, registry: &str) -> Result<(), AzureError> {
        let host = registry
            .split(':')
            .next()
            .unwrap_or(registry)
            .to_ascii_lowercase();
        let is_acr = ACR_SUFFIXES
            .iter()
            .any(|suffix| host.len() > suffix.len() && host.ends_with(suffix));
        if is_acr || self.settings.allow_any_registry_host {
            Ok(())
        } else {
            Err(AzureError::NotAcrHost(registry.to_owned()))
        }
    }

    fn base_url(&self, registry: &str) -> String {
        match &self.settings.registry_base_url {
            Some(base) => base.trim_end_matches('/').to_owned(),
            None => format!("https://{registry}"),
        }
    }

    /// The Entra scope (audience) for the registry's cloud.
    fn entra_scope(registry: &str) -> &'static str {
        let host = registry.split(':').next().unwrap_or(registry);
        if host.ends_with(".azurecr.cn") {
            "https://containerregistry.azure.cn/.default"
        } else if host.ends_with(".azurecr.us") {
            "https://containerregistry.azure.us/.default"
        } else {
            ACR_SCOPE_PUBLIC
        }
    }

    async fn refresh_token(&self, registry: &str) -> Result<String, AzureError> {
        if let Some(token) = valid(self.refresh_tokens.lock().get(registry)) {
            return Ok(token);
        }
        let entra = self.entra_token(registry).await?;
        self.requests.lock().exchange += 1;
        let url = format!("{}/oauth2/exchange", self.base_url(registry));
        let body = form(&[
            ("grant_type", "access_token"),
            ("service", registry),
            ("tenant", &self.settings.tenant_id),
            ("access_token", &entra),
        ]);
        let response: ExchangeResponse =
            self.post("acr refresh token exchange", &url, body).await?;
        self.refresh_tokens.lock().insert(
            registry.to_owned(),
            Cached {
                valid_until: valid_until(jwt_expiry(&response.refresh_token)),
                token: response.refresh_token.clone(),
            },
        );
        Ok(response.refresh_token)
    }

    async fn request_access_token(
        &self,
        registry: &str,
        scope: &str,
        refresh_token: &str,
    ) -> Result<String, AzureError> {
        self.requests.lock().token += 1;
        let url = format!("{}/oauth2/token", self.base_url(registry));
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("service", registry),
            ("scope", scope),
            ("refresh_token", refresh_token),
        ]);
        let response: TokenResponse = self.post("acr access token request", &url, body).await?;
        Ok(response.access_token)
    }

    async fn entra_token(&self, registry: &str) -> Result<String, AzureError> {
        self.requests.lock().entra += 1;
        let settings = &self.settings;
        let authority = if settings.authority_host.ends_with('/') {
            settings.authority_host.clone()
        } else {
            format!("{}/", settings.authority_host)
        };
        let url = format!("{authority}{}/oauth2/v2.0/token", settings.tenant_id);
        let scope = Self::entra_scope(registry);
        let body = match &settings.credential {
            AzureCredential::FederatedTokenFile(path) => {
                let assertion =
                    tokio::fs::read_to_string(path)
                        .await
                        .map_err(|e| AzureError::TokenFile {
                            path: path.display().to_string(),
                            message: e.to_string(),
                        })?;
                form(&[
                    ("client_id", &settings.client_id),
                    ("scope", scope),
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.trim()),
                ])
            }
            AzureCredential::ClientSecret(secret) => form(&[
                ("client_id", &settings.client_id),
                ("scope", scope),
                ("grant_type", "client_credentials"),
                ("client_secret", secret),
            ]),
        };
        let response: EntraResponse = self.post("entra token request", &url, body).await?;
        // Entra tokens are used once, for the exchange; `expires_in` only sanity-checks them.
        if response.expires_in == Some(0) {
            return Err(AzureError::Transport {
                step: "entra token request",
                message: "token already expired".to_owned(),
            });
        }
        Ok(response.access_token)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        step: &'static str,
        url: &str,
        body: String,
    ) -> Result<T, AzureError> {
        let transport = |message: String| AzureError::Transport { step, message };
        let response = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| transport(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(AzureError::Rejected {
                step,
                status: status.as_u16(),
                message: error_message(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            transport(format!(
                "unexpected response ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }
}

fn valid(cached: Option<&Cached>) -> Option<String> {
    cached
        .filter(|c| c.valid_until > Instant::now())
        .map(|c| c.token.clone())
}

/// When a token with this remaining lifetime should be dropped from the cache.
fn valid_until(remaining: Option<Duration>) -> Instant {
    let ttl = match remaining {
        Some(remaining) => remaining.saturating_sub(EXPIRY_MARGIN).min(MAX_CACHE),
        None => FALLBACK_TTL,
    };
    Instant::now() + ttl
}

/// The remaining lifetime from a JWT's `exp` claim, read without verifying the signature (as
/// Flux does: the token is only cached by it, the registry verifies it).
fn jwt_expiry(token: &str) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let now = chrono::Utc::now().timestamp();
    u64::try_from(exp - now).ok().map(Duration::from_secs)
}

/// `error: error_description` from an OAuth error body, else nothing (bodies are not echoed).
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(OAuthError {
            error: Some(error),
            error_description,
        }) => {
            let mut message = error;
            if let Some(description) = error_description {
                message.push_str(": ");
                message.push_str(description.lines().next().unwrap_or_default());
            }
            message.chars().take(300).collect()
        }
        _ => "no OAuth error in the response".to_owned(),
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", form_encode(key), form_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: i64) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            engine.encode(br#"{"alg":"none"}"#),
            engine.encode(format!(r#"{{"exp":{exp}}}"#))
        )
    }

    #[test]
    fn jwt_expiry_reads_exp_without_verifying() {
        let in_an_hour = chrono::Utc::now().timestamp() + 3600;
        let remaining = jwt_expiry(&jwt(in_an_hour)).expect("exp");
        assert!(remaining > Duration::from_secs(3590) && remaining <= Duration::from_secs(3600));
        assert_eq!(jwt_expiry(&jwt(1)), None, "expired");
        assert_eq!(jwt_expiry("opaque"), None);
    }

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(
            form(&[("scope", "repository:a/b:pull"), ("x", "a b&c=d")]),
            "scope=repository%3Aa%2Fb%3Apull&x=a+b%26c%3Dd"
        );
    }

    #[test]
    fn settings_from_env_prefer_workload_identity_and_redact_secrets() {
        let vars = HashMap::from([
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s3cret"),
        ]);
        let settings =
            AzureSettings::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).expect("ok");
        assert_eq!(settings.authority_host, DEFAULT_AUTHORITY_HOST);
        assert!(!format!("{settings:?}").contains("s3cret"));
        let err = AzureSettings::from_lookup(|_| None).expect_err("no tenant");
        assert_eq!(err, AzureError::MissingEnv("AZURE_TENANT_ID"));
    }

    #[test]
    fn only_acr_hosts_are_accepted_by_default() {
        let settings = AzureSettings {
            authority_host: DEFAULT_AUTHORITY_HOST.into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            credential: AzureCredential::ClientSecret("s".into()),
            registry_base_url: None,
            allow_any_registry_host: false,
            timeout: Duration::from_secs(1),
        };
        let provider = AcrTokenProvider::new(settings).expect("client");
        assert!(provider.check_host("myacr.azurecr.io").is_ok());
        assert!(provider.check_host("myacr.azurecr.cn").is_ok());
        assert_eq!(
            provider.check_host("ghcr.io"),
            Err(AzureError::NotAcrHost("ghcr.io".into()))
        );
        assert_eq!(
            AcrTokenProvider::entra_scope("x.azurecr.us"),
            "https://containerregistry.azure.us/.default"
        );
    }
}
