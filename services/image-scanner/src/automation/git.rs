//! The `git` CLI, run in a temporary directory with no user or system configuration.
//!
//! Why the CLI and not gix: gix (0.90) cannot push, and the automation must push. The CLI is
//! isolated from the host: `GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`,
//! `GIT_TERMINAL_PROMPT=0`, no askpass, no credential helper, no redirects, only `http`/`https`
//! (plus `ssh` when the Secret holds an SSH key), and no trace variables. HTTP credentials
//! travel as an `http.extraHeader` set through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/
//! `GIT_CONFIG_VALUE_n` — the environment form of `git -c http.extraHeader=…`, which keeps the
//! header out of the argument list (readable by every local user in `/proc/<pid>/cmdline`) —
//! never in the URL, and never in logs or errors. SSH keys and `known_hosts` are written to a
//! private (0700) directory outside the work tree, used through `GIT_SSH_COMMAND` with strict
//! host key checking, and removed when the run ends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;

/// Credentials for the Git remote, from the GitRepository's Secret (Flux's keys, read by the
/// `git-credentials` crate that source-controller uses too). `Debug` redacts them.
pub use git_credentials::{AuthError as GitCredentialsError, Credentials as GitCredentials};

/// The `Authorization` header value, if any (bearer wins over basic, as in Flux).
fn http_header(credentials: &GitCredentials) -> Option<String> {
    if let Some(token) = &credentials.bearer_token {
        return Some(format!("Authorization: Bearer {token}"));
    }
    credentials.basic.as_ref().map(|(user, pass)| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        format!("Authorization: Basic {encoded}")
    })
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
    /// Private files (SSH key, `known_hosts`, CA) for this run; removed on drop.
    _private: tempfile::TempDir,
    ssh_command: Option<String>,
    ca_file: Option<PathBuf>,
}

/// What `git` printed.
pub(crate) struct Output {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Git {
    /// Prepares `git` for the work tree `dir`, writing the SSH key, `known_hosts` and CA (when
    /// the credentials have them) into a fresh private directory.
    pub(crate) fn new(
        dir: &Path,
        credentials: GitCredentials,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let private = tempfile::Builder::new()
            .prefix("ferry-git-credentials-")
            .tempdir()?;
        // `-F /dev/null`: the service user's ~/.ssh/config must not change host, key or checks.
        let ssh_command = credentials
            .ssh_command(private.path())?
            .map(|command| format!("{command} -F /dev/null"));
        let ca_file = match &credentials.ca_pem {
            Some(pem) => {
                let path = private.path().join("ca.crt");
                std::fs::write(&path, pem)?;
                Some(path)
            }
            None => None,
        };
        Ok(Self {
            dir: dir.to_owned(),
            credentials,
            timeout,
            _private: private,
            ssh_command,
            ca_file,
        })
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
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("GIT_SSH")
            .env_remove("GIT_SSH_VARIANT")
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
        match &self.ssh_command {
            Some(ssh) => command
                .env("GIT_ALLOW_PROTOCOL", "http:https:ssh")
                .env("GIT_SSH_COMMAND", ssh),
            None => command
                .env("GIT_ALLOW_PROTOCOL", "http:https")
                .env_remove("GIT_SSH_COMMAND"),
        };
        // No credential helpers; no redirects, so the Authorization header never follows a
        // redirect to another host.
        let mut config: Vec<(&str, String)> = vec![
            ("credential.helper", String::new()),
            ("http.followRedirects", "false".to_owned()),
        ];
        if let Some(header) = http_header(&self.credentials) {
            config.push(("http.extraHeader", header));
        }
        if let Some(ca) = &self.ca_file {
            config.push(("http.sslCAInfo", ca.display().to_string()));
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

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn bearer_token_wins_over_basic_and_basic_is_base64_encoded() {
        let creds =
            GitCredentials::from_secret_data(&data(&[("username", "bot"), ("password", "s3cret")]))
                .expect("basic");
        assert_eq!(
            http_header(&creds).as_deref(),
            Some("Authorization: Basic Ym90OnMzY3JldA==")
        );
        assert!(!format!("{creds:?}").contains("s3cret"));
        let creds = GitCredentials::from_secret_data(&data(&[
            ("username", "bot"),
            ("password", "s3cret"),
            ("bearerToken", "tok"),
        ]))
        .expect("bearer");
        assert_eq!(
            http_header(&creds).as_deref(),
            Some("Authorization: Bearer tok")
        );
    }

    #[test]
    fn ssh_key_files_are_private_and_removed_with_the_run() {
        let creds = GitCredentials::from_secret_data(&data(&[
            ("identity", "KEY"),
            ("known_hosts", "host ssh-ed25519 AAAA"),
        ]))
        .expect("ssh");
        let work = tempfile::tempdir().expect("work dir");
        let git = Git::new(work.path(), creds, Duration::from_secs(5)).expect("git");
        let private = git._private.path().to_owned();
        let command = git.ssh_command.clone().expect("ssh command");
        assert!(command.contains("StrictHostKeyChecking=yes") && command.ends_with("-F /dev/null"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(private.join("identity"))
                .expect("identity written")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            !private.starts_with(work.path()),
            "never inside the work tree"
        );
        drop(git);
        assert!(!private.exists());
    }
}
