//! A child server process that is killed and reaped on drop, with its output in a log file.

use crate::error::{HarnessError, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How many bytes of a server log go into an error message.
const LOG_TAIL_BYTES: usize = 4096;

/// A running server process; dropping it kills the process and waits for it.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl ServerProcess {
    /// Spawns `command` with standard output and error appended to `log_path`.
    pub fn spawn(name: impl Into<String>, mut command: Command, log_path: &Path) -> Result<Self> {
        let name = name.into();
        let log = File::create(log_path)
            .map_err(|e| HarnessError::io(format!("creating {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| HarnessError::io(format!("duplicating {}", log_path.display()), e))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| HarnessError::io(format!("starting {name}"), e))?;
        Ok(Self {
            name,
            child,
            log_path: log_path.to_owned(),
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Fails with [`HarnessError::ServerExited`] (carrying the log tail) if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(HarnessError::ServerExited {
                server: self.name.clone(),
                status: status.to_string(),
                log: self.log_tail(),
            }),
            Err(e) => Err(HarnessError::io(format!("polling {}", self.name), e)),
        }
    }

    /// The last few kilobytes of the process's output.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read(&self.log_path).unwrap_or_default();
        let start = log.len().saturating_sub(LOG_TAIL_BYTES);
        String::from_utf8_lossy(&log[start..]).into_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The process may already be gone; either way it must be reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
