//! [`NetStatus`]: the network as the `status` command shows it, kept current in a
//! watch channel (links, carrier, IPv4 and IPv6 addresses, who configured what, the
//! lease and its timers in CLOCK_MONOTONIC seconds).

use serde::Serialize;

use crate::dhcp::Lease;

#[derive(Debug, Clone, Default, Serialize)]
pub struct NetStatus {
    pub interfaces: Vec<IfaceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IfaceStatus {
    pub name: String,
    pub mac: String,
    pub operstate: String,
    pub carrier: bool,
    /// "10.0.2.15/24"
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    /// "dhcp" | "static" | "none"
    pub configured_by: String,
    pub lease: Option<LeaseStatus>,
}

/// A lease; the times are CLOCK_MONOTONIC seconds (`null` in JSON for an infinite
/// lease).
#[derive(Debug, Clone, Serialize)]
pub struct LeaseStatus {
    pub server: String,
    /// "10.0.2.15/24"
    pub address: String,
    pub router: Option<String>,
    pub dns: Vec<String>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    pub lease_secs: u32,
    pub obtained_at: f64,
    pub renew_at: f64,
    pub rebind_at: f64,
    pub expires_at: f64,
}

impl LeaseStatus {
    pub fn from_lease(l: &Lease) -> LeaseStatus {
        let secs = |t: Option<std::time::Duration>| t.map_or(f64::INFINITY, |d| d.as_secs_f64());
        LeaseStatus {
            server: l.server.to_string(),
            address: format!("{}/{}", l.address, l.prefix),
            router: l.gateway().map(|g| g.to_string()),
            dns: l.dns.iter().map(ToString::to_string).collect(),
            domain: l.domain.clone(),
            search: l.search.clone(),
            mtu: l.mtu,
            lease_secs: l.times.lease_secs,
            obtained_at: l.obtained_at.as_secs_f64(),
            renew_at: secs(l.renew_at()),
            rebind_at: secs(l.rebind_at()),
            expires_at: secs(l.expires_at()),
        }
    }
}
