//! Waiting, with a bound, until a server accepts TCP connections.

use crate::error::{HarnessError, Result};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// How long servers get to start before the harness gives up.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until `addr` accepts a TCP connection, polling every 25 ms, for at most `limit`.
pub async fn wait_for_tcp(addr: SocketAddr, limit: Duration) -> Result<()> {
    wait_for_tcp_while(addr, limit, || Ok(())).await
}

/// Like [`wait_for_tcp`], but calls `still_alive` between attempts so a server that has
/// already exited fails fast with its own error instead of a timeout.
pub async fn wait_for_tcp_while(
    addr: SocketAddr,
    limit: Duration,
    mut still_alive: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        still_alive()?;
        if let Ok(Ok(_stream)) = timeout(Duration::from_millis(500), TcpStream::connect(addr)).await
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: format!("{addr} to accept connections"),
                timeout: limit,
            });
        }
        sleep(Duration::from_millis(25)).await;
    }
}
