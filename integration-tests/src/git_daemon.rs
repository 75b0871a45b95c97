//! A `git daemon` serving a temporary root of bare repositories over `git://`.

use crate::error::{HarnessError, Result};
use crate::git_repo::require_git;
use crate::ports::{free_port, loopback};
use crate::process::ServerProcess;
use crate::wait::{STARTUP_TIMEOUT, wait_for_tcp_while};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// How many fresh ports to try when another process takes the chosen one first.
const ATTEMPTS: usize = 3;

/// `git daemon --export-all --enable=receive-pack` on a random loopback port, serving the bare
/// repositories under a temporary root. Dropping it kills the daemon and removes the root.
#[derive(Debug)]
pub struct GitDaemon {
    // Field order matters: the process is killed before the root is removed.
    process: ServerProcess,
    port: u16,
    root: TempDir,
    _logs: TempDir,
}

impl GitDaemon {
    /// Starts the daemon with an empty root and waits until it accepts connections.
    pub async fn start() -> Result<Self> {
        let daemon = daemon_path()?;
        let root = tempfile::Builder::new()
            .prefix("ferry-git-daemon-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the git daemon root", e))?;
        let logs = tempfile::Builder::new()
            .prefix("ferry-git-daemon-log-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the git daemon log directory", e))?;
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            let port = free_port()?;
            let mut command = std::process::Command::new(&daemon);
            command
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .arg("--export-all")
                .arg(format!("--base-path={}", root.path().display()))
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg("--reuseaddr")
                .arg("--enable=receive-pack")
                .arg("--informative-errors")
                .arg(root.path());
            let log = logs.path().join(format!("daemon-{attempt}.log"));
            let mut process = ServerProcess::spawn("git daemon", command, &log)?;
            match wait_for_tcp_while(loopback(port), STARTUP_TIMEOUT, || process.check_alive())
                .await
            {
                Ok(()) => {
                    return Ok(Self {
                        process,
                        port,
                        root,
                        _logs: logs,
                    });
                }
                Err(error @ HarnessError::ServerExited { .. }) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| HarnessError::Invalid("git daemon never started".into())))
    }

    /// The directory whose bare repositories are served; `<root>/<name>` is served at
    /// [`url_for(name)`](Self::url_for).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The port the daemon listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the repository `<root>/<repo>`: `git://127.0.0.1:<port>/<repo>`.
    pub fn url_for(&self, repo: &str) -> String {
        format!(
            "git://127.0.0.1:{}/{}",
            self.port,
            repo.trim_start_matches('/')
        )
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

fn daemon_path() -> Result<PathBuf> {
    require_git()?;
    let output = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .map_err(|e| HarnessError::io("running git --exec-path", e))?;
    let exec_path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let daemon = Path::new(&exec_path).join("git-daemon");
    if output.status.success() && crate::error::is_executable(&daemon) {
        Ok(daemon)
    } else {
        Err(HarnessError::MissingBinary {
            binary: "git-daemon".into(),
            package: "git".into(),
        })
    }
}
