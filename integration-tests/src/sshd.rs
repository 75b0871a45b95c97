//! A local OpenSSH server (Debian's `openssh-server`) on a random loopback port, serving bare
//! repositories through `git-upload-pack` by absolute path, with a temporary host key and one
//! authorized client key.
//!
//! It runs as the current user with its own `-f` config in a temporary directory (`-D -e`,
//! `StrictModes no`, `UsePAM no`), so it never touches the system's sshd. Running as root,
//! OpenSSH insists on its privilege-separation directory `/run/sshd`; it is created when
//! missing (as the Debian package's service unit does).

use crate::error::{HarnessError, Result, require_binary};
use crate::ports::{free_port, loopback};
use crate::process::ServerProcess;
use crate::wait::{STARTUP_TIMEOUT, wait_for_tcp_while};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// How many fresh ports to try when another process takes the chosen one first.
const ATTEMPTS: usize = 3;

/// An SSH key pair in OpenSSH format.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key (`-----BEGIN OPENSSH PRIVATE KEY-----…`).
    pub private: String,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    pub public: String,
}

/// `sshd -D -e` on a random loopback port; dropping it kills the server and removes its files.
#[derive(Debug)]
pub struct Sshd {
    process: ServerProcess,
    port: u16,
    dir: TempDir,
    root: TempDir,
    user: String,
    host_public: String,
    client: KeyPair,
}

impl Sshd {
    /// Starts the server with a fresh host key and a fresh authorized client key.
    pub async fn start() -> Result<Self> {
        let sshd = sshd_path()?;
        require_binary("ssh-keygen", "openssh-client")?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-sshd-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the sshd directory", e))?;
        let root = tempfile::Builder::new()
            .prefix("ferry-sshd-root-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the sshd repository root", e))?;
        let host = generate_key(&dir.path().join("host_key")).await?;
        let client = generate_key(&dir.path().join("client_key")).await?;
        let authorized = dir.path().join("authorized_keys");
        write_file(&authorized, &client.public)?;
        let user = current_user().await?;
        if is_root() {
            std::fs::create_dir_all("/run/sshd")
                .map_err(|e| HarnessError::io("creating /run/sshd", e))?;
        }
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            let port = free_port()?;
            let config = dir.path().join("sshd_config");
            write_file(
                &config,
                &format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\n\
                     StrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nPidFile none\nAllowUsers {user}\n\
                     LogLevel VERBOSE\n",
                    host = dir.path().join("host_key").display(),
                    auth = authorized.display(),
                ),
            )?;
            let mut command = std::process::Command::new(&sshd);
            command.arg("-D").arg("-e").arg("-f").arg(&config);
            let log = dir.path().join(format!("sshd-{attempt}.log"));
            let mut process = ServerProcess::spawn("sshd", command, &log)?;
            match wait_for_tcp_while(loopback(port), STARTUP_TIMEOUT, || process.check_alive())
                .await
            {
                Ok(()) => {
                    return Ok(Self {
                        process,
                        port,
                        dir,
                        root,
                        user,
                        host_public: host.public,
                        client,
                    });
                }
                Err(error @ HarnessError::ServerExited { .. }) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| HarnessError::Invalid("sshd never started".into())))
    }

    /// The directory for bare repositories; `<root>/<name>` is at [`url_for`](Self::url_for).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name the server lets in (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// `ssh://<user>@127.0.0.1:<port>/<absolute path of root/repo>`.
    pub fn url_for(&self, repo: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.root
                .path()
                .join(repo.trim_start_matches('/'))
                .display()
        )
    }

    /// The authorized client key.
    pub fn client_key(&self) -> &KeyPair {
        &self.client
    }

    /// A `known_hosts` line for this server (`[127.0.0.1]:<port> <type> <key>`).
    pub fn known_hosts(&self) -> String {
        let mut parts = self.host_public.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        let key = parts.next().unwrap_or_default();
        format!("[127.0.0.1]:{} {kind} {key}\n", self.port)
    }

    /// A fresh key pair that the server does not accept.
    pub async fn unauthorized_key(&self) -> Result<KeyPair> {
        let path = self.dir.path().join(format!("other_key_{}", uuid_like()));
        generate_key(&path).await
    }

    /// The server's output so far.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

fn sshd_path() -> Result<PathBuf> {
    for candidate in ["/usr/sbin/sshd", "/usr/local/sbin/sshd"] {
        let path = Path::new(candidate);
        if crate::error::is_executable(path) {
            return Ok(path.to_owned());
        }
    }
    require_binary("sshd", "openssh-server")
}

async fn generate_key(path: &Path) -> Result<KeyPair> {
    let output = tokio::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test", "-f"])
        .arg(path)
        .output()
        .await
        .map_err(|e| HarnessError::io("running ssh-keygen", e))?;
    if !output.status.success() {
        return Err(HarnessError::CommandFailed {
            command: "ssh-keygen".into(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| HarnessError::io(format!("reading {}", p.display()), e))
    };
    Ok(KeyPair {
        private: read(path)?,
        public: read(&path.with_extension("pub"))?,
    })
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
}

async fn current_user() -> Result<String> {
    let output = tokio::process::Command::new("id")
        .arg("-un")
        .output()
        .await
        .map_err(|e| HarnessError::io("running id -un", e))?;
    let user = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if user.is_empty() {
        return Err(HarnessError::Invalid("the current user has no name".into()));
    }
    Ok(user)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
