//! [`NetEvent`]: what the network reports to `init` for console lines and the boot
//! timeline, as it happens.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// One step of the network's progress. `init` stamps them as they arrive; `Bound`
/// also says how long DHCP took from the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// sesame set the link up.
    LinkUp { iface: String },
    /// The link has a carrier (IFF_LOWER_UP).
    Carrier { iface: String },
    /// A DHCP lease was applied.
    Bound {
        iface: String,
        address: Ipv4Addr,
        prefix: u8,
        router: Option<Ipv4Addr>,
        dns: Vec<IpAddr>,
        lease_secs: u32,
        since_carrier: Duration,
    },
    /// The lease was renewed (or rebound, or confirmed after a carrier loss).
    Renewed { iface: String, lease_secs: u32 },
    /// The lease is gone and its address removed (expired, NAK, interface removed).
    /// A carrier loss alone keeps the lease (it is checked when the carrier returns).
    Lost { iface: String, reason: String },
    /// A static `ip=` configuration was applied.
    StaticApplied {
        iface: String,
        address: Ipv4Addr,
        prefix: u8,
    },
    /// Something failed; the network keeps trying what it can.
    Error {
        iface: Option<String>,
        message: String,
    },
}
