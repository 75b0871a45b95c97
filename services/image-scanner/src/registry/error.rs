//! What can go wrong talking to a registry, classified by the reason Flux writes in status.

use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::acr::AzureError;
use super::credentials::CredentialsError;

/// A failed registry operation. [`RegistryError::reason`] gives Flux's condition reason.
///
/// Messages name the registry, repository and status, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `spec.image` is not a repository name (Flux: `ImageURLInvalid`).
    #[error("invalid image {image:?}: {reason}")]
    InvalidImage {
        /// The image as written.
        image: String,
        /// Why it is rejected.
        reason: String,
    },
    /// An `exclusionList` entry is not a valid regex.
    #[error("invalid exclusionList regex {pattern:?}: {message}")]
    InvalidExclusion {
        /// The pattern as written.
        pattern: String,
        /// What the regex parser said.
        message: String,
    },
    /// A Secret does not hold usable credentials or TLS material.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The Azure token exchange failed.
    #[error(transparent)]
    Azure(#[from] AzureError),
    /// The registry refused our credentials or asked for some (Flux: `AuthenticationFailed`).
    #[error("authentication to {registry} failed: {message}")]
    Authentication {
        /// Registry host.
        registry: String,
        /// What the registry said.
        message: String,
    },
    /// Listing tags or reading a manifest failed (Flux: `ReadOperationFailed`).
    #[error("{operation} {registry}/{repository} failed: {message}")]
    Read {
        /// `listing tags of`, `resolving the digest of`.
        operation: &'static str,
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// HTTP status, when the registry answered with one.
        status: Option<u16>,
        /// What the registry or transport said.
        message: String,
    },
    /// The operation did not finish within the timeout (Flux: `ReadOperationFailed`).
    #[error("{operation} {registry}/{repository} timed out after {timeout:?}")]
    Timeout {
        /// What was being done.
        operation: &'static str,
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// The HTTP client could not be built (e.g. a CA certificate that does not parse).
    #[error("configuring the registry client: {0}")]
    Client(String),
}

impl RegistryError {
    /// The condition reason Flux's image-reflector-controller uses for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            RegistryError::InvalidImage { .. } => "ImageURLInvalid",
            RegistryError::Authentication { .. } | RegistryError::Azure(_) => {
                "AuthenticationFailed"
            }
            RegistryError::Credentials(_) => "AuthenticationFailed",
            RegistryError::Read { .. } | RegistryError::Timeout { .. } => "ReadOperationFailed",
            RegistryError::InvalidExclusion { .. } | RegistryError::Client(_) => "Failure",
        }
    }

    /// True when the registry rejected (or demanded) credentials.
    pub fn is_auth(&self) -> bool {
        self.reason() == "AuthenticationFailed"
    }

    /// Classifies an oci-client error: 401/403 and auth failures become
    /// [`RegistryError::Authentication`], everything else [`RegistryError::Read`].
    pub(crate) fn from_oci(
        operation: &'static str,
        registry: &str,
        repository: &str,
        err: OciDistributionError,
    ) -> Self {
        let auth = |message: String| RegistryError::Authentication {
            registry: registry.to_owned(),
            message,
        };
        let read = |status: Option<u16>, message: String| RegistryError::Read {
            operation,
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            status,
            message,
        };
        match err {
            OciDistributionError::AuthenticationFailure(reason) => auth(truncate(&reason)),
            OciDistributionError::UnauthorizedError { .. } => {
                auth("401 Unauthorized: credentials missing or rejected".to_owned())
            }
            OciDistributionError::ServerError { code, message, .. } => {
                if code == 401 || code == 403 {
                    auth(format!("{code}: {}", truncate(&message)))
                } else {
                    read(Some(code), format!("HTTP {code}: {}", truncate(&message)))
                }
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                let denied = envelope
                    .errors
                    .iter()
                    .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied));
                let message = truncate(&envelope.to_string());
                if denied {
                    auth(message)
                } else {
                    let status = envelope.errors.iter().find_map(|e| match e.code {
                        OciErrorCode::NameUnknown
                        | OciErrorCode::ManifestUnknown
                        | OciErrorCode::NotFound => Some(404),
                        OciErrorCode::Toomanyrequests => Some(429),
                        _ => None,
                    });
                    read(status, message)
                }
            }
            OciDistributionError::RequestError(e) => {
                let status = e.status().map(|s| s.as_u16());
                // reqwest's Display includes the URL (never credentials: they go in headers).
                read(status, format!("{e}"))
            }
            other => read(None, truncate(&other.to_string())),
        }
    }
}

/// Registry error bodies can be whole HTML pages; keep messages to one readable size.
fn truncate(message: &str) -> String {
    const MAX: usize = 300;
    let message = message.trim();
    if message.len() <= MAX {
        return message.to_owned();
    }
    let mut end = MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}
