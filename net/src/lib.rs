//! sesame-net owns the network of the initramfs: the `ip=` family of boot parameters
//! (parsed as pure functions in [`ip`]), links, addresses and routes over netlink, the
//! DHCPv4 client (a pure state machine in [`dhcp`], driven by a thin socket layer) and
//! `/etc/resolv.conf` ([`resolv`]). It knows nothing of LUKS or SSH.
//!
//! `init` calls [`start`] (which returns at once), follows the [`NetEvent`]s, shows the
//! [`NetStatus`] and calls [`NetHandle::shutdown`] before switch_root. Everything runs
//! as tasks on the caller's tokio runtime (a current-thread runtime is fine); file
//! writes go to `spawn_blocking`. It needs CAP_NET_ADMIN (netlink), CAP_NET_RAW
//! (AF_PACKET), CAP_NET_BIND_SERVICE (UDP port 68) and, for a static `ip=` host name,
//! CAP_SYS_ADMIN (sethostname): PID 1 has them all. No sysfs, procfs or sysctl is used.
//!
//! Layout: `manager` follows netlink events and decides per link (`select`),
//! `iface` runs one DHCP client per link, `apply` puts a lease or a static
//! configuration on a link and takes it off, `netlink` and `rawsock` are the syscalls,
//! `wire` the IPv4/UDP headers.

mod apply;
mod clock;
mod config;
pub mod dhcp;
mod error;
mod event;
mod handle;
mod iface;
pub mod ip;
mod manager;
mod netlink;
mod rawsock;
pub mod resolv;
mod select;
mod status;
pub mod wire;

pub use config::NetConfig;
pub use error::NetError;
pub use event::NetEvent;
pub use handle::{start, NetHandle, TeardownReport};
pub use status::{IfaceStatus, LeaseStatus, NetStatus};
