//! Free loopback ports for servers that must be told their port up front.

use crate::error::{HarnessError, Result};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

/// Returns a port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
///
/// Another process may take it before the caller binds it; servers started with it retry on a
/// fresh port when they fail to come up.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to find a free port", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| HarnessError::io("reading the address of a bound port", e))?;
    Ok(addr.port())
}

/// The loopback socket address for `port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}
