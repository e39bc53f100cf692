//! The DHCP client's sockets on one interface.
//!
//! - [`PacketSocket`]: AF_PACKET/SOCK_DGRAM bound to the interface for IPv4, with a
//!   classic BPF filter passing only unfragmented UDP to port 68. It receives replies
//!   before the interface has an address (broadcast or unicast to the offered address),
//!   and sends broadcasts from 0.0.0.0 with IP/UDP headers built by `crate::wire`. The
//!   kernel's PACKET_AUXDATA says when a checksum is not computed yet (offload, veth).
//! - [`udp_socket`]: a UDP socket on 0.0.0.0:68 bound to the interface, for unicast
//!   renewals once an address exists (the kernel routes and resolves the server), and
//!   so the kernel does not answer the server's unicast replies with ICMP "port
//!   unreachable". What it receives is drained and dropped: the packet socket sees it.
//!
//! Both need CAP_NET_RAW / CAP_NET_BIND_SERVICE (PID 1 has them).

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// ETH_P_IP in network byte order, as AF_PACKET wants it.
const ETH_P_IP_BE: u16 = (libc::ETH_P_IP as u16).to_be();

/// `ldb [9]; jeq #17; ldh [6]; jset #0x3fff; ldxb 4*([0]&0xf); ldh [x+2]; jeq #68;
/// ret #262144; ret #0`: UDP, not a fragment, destination port 68.
const FILTER: [libc::sock_filter; 9] = [
    bpf(0x30, 0, 0, 9),
    bpf(0x15, 0, 6, 17),
    bpf(0x28, 0, 0, 6),
    bpf(0x45, 4, 0, 0x3fff),
    bpf(0xb1, 0, 0, 0),
    bpf(0x48, 0, 0, 2),
    bpf(0x15, 0, 1, 68),
    bpf(0x06, 0, 0, 0x0004_0000),
    bpf(0x06, 0, 0, 0),
];

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// One received frame's metadata.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    /// The kernel has not filled in the checksum (it was offloaded): do not check it.
    pub csum_not_ready: bool,
    /// Sent by this host (not a reply).
    pub outgoing: bool,
}

/// An AF_PACKET socket on one interface, for IPv4 UDP to port 68.
pub struct PacketSocket {
    fd: AsyncFd<OwnedFd>,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens the socket. The filter is attached before the socket is bound to a
    /// protocol, so nothing unfiltered is ever queued.
    pub fn open(ifindex: u32) -> io::Result<PacketSocket> {
        let ifindex =
            i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: plain syscall; the fd is owned right after.
        let raw = check(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let prog = libc::sock_fprog {
            len: FILTER.len() as u16,
            filter: FILTER.as_ptr().cast_mut(),
        };
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
        let one: libc::c_int = 1;
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_AUXDATA, &one)?;
        // SAFETY: sockaddr_ll is plain data; zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_IP_BE;
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        check(unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // SAFETY: the OwnedFd is valid and moves into the AsyncFd, which closes it last.
        let fd = unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)?
        };
        Ok(PacketSocket { fd, ifindex })
    }

    /// Receives one IPv4 packet (from its IP header on).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_aux(fd.get_ref().as_raw_fd(), buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends an IPv4 packet to the Ethernet broadcast address.
    pub async fn send_broadcast(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: plain data; zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_IP_BE;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        loop {
            let mut guard = self.fd.writable().await?;
            let r = guard.try_io(|fd| {
                // SAFETY: `packet` and `sll` are valid for the lengths passed.
                let n = unsafe {
                    libc::sendto(
                        fd.get_ref().as_raw_fd(),
                        packet.as_ptr().cast(),
                        packet.len(),
                        0,
                        (&sll as *const libc::sockaddr_ll).cast(),
                        size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match r {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// recvmsg with PACKET_AUXDATA.
fn recv_aux(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // Room for one cmsg carrying a tpacket_auxdata, u64-aligned.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data; zero is valid.
    let mut from: libc::sockaddr_ll = unsafe { zeroed() };
    // SAFETY: plain data; zero is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>() as _;
    // SAFETY: every pointer in `msg` is valid for the lengths it carries.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut csum_not_ready = false;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // `msg_controllen`; the auxdata is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                csum_not_ready = aux.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    // MSG_TRUNC: `n` is the full length; a truncated packet is cut to the buffer.
    let len = (n as usize).min(buf.len());
    Ok(Received {
        len,
        csum_not_ready,
        outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
    })
}

/// A UDP socket on 0.0.0.0:68 bound to the interface (SO_BINDTOIFINDEX), broadcast
/// allowed.
pub fn udp_socket(ifindex: u32) -> io::Result<tokio::net::UdpSocket> {
    // SAFETY: plain syscall; the fd is owned right after.
    let raw = check(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let one: libc::c_int = 1;
    setsockopt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)?;
    setsockopt(raw, libc::SOL_SOCKET, libc::SO_BROADCAST, &one)?;
    let idx = i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    setsockopt(raw, libc::SOL_SOCKET, libc::SO_BINDTOIFINDEX, &idx)?;
    // SAFETY: plain data; zero is valid (0.0.0.0).
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = 68u16.to_be();
    // SAFETY: `sin` is a valid sockaddr_in of the size passed.
    check(unsafe {
        libc::bind(
            raw,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd))
}
