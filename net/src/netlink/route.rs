//! IPv4 routes over rtnetlink, described by a [`RouteSpec`] so the same value adds
//! and later removes exactly the route sesame installed.

use std::net::Ipv4Addr;

use rtnetlink::packet_route::route::{RouteProtocol, RouteScope};
use rtnetlink::{Handle, RouteMessageBuilder};

/// Who installed a route, as `ip route` shows it (`proto dhcp`, `proto boot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    Dhcp,
    /// Static `ip=` (the kernel's own ipconfig uses "boot" too).
    Boot,
}

/// A route in the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    pub index: u32,
    pub dest: Ipv4Addr,
    pub prefix: u8,
    /// `None`: on-link (scope link).
    pub gateway: Option<Ipv4Addr>,
    /// The gateway is outside every connected subnet: skip the kernel's check.
    pub onlink: bool,
    pub metric: u32,
    pub source: Option<Ipv4Addr>,
    pub origin: Origin,
}

impl std::fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix == 0 {
            write!(f, "default")?;
        } else {
            write!(f, "{}/{}", self.dest, self.prefix)?;
        }
        match self.gateway {
            Some(g) => write!(f, " via {g}")?,
            None => write!(f, " scope link")?,
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        write!(f, " metric {}", self.metric)
    }
}

fn message(r: &RouteSpec) -> rtnetlink::packet_route::route::RouteMessage {
    let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(r.dest, r.prefix)
        .output_interface(r.index)
        .priority(r.metric)
        .protocol(match r.origin {
            Origin::Dhcp => RouteProtocol::Dhcp,
            Origin::Boot => RouteProtocol::Boot,
        });
    b = match r.gateway {
        Some(g) => b.gateway(g).scope(RouteScope::Universe),
        None => b.scope(RouteScope::Link),
    };
    if r.onlink {
        b = b.onlink();
    }
    if let Some(s) = r.source {
        b = b.pref_source(s);
    }
    b.build()
}

/// Adds or replaces the route.
pub async fn add(h: &Handle, r: &RouteSpec) -> Result<(), rtnetlink::Error> {
    h.route().add(message(r)).replace().execute().await
}

pub async fn del(h: &Handle, r: &RouteSpec) -> Result<(), rtnetlink::Error> {
    h.route().del(message(r)).execute().await
}
