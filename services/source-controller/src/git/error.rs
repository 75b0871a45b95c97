//! What can go wrong talking to a Git remote or reading the cache, classified as Flux reports it.

/// A failed Git operation. [`GitError::is_auth`] tells Flux's `AuthenticationFailed` apart from
/// `GitOperationFailed`.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL does not parse or uses an unsupported scheme.
    #[error("invalid Git URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as written in `spec.url`.
        url: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The remote refused our credentials, or asked for some and we had none.
    #[error("authentication to {url} failed: {message}")]
    Authentication {
        /// The remote URL (without credentials).
        url: String,
        /// What the transport said.
        message: String,
    },
    /// Connecting, listing refs or fetching failed for another reason.
    #[error("{operation} {url} failed: {message}")]
    Remote {
        /// `listing refs of`, `fetching from`.
        operation: &'static str,
        /// The remote URL (without credentials).
        url: String,
        /// What the transport said.
        message: String,
    },
    /// The requested ref is not on the remote.
    #[error("{0}")]
    RefNotFound(String),
    /// A `ref.semver` constraint does not parse or matches no tag.
    #[error("{0}")]
    Semver(String),
    /// The local object cache could not be created or read.
    #[error("local Git cache at {path}: {message}")]
    Cache {
        /// The cache directory.
        path: String,
        /// What failed.
        message: String,
    },
    /// An object the commit needs is missing or corrupt in the cache.
    #[error("reading {what} from the Git cache: {message}")]
    Object {
        /// Which object.
        what: String,
        /// What failed.
        message: String,
    },
    /// The tree exceeds the configured limits.
    #[error("repository tree exceeds the limit of {limit} {what} (--max-{what})")]
    TooLarge {
        /// `files` or `bytes`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A `.sourceignore` or `spec.ignore` pattern is invalid.
    #[error(transparent)]
    Ignore(#[from] ferry_artifact::IgnoreError),
}

impl GitError {
    /// True when the failure is the remote rejecting credentials (Flux: `AuthenticationFailed`).
    pub fn is_auth(&self) -> bool {
        matches!(self, GitError::Authentication { .. })
    }

    /// Classifies a transport error: auth failures become [`GitError::Authentication`].
    pub(crate) fn remote(operation: &'static str, url: &str, err: impl std::fmt::Display) -> Self {
        let message = format!("{err:#}");
        let lower = message.to_ascii_lowercase();
        let auth = [
            "401",
            "403",
            "authentication",
            "unauthorized",
            "permission denied",
            "credentials",
        ]
        .iter()
        .any(|needle| lower.contains(needle));
        if auth {
            GitError::Authentication {
                url: url.to_string(),
                message,
            }
        } else {
            GitError::Remote {
                operation,
                url: url.to_string(),
                message,
            }
        }
    }
}
