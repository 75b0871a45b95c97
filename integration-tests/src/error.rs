//! The one error type of the harness, [`HarnessError`].

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can go wrong while starting or driving a test server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program the harness needs is not installed.
    #[error("{binary} not found: apt-get install -y {package}")]
    MissingBinary {
        /// The program that was looked for.
        binary: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, for the reader.
        command: String,
        /// How it exited.
        status: String,
        /// What it wrote to standard error.
        stderr: String,
    },
    /// A server process exited before it became ready.
    #[error("{server} exited before it was ready ({status}); its log:\n{log}")]
    ServerExited {
        /// Which server.
        server: String,
        /// How it exited.
        status: String,
        /// The tail of its log output.
        log: String,
    },
    /// Something did not happen within its time bound.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The bound that passed.
        timeout: Duration,
    },
    /// A call to an OCI registry failed.
    #[error("OCI registry: {0}")]
    Oci(#[from] oci_client::errors::OciDistributionError),
    /// An image reference could not be parsed.
    #[error("image reference: {0}")]
    Reference(#[from] oci_client::ParseError),
    /// A gRPC server could not be started.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Data the harness built or received was not what it expected.
    #[error("invalid data: {0}")]
    Invalid(String),
}

/// Result type of the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Finds `binary` on `PATH` (or takes it as a path when it contains a `/`).
pub fn find_binary(binary: &str) -> Option<PathBuf> {
    if binary.contains('/') {
        let path = PathBuf::from(binary);
        return is_executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

/// Finds `binary` on `PATH`, or fails with a message naming the Debian package that provides it.
pub fn require_binary(binary: &str, package: &str) -> Result<PathBuf> {
    find_binary(binary).ok_or_else(|| HarnessError::MissingBinary {
        binary: binary.to_owned(),
        package: package.to_owned(),
    })
}

/// Whether `path` is a regular file with an execute bit set.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
