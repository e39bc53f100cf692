//! What `init` asks of the network ([`NetConfig`]), from the kernel command line.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::ip::{IfName, IpConfig};

/// The network configuration, as `init` gathers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// `ip=` words in order; empty = no `ip=` given.
    pub ip: Vec<IpConfig>,
    /// `nameserver=`.
    pub nameservers: Vec<IpAddr>,
    /// `rd.peerdns` (default true): use the name servers DHCP offers.
    pub peerdns: bool,
    /// `ifname=<name>:<mac>` renames, applied before anything else.
    pub ifnames: Vec<IfName>,
    /// When `ip` is empty: DHCP on every Ethernet link that gets carrier.
    pub default_dhcp: bool,
    /// Sent in DHCP (option 12) unless an `ip=` host field says otherwise.
    pub hostname: Option<String>,
    /// Normally `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
}
