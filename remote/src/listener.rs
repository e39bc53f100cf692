//! The listening socket: `[::]:port` with IPV6_V6ONLY off, so one socket answers on every
//! IPv4 and IPv6 address the machine has now or gets later (no rebinding when DHCP comes
//! back). Falls back to `0.0.0.0:port` when the kernel has no IPv6. SO_REUSEADDR lets the
//! real system's sshd take the port right after switch_root.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use tokio::net::{TcpListener, TcpSocket};

const BACKLOG: u32 = 128;

/// Binds the port (0: the kernel picks one).
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    match bind_dual_stack(port) {
        Ok(l) => Ok(l),
        Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            log::info!("ssh: the kernel has no IPv6; listening on IPv4 only");
            let s = TcpSocket::new_v4()?;
            s.set_reuseaddr(true)?;
            s.bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
            s.listen(BACKLOG)
        }
        Err(e) => Err(e),
    }
}

fn bind_dual_stack(port: u16) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v6()?;
    set_v6only(&s, false)?;
    s.set_reuseaddr(true)?;
    s.bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))?;
    s.listen(BACKLOG)
}

fn set_v6only(s: &TcpSocket, on: bool) -> std::io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: a valid socket descriptor, a c_int option value and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_socket_answers_ipv4_and_ipv6() {
        let l = bind(0).unwrap();
        let port = l.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            for _ in 0..2 {
                l.accept().await.unwrap();
            }
        });
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        if std::net::TcpStream::connect(("::1", port)).is_ok() {
            accept.await.unwrap();
        }
    }
}
