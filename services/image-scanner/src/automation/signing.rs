//! Commit signing with the OpenPGP key of `spec.git.commit.signingKey` (Secret keys `git.asc`
//! and optional `passphrase`): the key goes into a private, temporary GnuPG home that
//! `git commit --gpg-sign` uses; dropping the [`Signer`] stops its gpg-agent and removes the home.
//!
//! Why `gpg` and not a Rust OpenPGP crate: see docs/dependencies.md (git already drives gpg for
//! `--gpg-sign`, so the commit bytes are signed exactly as git defines them).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

/// The Secret key holding the armored private key, as in Flux.
pub const KEY_ENTRY: &str = "git.asc";
/// The Secret key holding the key's passphrase, as in Flux.
pub const PASSPHRASE_ENTRY: &str = "passphrase";

/// An armored OpenPGP private key and its passphrase. `Debug` never shows either.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    armored: Vec<u8>,
    passphrase: Option<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("armored", &"<redacted>")
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why the signing key cannot be used; nothing is committed or pushed then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The Secret has no `git.asc`.
    #[error("secret has no '{KEY_ENTRY}' (an armored OpenPGP private key)")]
    MissingKey,
    /// `gpg` refused `git.asc`.
    #[error("could not import '{KEY_ENTRY}': {0}")]
    Import(String),
    /// `git.asc` holds only public keys.
    #[error(
        "'{KEY_ENTRY}' holds no private key; export it with `gpg --armor --export-secret-keys`"
    )]
    NoSecretKey,
    /// The key cannot sign (wrong or missing passphrase, no signing capability, …).
    #[error("cannot sign with the key from '{KEY_ENTRY}': {0}")]
    Sign(String),
    /// `gpg` could not run, or the GnuPG home could not be written.
    #[error("running gpg: {0}")]
    Gpg(String),
}

impl SigningKey {
    /// A key from its armored text and optional passphrase.
    pub fn new(armored: impl Into<Vec<u8>>, passphrase: Option<Vec<u8>>) -> Self {
        Self {
            armored: armored.into(),
            passphrase,
        }
    }

    /// Reads `git.asc` and `passphrase` from a Secret's decoded `data`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, SigningError> {
        let armored = data.get(KEY_ENTRY).ok_or(SigningError::MissingKey)?;
        Ok(Self::new(
            armored.clone(),
            data.get(PASSPHRASE_ENTRY).cloned(),
        ))
    }
}

/// A GnuPG home holding one imported key, ready for `git commit --gpg-sign`.
#[derive(Debug)]
pub(crate) struct Signer {
    home: tempfile::TempDir,
    fingerprint: String,
    timeout: Duration,
}

impl Signer {
    /// Imports the key into a fresh home and signs a probe, so a bad key or passphrase fails
    /// here, before any Git work.
    pub(crate) async fn prepare(key: &SigningKey, timeout: Duration) -> Result<Self, SigningError> {
        let home = tempfile::Builder::new()
            .prefix("ferry-gnupg-")
            .tempdir()
            .map_err(|e| SigningError::Gpg(format!("creating a GnuPG home: {e}")))?;
        write_config(home.path(), key.passphrase.as_deref())
            .map_err(|e| SigningError::Gpg(format!("writing the GnuPG home: {e}")))?;
        let mut signer = Self {
            home,
            fingerprint: String::new(),
            timeout,
        };
        let import = signer.gpg(&["--import"], Some(&key.armored)).await?;
        if !import.success {
            return Err(SigningError::Import(import.diagnostics));
        }
        let listing = signer
            .gpg(&["--list-secret-keys", "--with-colons"], None)
            .await?;
        signer.fingerprint = first_secret_fingerprint(&listing.stdout)
            .ok_or(SigningError::NoSecretKey)?
            .to_owned();
        let probe = signer
            .gpg(
                &["--detach-sign", "--local-user", &signer.fingerprint],
                Some(b"ferry signing probe"),
            )
            .await?;
        if !probe.success {
            return Err(SigningError::Sign(probe.diagnostics));
        }
        Ok(signer)
    }

    /// The primary key's fingerprint (what `--gpg-sign=` names).
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The GnuPG home to hand to `git commit` as `GNUPGHOME`.
    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    async fn gpg(&self, args: &[&str], input: Option<&[u8]>) -> Result<GpgOutput, SigningError> {
        let mut command = tokio::process::Command::new("gpg");
        command
            .args(args)
            .env("GNUPGHOME", self.home.path())
            .env("LC_ALL", "C")
            .env_remove("GPG_AGENT_INFO")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = async {
            let mut child = command.spawn()?;
            if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
                stdin.write_all(data).await?;
            }
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| SigningError::Gpg(format!("gpg timed out after {:?}", self.timeout)))?
            .map_err(|e| SigningError::Gpg(e.to_string()))?;
        Ok(GpgOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            diagnostics: diagnostics(&String::from_utf8_lossy(&output.stderr)),
        })
    }
}

impl Drop for Signer {
    /// gpg starts an agent per home; stop it so no process outlives the run.
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

struct GpgOutput {
    success: bool,
    stdout: String,
    diagnostics: String,
}

/// `gpg.conf` for unattended use; the passphrase (if any) sits in a 0600 file next to it, so
/// it never appears in an argument list or environment.
fn write_config(home: &Path, passphrase: Option<&[u8]>) -> std::io::Result<()> {
    let mut config = String::from("batch\nno-tty\npinentry-mode loopback\n");
    if let Some(passphrase) = passphrase {
        let path = home.join("passphrase");
        write_private(&path, passphrase)?;
        config.push_str(&format!("passphrase-file {}\n", path.display()));
    }
    write_private(&home.join("gpg.conf"), config.as_bytes())
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(data)
}

/// The fingerprint of the first secret primary key in `gpg --with-colons` output.
fn first_secret_fingerprint(listing: &str) -> Option<&str> {
    let mut lines = listing.lines().skip_while(|l| !l.starts_with("sec:"));
    lines.next()?;
    lines
        .take_while(|l| !l.starts_with("sec:"))
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .filter(|f| !f.is_empty())
}

/// gpg's own messages (`gpg: …`), joined; status lines and key material are left out.
fn diagnostics(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("gpg: "))
        .map(str::trim)
        .collect();
    if lines.is_empty() {
        "gpg failed without a message".into()
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_fingerprint_is_the_primary_not_a_subkey() {
        let listing = "sec:u:255:22:AAAA:1::::::scSC:::+::ed25519:::0:\n\
                       fpr:::::::::PRIMARYFPR:\n\
                       grp:::::::::KEYGRIP:\n\
                       ssb:u:255:18:BBBB:1::::::e:::+::cv25519::\n\
                       fpr:::::::::SUBKEYFPR:\n";
        assert_eq!(first_secret_fingerprint(listing), Some("PRIMARYFPR"));
        assert_eq!(first_secret_fingerprint("pub:u:255:22:AAAA:1:\n"), None);
    }

    #[test]
    fn secret_parsing_needs_git_asc_and_debug_hides_the_passphrase() {
        let data = BTreeMap::from([
            (KEY_ENTRY.to_owned(), b"-----BEGIN PGP".to_vec()),
            (PASSPHRASE_ENTRY.to_owned(), b"hunter2".to_vec()),
        ]);
        let key = SigningKey::from_secret_data(&data).expect("key");
        assert!(!format!("{key:?}").contains("hunter2"));
        assert_eq!(
            SigningKey::from_secret_data(&BTreeMap::new()),
            Err(SigningError::MissingKey)
        );
    }
}
