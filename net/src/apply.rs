//! Putting an IPv4 configuration (a lease or a static `ip=`) on an interface and taking
//! it off again: address, routes and MTU, remembering exactly what sesame added so the
//! teardown removes that and nothing else. Which routes to install is a pure function
//! ([`route_specs`]); the rest is netlink.

use std::net::Ipv4Addr;

use rtnetlink::Handle;

use crate::dhcp::Route;
use crate::netlink::route::{Origin, RouteSpec};
use crate::netlink::{addr, errno, link, route};

/// Route metric of DHCP routes (systemd-networkd's), plus the interface index so two
/// interfaces' default routes never replace each other.
const DHCP_METRIC: u32 = 1024;
/// Static `ip=` routes win over DHCP ones.
const STATIC_METRIC: u32 = 512;

/// What to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub routes: Vec<Route>,
    pub mtu: Option<u32>,
    pub origin: Origin,
}

fn in_subnet(a: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(net) & mask
}

/// The routes to install for `t` on interface `index`: on-link ones first, then those
/// via a gateway; a gateway outside the address's subnet and outside every on-link
/// route is marked `onlink` (some providers hand out /32 addresses). The preferred
/// source is the configured address.
pub fn route_specs(index: u32, t: &Target) -> Vec<RouteSpec> {
    let metric = match t.origin {
        Origin::Dhcp => DHCP_METRIC,
        Origin::Boot => STATIC_METRIC,
    }
    .saturating_add(index);
    let spec = |r: &Route, onlink: bool| RouteSpec {
        index,
        dest: r.dest,
        prefix: r.prefix,
        gateway: r.gateway,
        onlink,
        metric,
        source: Some(t.address),
        origin: t.origin,
    };
    let on_link: Vec<&Route> = t.routes.iter().filter(|r| r.gateway.is_none()).collect();
    let mut out: Vec<RouteSpec> = on_link.iter().map(|r| spec(r, false)).collect();
    for r in t.routes.iter() {
        let Some(gw) = r.gateway else { continue };
        let reachable = in_subnet(gw, t.address, t.prefix)
            || on_link
                .iter()
                .any(|o| o.prefix > 0 && in_subnet(gw, o.dest, o.prefix));
        out.push(spec(r, !reachable));
    }
    out.dedup();
    out
}

/// What sesame put on one interface.
#[derive(Debug, Clone)]
pub struct Applied {
    pub index: u32,
    pub iface: String,
    pub address: Option<(Ipv4Addr, u8)>,
    pub routes: Vec<RouteSpec>,
    /// The link's MTU as far as sesame knows.
    pub mtu: Option<u32>,
    /// The MTU before sesame changed it.
    pub mtu_before: Option<u32>,
}

/// Counts for the teardown report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub addresses: usize,
    pub routes: usize,
}

fn gone(e: &rtnetlink::Error) -> bool {
    matches!(
        errno(e),
        Some(libc::ESRCH) | Some(libc::ENOENT) | Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV)
    )
}

impl Applied {
    pub fn new(index: u32, iface: &str, mtu: Option<u32>) -> Applied {
        Applied {
            index,
            iface: iface.to_string(),
            address: None,
            routes: Vec::new(),
            mtu,
            mtu_before: None,
        }
    }

    /// Makes the interface carry `t`, replacing what was applied before. Returns the
    /// failures (each one a sentence naming the interface); what could be applied is.
    pub async fn apply(&mut self, h: &Handle, t: &Target) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(mtu) = t.mtu.filter(|m| Some(*m) != self.mtu && *m >= 68) {
            match link::set_mtu(h, self.index, mtu).await {
                Ok(()) => {
                    self.mtu_before = self.mtu_before.or(self.mtu);
                    self.mtu = Some(mtu);
                    log::info!("net: {}: MTU {mtu}", self.iface);
                }
                Err(e) => errors.push(format!("{}: setting MTU {mtu}: {e}", self.iface)),
            }
        }
        let want = (t.address, t.prefix);
        if self.address != Some(want) {
            self.remove_routes(h, &[]).await;
            if let Some((a, p)) = self.address.take() {
                if let Err(e) = addr::del4(h, self.index, a, p).await {
                    if !gone(&e) {
                        errors.push(format!("{}: removing {a}/{p}: {e}", self.iface));
                    }
                }
            }
        }
        match addr::add4(h, self.index, t.address, t.prefix, t.broadcast).await {
            Ok(()) => self.address = Some(want),
            Err(e) => errors.push(format!(
                "{}: adding {}/{}: {e}",
                self.iface, t.address, t.prefix
            )),
        }
        let specs = route_specs(self.index, t);
        self.remove_routes(h, &specs).await;
        for r in &specs {
            match route::add(h, r).await {
                Ok(()) => {
                    if !self.routes.contains(r) {
                        self.routes.push(*r);
                    }
                }
                Err(e) => errors.push(format!("{}: adding route {r}: {e}", self.iface)),
            }
        }
        errors
    }

    /// Removes the routes sesame added that are not in `keep`.
    async fn remove_routes(&mut self, h: &Handle, keep: &[RouteSpec]) -> usize {
        let mut removed = 0;
        let old = std::mem::take(&mut self.routes);
        for r in old {
            if keep.contains(&r) {
                self.routes.push(r);
                continue;
            }
            match route::del(h, &r).await {
                Ok(()) => removed += 1,
                Err(e) if gone(&e) => {}
                Err(e) => log::warn!("net: {}: removing route {r}: {e}", self.iface),
            }
        }
        removed
    }

    /// Removes everything sesame added; restores the MTU if asked.
    pub async fn clear(&mut self, h: &Handle, restore_mtu: bool) -> Removed {
        let routes = self.remove_routes(h, &[]).await;
        let mut addresses = 0;
        if let Some((a, p)) = self.address.take() {
            match addr::del4(h, self.index, a, p).await {
                Ok(()) => addresses += 1,
                Err(e) if gone(&e) => {}
                Err(e) => log::warn!("net: {}: removing {a}/{p}: {e}", self.iface),
            }
        }
        if restore_mtu {
            if let Some(m) = self.mtu_before.take() {
                match link::set_mtu(h, self.index, m).await {
                    Ok(()) => self.mtu = Some(m),
                    Err(e) => log::warn!("net: {}: restoring MTU {m}: {e}", self.iface),
                }
            }
        }
        Removed { addresses, routes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(addr: [u8; 4], prefix: u8, routes: Vec<Route>) -> Target {
        Target {
            address: addr.into(),
            prefix,
            broadcast: None,
            routes,
            mtu: None,
            origin: Origin::Dhcp,
        }
    }

    fn r(dest: [u8; 4], prefix: u8, gw: Option<[u8; 4]>) -> Route {
        Route {
            dest: dest.into(),
            prefix,
            gateway: gw.map(Ipv4Addr::from),
        }
    }

    #[test]
    fn default_route_in_subnet() {
        let s = route_specs(
            2,
            &target([10, 0, 2, 15], 24, vec![r([0; 4], 0, Some([10, 0, 2, 2]))]),
        );
        assert_eq!(s.len(), 1);
        assert!(!s[0].onlink);
        assert_eq!(s[0].metric, 1026);
        assert_eq!(s[0].source, Some(Ipv4Addr::new(10, 0, 2, 15)));
        assert_eq!(s[0].to_string(), "default via 10.0.2.2 metric 1026");
    }

    #[test]
    fn slash_32_with_a_gateway_outside_is_onlink() {
        let s = route_specs(
            3,
            &target(
                [203, 0, 113, 7],
                32,
                vec![r([0; 4], 0, Some([203, 0, 113, 1]))],
            ),
        );
        assert!(s[0].onlink);
    }

    #[test]
    fn classless_on_link_routes_come_first_and_make_gateways_reachable() {
        let routes = vec![
            r([0; 4], 0, Some([10, 128, 0, 1])),
            r([10, 128, 0, 1], 32, None),
            r([192, 168, 0, 0], 16, Some([10, 0, 0, 9])),
        ];
        let s = route_specs(2, &target([10, 128, 0, 5], 32, routes));
        assert_eq!(s[0].gateway, None);
        assert_eq!(s[0].to_string(), "10.128.0.1/32 scope link metric 1026");
        assert_eq!(s[1].gateway, Some(Ipv4Addr::new(10, 128, 0, 1)));
        assert!(!s[1].onlink, "reachable through the on-link /32");
        assert!(s[2].onlink);
    }

    #[test]
    fn static_routes_have_their_own_metric() {
        let mut t = target([10, 0, 0, 2], 24, vec![r([0; 4], 0, Some([10, 0, 0, 1]))]);
        t.origin = Origin::Boot;
        assert_eq!(route_specs(2, &t)[0].metric, 514);
    }

    #[test]
    fn subnets() {
        assert!(in_subnet([10, 0, 2, 2].into(), [10, 0, 2, 15].into(), 24));
        assert!(!in_subnet([10, 0, 3, 2].into(), [10, 0, 2, 15].into(), 24));
        assert!(in_subnet([1, 2, 3, 4].into(), [9, 9, 9, 9].into(), 0));
        assert!(!in_subnet([10, 0, 2, 2].into(), [10, 0, 2, 15].into(), 32));
    }
}
