//! Free TCP ports on the loopback address, for QEMU's host forwards.

use std::net::{Ipv4Addr, TcpListener};

use anyhow::{Context, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read the port the
/// kernel chose, close the listener. Another process can take it before QEMU does; the
/// VM start retries with a new port when QEMU says the forward failed.
pub fn free_loopback_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(l.local_addr().context("reading the bound address")?.port())
}

#[cfg(test)]
mod tests {
    #[test]
    fn gives_a_port() {
        let p = super::free_loopback_port().unwrap();
        assert_ne!(p, 0);
        std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
    }
}
