//! Credentials from a GitRepository's `secretRef`, with the keys Flux reads. Never printed.
//! Shared by source-controller (gix) and image-scanner (the `git` CLI) so both read a Secret alike.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How to authenticate to a Git remote. `Debug` shows which kind, never the secret values.
#[derive(Clone, Default)]
pub struct Credentials {
    /// HTTP basic auth (`username` + `password`).
    pub basic: Option<(String, String)>,
    /// HTTP bearer token (`bearerToken`), sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// SSH private key (`identity`) and the hosts to trust (`known_hosts`).
    pub ssh: Option<SshKey>,
    /// Extra CA certificate in PEM (`ca.crt`, or the legacy `caFile`).
    pub ca_pem: Option<Vec<u8>>,
}

/// An SSH identity and the known hosts it may talk to.
#[derive(Clone)]
pub struct SshKey {
    /// The private key in OpenSSH or PEM form.
    pub identity: Vec<u8>,
    /// `known_hosts` lines; host keys are always checked.
    pub known_hosts: Vec<u8>,
}

/// A secret that does not hold a usable combination of Flux's keys.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// `username` without `password` or the other way round.
    #[error("secret has '{present}' but no '{missing}'")]
    Incomplete {
        /// The key that is there.
        present: &'static str,
        /// The key that should be next to it.
        missing: &'static str,
    },
    /// A value is not valid UTF-8 where text is required.
    #[error("secret key '{0}' is not valid UTF-8")]
    NotUtf8(&'static str),
}

impl Credentials {
    /// Reads Flux's keys from a Secret's decoded `data`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, AuthError> {
        let text = |key: &'static str| -> Result<Option<String>, AuthError> {
            data.get(key)
                .map(|v| String::from_utf8(v.clone()).map_err(|_| AuthError::NotUtf8(key)))
                .transpose()
        };
        let basic = match (text("username")?, text("password")?) {
            (Some(user), Some(pass)) => Some((user, pass)),
            (Some(_), None) if !data.contains_key("identity") => {
                return Err(AuthError::Incomplete {
                    present: "username",
                    missing: "password",
                });
            }
            (None, Some(_)) if !data.contains_key("identity") => {
                return Err(AuthError::Incomplete {
                    present: "password",
                    missing: "username",
                });
            }
            _ => None,
        };
        let ssh = match (data.get("identity"), data.get("known_hosts")) {
            (Some(identity), Some(known_hosts)) => Some(SshKey {
                identity: identity.clone(),
                known_hosts: known_hosts.clone(),
            }),
            (Some(_), None) => {
                return Err(AuthError::Incomplete {
                    present: "identity",
                    missing: "known_hosts",
                });
            }
            _ => None,
        };
        Ok(Credentials {
            basic: if ssh.is_some() { None } else { basic },
            bearer_token: text("bearerToken")?,
            ssh,
            ca_pem: data.get("ca.crt").or_else(|| data.get("caFile")).cloned(),
        })
    }

    /// Writes the SSH key and known hosts into `dir` (mode 0600) and returns the `ssh` command
    /// line to run (gix's `core.sshCommand`, git's `GIT_SSH_COMMAND`); host keys are checked
    /// strictly and no agent or prompt is used.
    pub fn ssh_command(&self, dir: &Path) -> std::io::Result<Option<String>> {
        let Some(key) = &self.ssh else {
            return Ok(None);
        };
        let identity = write_private(dir, "identity", &key.identity)?;
        let known_hosts = write_private(dir, "known_hosts", &key.known_hosts)?;
        Ok(Some(format!(
            "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
             -o BatchMode=yes -o IdentityAgent=none",
            identity.display(),
            known_hosts.display()
        )))
    }
}

fn write_private(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(data)?;
    // ssh refuses a key file without a final newline in some formats.
    if !data.ends_with(b"\n") {
        file.write_all(b"\n")?;
    }
    Ok(path)
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("basic", &self.basic.as_ref().map(|(user, _)| user))
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ssh", &self.ssh.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn basic_auth_needs_both_username_and_password() {
        let creds = Credentials::from_secret_data(&data(&[("username", "u"), ("password", "p")]))
            .expect("valid");
        assert_eq!(creds.basic, Some(("u".into(), "p".into())));
        let err = Credentials::from_secret_data(&data(&[("username", "u")])).expect_err("invalid");
        assert_eq!(
            err,
            AuthError::Incomplete {
                present: "username",
                missing: "password"
            }
        );
    }

    #[test]
    fn debug_output_never_contains_secret_values() {
        let creds = Credentials::from_secret_data(&data(&[
            ("username", "alice"),
            ("password", "hunter2"),
            ("bearerToken", "tok-123"),
        ]))
        .expect("valid");
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-123"),
            "{shown}"
        );
        assert!(shown.contains("alice"));
    }

    #[test]
    fn ssh_identity_requires_known_hosts() {
        let err =
            Credentials::from_secret_data(&data(&[("identity", "KEY")])).expect_err("invalid");
        assert_eq!(
            err,
            AuthError::Incomplete {
                present: "identity",
                missing: "known_hosts"
            }
        );
    }

    #[test]
    fn legacy_ca_file_key_is_read() {
        let creds = Credentials::from_secret_data(&data(&[("caFile", "PEM")])).expect("valid");
        assert_eq!(creds.ca_pem.as_deref(), Some(&b"PEM"[..]));
    }
}
