//! The Kubernetes API emulator as its own `kube-emulator` process, so a benchmark can measure
//! its memory apart from the driver's.

use crate::error::{HarnessError, Result};
use crate::service::service_binary;
use crate::wait::STARTUP_TIMEOUT;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// A running `kube-emulator` child process; killed on drop.
pub struct EmulatorProcess {
    child: Child,
    url: String,
    kubeconfig: PathBuf,
}

impl EmulatorProcess {
    /// Starts the `kube-emulator` binary next to the running executable (so a release driver
    /// runs the release emulator), writing its kubeconfig into `dir`; `workload_delay` overrides
    /// how long its workload controllers take to report a rollout.
    pub async fn start(dir: &Path, workload_delay: Option<Duration>) -> Result<Self> {
        let kubeconfig = dir.join("kubeconfig");
        let mut command = Command::new(service_binary("kube-emulator"));
        if let Some(delay) = workload_delay {
            command.args(["--workload-delay-ms", &delay.as_millis().to_string()]);
        }
        let mut child = command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::io("starting kube-emulator", e))?;
        let stdout = child.stdout.take().ok_or_else(|| {
            HarnessError::Invalid("kube-emulator's standard output is not piped".into())
        })?;
        let mut lines = BufReader::new(stdout).lines();
        let first = timeout(STARTUP_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| HarnessError::Timeout {
                what: "kube-emulator's `listening on` line".into(),
                timeout: STARTUP_TIMEOUT,
            })?
            .map_err(|e| HarnessError::io("reading kube-emulator's output", e))?;
        let url = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening on "))
            .map(str::to_owned)
            .ok_or_else(|| HarnessError::ServerExited {
                server: "kube-emulator".into(),
                status: "no `listening on` line".into(),
                log: first.clone().unwrap_or_default(),
            })?;
        Ok(Self {
            child,
            url,
            kubeconfig,
        })
    }

    /// The API server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig file the emulator wrote.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
