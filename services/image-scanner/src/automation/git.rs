//! The `git` CLI, run in a temporary directory with no user or system configuration.
//!
//! Why the CLI and not gix: gix (0.90) cannot push, and the automation must push. The CLI is
//! isolated from the host: `GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`,
//! `GIT_TERMINAL_PROMPT=0`, no askpass, no credential helper, no redirects, only `http`/`https`,
//! and no trace variables. Credentials travel as an `http.extraHeader` set through
//! `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` — the environment form of
//! `git -c http.extraHeader=…`, which keeps the header out of the argument list (readable by
//! every local user in `/proc/<pid>/cmdline`) — never in the URL, and never in logs or errors.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;

/// Credentials for the Git remote, from the GitRepository's Secret. `Debug` redacts them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitCredentials {
    /// HTTP basic auth (`username`, `password`).
    pub basic: Option<(String, String)>,
    /// HTTP bearer token (`bearerToken`).
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field(
                "basic",
                &self.basic.as_ref().map(|(user, _)| (user, "<redacted>")),
            )
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A Secret without a usable combination of Flux's keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitCredentialsError {
    /// `username` without `password` or the other way round.
    #[error("secret has '{present}' but no '{missing}'")]
    Incomplete {
        /// The key that is there.
        present: &'static str,
        /// The key that should be next to it.
        missing: &'static str,
    },
    /// A value is not valid UTF-8.
    #[error("secret key '{0}' is not valid UTF-8")]
    NotUtf8(&'static str),
    /// SSH keys are for `ssh://` remotes, which the automation does not support.
    #[error(
        "SSH credentials ('identity') are not supported by image automation; use an https URL with username/password or bearerToken"
    )]
    SshUnsupported,
}

impl GitCredentials {
    /// Reads `username`/`password` or `bearerToken` from a Secret's decoded `data`.
    pub fn from_secret_data(
        data: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, GitCredentialsError> {
        let text = |key: &'static str| -> Result<Option<String>, GitCredentialsError> {
            data.get(key)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| GitCredentialsError::NotUtf8(key))
                })
                .transpose()
        };
        let basic = match (text("username")?, text("password")?) {
            (Some(user), Some(pass)) => Some((user, pass)),
            (Some(_), None) => {
                return Err(GitCredentialsError::Incomplete {
                    present: "username",
                    missing: "password",
                });
            }
            (None, Some(_)) => {
                return Err(GitCredentialsError::Incomplete {
                    present: "password",
                    missing: "username",
                });
            }
            (None, None) => None,
        };
        let bearer_token = text("bearerToken")?;
        if basic.is_none() && bearer_token.is_none() && data.contains_key("identity") {
            return Err(GitCredentialsError::SshUnsupported);
        }
        Ok(Self {
            basic,
            bearer_token,
        })
    }

    /// The `Authorization` header value, if any (bearer wins over basic, as in Flux).
    fn header(&self) -> Option<String> {
        if let Some(token) = &self.bearer_token {
            return Some(format!("Authorization: Bearer {token}"));
        }
        self.basic.as_ref().map(|(user, pass)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            format!("Authorization: Basic {encoded}")
        })
    }
}

/// A failed `git` invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitCommandError {
    /// `git` could not be started.
    #[error("running git {command}: {message}")]
    Spawn {
        /// The subcommand.
        command: String,
        /// The I/O error.
        message: String,
    },
    /// `git` exited with an error.
    #[error("git {command} failed: {stderr}")]
    Failed {
        /// The subcommand.
        command: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// `git` did not finish in time.
    #[error("git {command} timed out after {timeout:?}")]
    Timeout {
        /// The subcommand.
        command: String,
        /// The timeout.
        timeout: Duration,
    },
}

impl GitCommandError {
    /// True when the remote refused our credentials.
    pub fn is_auth(&self) -> bool {
        match self {
            GitCommandError::Failed { stderr, .. } => {
                let lower = stderr.to_ascii_lowercase();
                [
                    "authentication failed",
                    "401",
                    "403",
                    "could not read username",
                    "permission denied",
                ]
                .iter()
                .any(|needle| lower.contains(needle))
            }
            _ => false,
        }
    }
}

/// A work tree in a temporary directory, and how to run `git` in it.
#[derive(Debug)]
pub(crate) struct Git {
    dir: PathBuf,
    credentials: GitCredentials,
    timeout: Duration,
}

/// What `git` printed.
pub(crate) struct Output {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Git {
    pub(crate) fn new(dir: &Path, credentials: GitCredentials, timeout: Duration) -> Self {
        Self {
            dir: dir.to_owned(),
            credentials,
            timeout,
        }
    }

    /// Runs `git args…`, returning its output whether or not it succeeded.
    pub(crate) async fn output(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Output, GitCommandError> {
        let command_name = args.first().copied().unwrap_or_default().to_owned();
        let mut command = tokio::process::Command::new("git");
        command
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", "http:https")
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_TRACE")
            .env_remove("GIT_TRACE_CURL")
            .env_remove("GIT_TRACE_PACKET")
            .env_remove("GIT_CURL_VERBOSE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // No credential helpers; no redirects, so the Authorization header never follows a
        // redirect to another host.
        let mut config: Vec<(&str, String)> = vec![
            ("credential.helper", String::new()),
            ("http.followRedirects", "false".to_owned()),
        ];
        if let Some(header) = self.credentials.header() {
            config.push(("http.extraHeader", header));
        }
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let output = tokio::time::timeout(self.timeout, command.output())
            .await
            .map_err(|_| GitCommandError::Timeout {
                command: command_name.clone(),
                timeout: self.timeout,
            })?
            .map_err(|e| GitCommandError::Spawn {
                command: command_name,
                message: e.to_string(),
            })?;
        Ok(Output {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    /// Runs `git args…` and returns its stdout, or fails with its stderr.
    pub(crate) async fn run(&self, args: &[&str]) -> Result<String, GitCommandError> {
        self.run_env(args, &[]).await
    }

    /// Like [`run`](Self::run) with extra environment variables.
    pub(crate) async fn run_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<String, GitCommandError> {
        let output = self.output(args, env).await?;
        if output.success {
            Ok(output.stdout)
        } else {
            Err(GitCommandError::Failed {
                command: args.first().copied().unwrap_or_default().to_owned(),
                stderr: output.stderr,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn secret_keys_map_to_credentials_and_debug_redacts_them() {
        let data = BTreeMap::from([
            ("username".to_owned(), b"bot".to_vec()),
            ("password".to_owned(), b"s3cret".to_vec()),
        ]);
        let creds = GitCredentials::from_secret_data(&data).expect("basic");
        assert_eq!(creds.basic, Some(("bot".into(), "s3cret".into())));
        assert!(!format!("{creds:?}").contains("s3cret"));
        let data = BTreeMap::from([("bearerToken".to_owned(), b"tok".to_vec())]);
        let creds = GitCredentials::from_secret_data(&data).expect("bearer");
        assert_eq!(creds.header().as_deref(), Some("Authorization: Bearer tok"));
        let data = BTreeMap::from([("username".to_owned(), b"bot".to_vec())]);
        assert!(GitCredentials::from_secret_data(&data).is_err());
        let data = BTreeMap::from([("identity".to_owned(), b"key".to_vec())]);
        assert_eq!(
            GitCredentials::from_secret_data(&data),
            Err(GitCredentialsError::SshUnsupported)
        );
    }
}
