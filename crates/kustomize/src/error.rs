//! Errors returned by a kustomize build.

use thiserror::Error;

/// Any failure of a kustomize build, with the file (and field) it concerns where known.
#[derive(Debug, Error)]
pub enum Error {
    /// A path leaves the root the build is confined to.
    #[error("security; file '{path}' is not in or below '{root}'")]
    PathEscape {
        /// The offending path as written.
        path: String,
        /// The directory it had to stay under.
        root: String,
    },
    /// An absolute path was given where only relative paths are allowed.
    #[error("absolute paths are not supported: '{0}'")]
    AbsolutePath(String),
    /// A file or directory does not exist.
    #[error("'{0}' doesn't exist")]
    NotFound(String),
    /// A file is larger than the configured limit.
    #[error("file '{path}' is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading a file failed.
    #[error("reading '{path}': {message}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// A file is not valid YAML (the message carries the line and column).
    #[error("malformed YAML in '{path}': {message}")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A YAML resource limit (aliases, documents, depth, nodes) was exceeded.
    #[error("'{path}' exceeds a safety limit: {message}")]
    Limit {
        /// The file.
        path: String,
        /// What limit was exceeded.
        message: String,
    },
    /// A kustomization file is invalid (unknown field, wrong type...).
    #[error("invalid Kustomization '{path}': {message}")]
    Kustomization {
        /// The kustomization file.
        path: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A directory has no kustomization file.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{0}'"
    )]
    MissingKustomization(String),
    /// A feature kustomize has but this implementation deliberately does not.
    #[error("{feature} are not supported ({path})")]
    Unsupported {
        /// The feature, plural ("remote resources", "helm charts").
        feature: String,
        /// Where it was requested.
        path: String,
    },
    /// Kustomizations include each other in a cycle.
    #[error("cycle detected: '{0}' includes itself")]
    Cycle(String),
    /// Two resources have the same id.
    #[error("may not add resource with an already registered id: {0}")]
    DuplicateId(String),
    /// A resource document is not a valid Kubernetes object.
    #[error("invalid resource in '{path}': {message}")]
    InvalidResource {
        /// Where it came from.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Any other build error, kustomize-style.
    #[error("{0}")]
    Build(String),
}

impl Error {
    /// Shortcut for [`Error::Build`].
    pub fn build(msg: impl Into<String>) -> Self {
        Error::Build(msg.into())
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
