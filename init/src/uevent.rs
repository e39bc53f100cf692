//! Kernel uevents (netlink `NETLINK_KOBJECT_UEVENT`): devices that appear after boot
//! (a NIC or a disk hot-plugged, a device-mapper node created). A thread reads the socket
//! and broadcasts each parsed event; whoever cares subscribes (the module loader for
//! `MODALIAS`, the block-device watcher for `SUBSYSTEM=block`).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use anyhow::{Context, Result};
use nix::sys::socket::{
    bind, recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use tokio::sync::broadcast;

/// One kernel uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub action: String,
    pub devpath: String,
    pub env: BTreeMap<String, String>,
}

impl sesame_storage::wait::DeviceEvent for Uevent {
    fn may_change_block_devices(&self) -> bool {
        self.subsystem() == Some("block") || self.action == "overflow"
    }
}

impl Uevent {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }
    pub fn subsystem(&self) -> Option<&str> {
        self.get("SUBSYSTEM")
    }
    pub fn modalias(&self) -> Option<&str> {
        self.get("MODALIAS")
    }
    pub fn devname(&self) -> Option<&str> {
        self.get("DEVNAME")
    }
}

/// Parses one datagram: `action@devpath\0KEY=VALUE\0…`. udev's re-broadcasts (which start
/// with `libudev`) and anything malformed give None.
pub fn parse(datagram: &[u8]) -> Option<Uevent> {
    let mut parts = datagram.split(|&b| b == 0).filter(|p| !p.is_empty());
    let head = std::str::from_utf8(parts.next()?).ok()?;
    let (action, devpath) = head.split_once('@')?;
    if action.is_empty() || !devpath.starts_with('/') {
        return None;
    }
    let mut env = BTreeMap::new();
    for part in parts {
        let Ok(text) = std::str::from_utf8(part) else {
            continue;
        };
        if let Some((k, v)) = text.split_once('=') {
            if !k.is_empty() {
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    if env.get("ACTION").is_some_and(|a| a != action) {
        return None;
    }
    Some(Uevent {
        action: action.to_string(),
        devpath: devpath.to_string(),
        env,
    })
}

/// Opens the uevent socket and starts the reader thread. Open it before coldplug so no
/// device slips between the sysfs scan and the first event.
pub fn listen() -> Result<broadcast::Sender<Arc<Uevent>>> {
    let fd = open_socket().context("opening the kernel uevent socket")?;
    let (tx, _) = broadcast::channel(1024);
    let sender = tx.clone();
    std::thread::Builder::new()
        .name("uevent".into())
        .spawn(move || read_loop(fd, sender))
        .context("starting the uevent thread")?;
    Ok(tx)
}

fn open_socket() -> nix::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkKObjectUEvent,
    )?;
    // A coldplug storm can queue many events; as root the buffer may exceed rmem_max.
    let _ = setsockopt(&fd, sockopt::RcvBufForce, &(4 << 20));
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 1))?;
    Ok(fd)
}

fn read_loop(fd: OwnedFd, tx: broadcast::Sender<Arc<Uevent>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) => {
                if let Some(ev) = parse(&buf[..n]) {
                    // No receivers is fine: nobody is waiting right now.
                    let _ = tx.send(Arc::new(ev));
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::ENOBUFS) => {
                log::warn!("uevents were lost (socket buffer full); devices are rescanned");
                let _ = tx.send(Arc::new(Uevent {
                    action: "overflow".into(),
                    devpath: "/".into(),
                    env: BTreeMap::new(),
                }));
            }
            Err(e) => {
                log::error!("uevent socket failed: {e}; hot-plugged devices will be missed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_events_parse() {
        let msg = b"add@/devices/pci0000:00/0000:00:03.0/virtio1/block/vda\0ACTION=add\0\
DEVPATH=/devices/pci0000:00/0000:00:03.0/virtio1/block/vda\0SUBSYSTEM=block\0MAJOR=254\0\
MINOR=0\0DEVNAME=vda\0DEVTYPE=disk\0SEQNUM=1234\0";
        let ev = parse(msg).unwrap();
        assert_eq!(ev.action, "add");
        assert_eq!(ev.subsystem(), Some("block"));
        assert_eq!(ev.devname(), Some("vda"));
        assert_eq!(ev.get("MAJOR"), Some("254"));
        assert_eq!(ev.modalias(), None);
    }

    #[test]
    fn malformed_and_udev_events_are_dropped() {
        assert!(parse(b"").is_none());
        assert!(parse(b"\0\0").is_none());
        assert!(parse(b"libudev\0\xfe\xed\xca\xfe").is_none());
        assert!(parse(b"add@\0ACTION=add").is_none());
        assert!(parse(b"@/devices/x\0").is_none());
        assert!(parse(b"add@/devices/x\0ACTION=remove\0").is_none());
        let ev = parse(b"change@/devices/x\0\xff\xfe\0=v\0NOEQUALS\0K=v=w\0").unwrap();
        assert_eq!(ev.env.len(), 1);
        assert_eq!(ev.get("K"), Some("v=w"));
    }
}
