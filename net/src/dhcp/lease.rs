//! A lease: what a DHCPACK grants (address, prefix, routes, DNS, domain, search list,
//! MTU) and when it must be renewed, rebound and given up (T1, T2, expiry; RFC 2131
//! §4.4.5, defaults 0.5 and 0.875 of the lease). Pure; times are `Duration`s on the
//! caller's monotonic clock.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::options::{
    BROADCAST, CLASSLESS_ROUTES, DNS, DOMAIN_NAME, DOMAIN_SEARCH, INTERFACE_MTU, LEASE_TIME, NTP,
    REBINDING_TIME, RENEWAL_TIME, ROUTER, SUBNET_MASK,
};
use super::reply::Reply;
use super::routes::{decode_classless, effective_routes, Route};
use super::search::{decode_search, domain_name};

/// "Infinite" in option 51.
pub const INFINITE: u32 = u32::MAX;
/// Used when an ACK carries no lease time (RFC 2131 says it must).
pub const DEFAULT_LEASE_SECS: u32 = 3600;
/// Shorter leases are stretched to this, so a broken server cannot make the client
/// spin.
pub const MIN_LEASE_SECS: u32 = 30;

/// The three lease timers, in seconds from when the lease was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    /// [`INFINITE`] for a lease that never ends.
    pub lease_secs: u32,
    pub t1: u32,
    pub t2: u32,
}

impl LeaseTimes {
    /// T1 and T2 from options 58 and 59 when they are sane (0 < T1 < T2 < lease),
    /// else the RFC 2131 defaults.
    pub fn new(lease: Option<u32>, t1: Option<u32>, t2: Option<u32>) -> LeaseTimes {
        let lease = lease.unwrap_or(DEFAULT_LEASE_SECS);
        if lease == INFINITE {
            return LeaseTimes {
                lease_secs: INFINITE,
                t1: INFINITE,
                t2: INFINITE,
            };
        }
        let lease = lease.max(MIN_LEASE_SECS);
        let default_t2 = (u64::from(lease) * 7 / 8) as u32;
        let t2 = t2.filter(|&t| t > 0 && t < lease).unwrap_or(default_t2);
        let t1 = t1
            .filter(|&t| t > 0 && t < t2)
            .unwrap_or((lease / 2).min(t2));
        LeaseTimes {
            lease_secs: lease,
            t1,
            t2,
        }
    }

    pub fn infinite(&self) -> bool {
        self.lease_secs == INFINITE
    }
}

/// What an ACK granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// Option 54: where renewals go.
    pub server: Ipv4Addr,
    /// The routes to install: option 121, or a default route via the first router.
    pub routes: Vec<Route>,
    /// Option 3 as sent (informational when option 121 is present).
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    pub broadcast: Option<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    pub times: LeaseTimes,
    /// When the REQUEST that got this ACK was sent (lease times count from there).
    pub obtained_at: Duration,
    /// Parts of the ACK that were not used, for the log.
    pub warnings: Vec<String>,
}

/// Why an ACK or OFFER could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseError {
    BadAddress(Ipv4Addr),
    NoServerId,
    NoPrefix(Ipv4Addr),
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseError::BadAddress(a) => write!(f, "offered address {a} is not a host address"),
            LeaseError::NoServerId => write!(f, "no server identifier (option 54)"),
            LeaseError::NoPrefix(a) => write!(f, "no usable subnet mask for {a}"),
        }
    }
}

/// True for an address a host may take: not 0/8, loopback, multicast, broadcast or
/// class E.
pub fn host_address(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o != 0 && o != 127 && o < 224
}

fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn classful(a: Ipv4Addr) -> Option<u8> {
    match a.octets()[0] {
        0..=127 => Some(8),
        128..=191 => Some(16),
        192..=223 => Some(24),
        _ => None,
    }
}

impl Lease {
    /// Reads a lease from an ACK (or, to check an offer, an OFFER).
    pub fn from_reply(reply: &Reply, obtained_at: Duration) -> Result<Lease, LeaseError> {
        let o = &reply.options;
        let address = reply.yiaddr;
        if !host_address(address) {
            return Err(LeaseError::BadAddress(address));
        }
        let server = reply.server_id.ok_or(LeaseError::NoServerId)?;
        let mut warnings = Vec::new();
        let prefix = match o.ipv4(SUBNET_MASK).map(mask_to_prefix) {
            Some(Some(p)) if p <= 32 => p,
            other => {
                let p = classful(address).ok_or(LeaseError::NoPrefix(address))?;
                warnings.push(match other {
                    Some(_) => format!("subnet mask is not contiguous; using /{p}"),
                    None => format!("no subnet mask; using /{p} from the address class"),
                });
                p
            }
        };
        let routers: Vec<Ipv4Addr> = o
            .ipv4s(ROUTER)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| host_address(*r))
            .collect();
        let classless = match o.get(CLASSLESS_ROUTES).map(decode_classless) {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                warnings.push(format!("classless routes (option 121) ignored: {e}"));
                None
            }
            None => None,
        };
        let routes = effective_routes(classless.as_deref(), &routers);
        let dns = o
            .ipv4s(DNS)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !d.is_unspecified() && !d.is_broadcast() && !d.is_multicast())
            .collect();
        let domain = o.text(DOMAIN_NAME).and_then(domain_name);
        if o.has(DOMAIN_NAME) && domain.is_none() {
            warnings.push("domain name (option 15) ignored: not a valid domain".into());
        }
        let search = match o.get(DOMAIN_SEARCH).map(decode_search) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                warnings.push(format!("search list (option 119) ignored: {e}"));
                Vec::new()
            }
            None => Vec::new(),
        };
        let mtu = match o.u16(INTERFACE_MTU) {
            Some(m) if m >= 68 => Some(m),
            Some(m) => {
                warnings.push(format!("MTU {m} (option 26) ignored: below 68"));
                None
            }
            None => None,
        };
        let lease = o.u32(LEASE_TIME);
        if lease.is_none() {
            warnings.push(format!(
                "no lease time (option 51); assuming {DEFAULT_LEASE_SECS} s"
            ));
        } else if lease.is_some_and(|l| l < MIN_LEASE_SECS) {
            warnings.push(format!(
                "lease time below {MIN_LEASE_SECS} s; using {MIN_LEASE_SECS} s"
            ));
        }
        let times = LeaseTimes::new(lease, o.u32(RENEWAL_TIME), o.u32(REBINDING_TIME));
        Ok(Lease {
            address,
            prefix,
            server,
            routes,
            routers,
            dns,
            domain,
            search,
            mtu,
            broadcast: o.ipv4(BROADCAST),
            ntp: o.ipv4s(NTP).unwrap_or_default(),
            times,
            obtained_at,
            warnings,
        })
    }

    fn at(&self, secs: u32) -> Option<Duration> {
        (!self.times.infinite()).then(|| self.obtained_at + Duration::from_secs(secs.into()))
    }

    /// T1: when to start renewing (unicast to the server). `None`: never.
    pub fn renew_at(&self) -> Option<Duration> {
        self.at(self.times.t1)
    }

    /// T2: when to start rebinding (broadcast). `None`: never.
    pub fn rebind_at(&self) -> Option<Duration> {
        self.at(self.times.t2)
    }

    /// When the address must be given up. `None`: never.
    pub fn expires_at(&self) -> Option<Duration> {
        self.at(self.times.lease_secs)
    }

    /// The gateway of the default route, if the lease has one.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.routes
            .iter()
            .find(|r| r.is_default())
            .and_then(|r| r.gateway)
    }

    /// Same address and prefix: a renewal that changes nothing on the interface's
    /// address.
    pub fn same_address(&self, other: &Lease) -> bool {
        self.address == other.address && self.prefix == other.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::super::options::Options;
    use super::super::reply::MessageType;
    use super::*;

    fn ack(opts: &[u8]) -> Reply {
        Reply {
            kind: MessageType::Ack,
            xid: 1,
            chaddr: [2, 0, 0, 0, 0, 1],
            yiaddr: Ipv4Addr::new(10, 99, 0, 50),
            siaddr: Ipv4Addr::UNSPECIFIED,
            server_id: Some(Ipv4Addr::new(10, 99, 0, 1)),
            options: Options::read(opts, &[], &[]),
        }
    }

    const S: Duration = Duration::from_secs(1000);

    #[test]
    fn default_timers_are_half_and_seven_eighths() {
        let t = LeaseTimes::new(Some(120), None, None);
        assert_eq!((t.lease_secs, t.t1, t.t2), (120, 60, 105));
        let t = LeaseTimes::new(Some(86400), None, None);
        assert_eq!((t.t1, t.t2), (43200, 75600));
        let t = LeaseTimes::new(None, None, None);
        assert_eq!(t.lease_secs, DEFAULT_LEASE_SECS);
    }

    #[test]
    fn server_timers_used_when_sane() {
        let t = LeaseTimes::new(Some(600), Some(100), Some(400));
        assert_eq!((t.t1, t.t2), (100, 400));
        // T2 beyond the lease, T1 beyond T2, zeros: defaults.
        let t = LeaseTimes::new(Some(600), Some(500), Some(700));
        assert_eq!((t.t1, t.t2), (500, 525));
        let t = LeaseTimes::new(Some(600), Some(450), Some(400));
        assert_eq!((t.t1, t.t2), (300, 400));
        let t = LeaseTimes::new(Some(600), Some(0), Some(0));
        assert_eq!((t.t1, t.t2), (300, 525));
        // T2 given below the default T1: T1 cannot pass it.
        let t = LeaseTimes::new(Some(600), None, Some(200));
        assert_eq!((t.t1, t.t2), (200, 200));
    }

    #[test]
    fn tiny_and_infinite_leases() {
        let t = LeaseTimes::new(Some(1), None, None);
        assert_eq!(t.lease_secs, MIN_LEASE_SECS);
        let t = LeaseTimes::new(Some(INFINITE), Some(5), Some(6));
        assert!(t.infinite());
        let l = Lease::from_reply(&ack(&[51, 4, 255, 255, 255, 255]), S).unwrap();
        assert_eq!(
            (l.renew_at(), l.rebind_at(), l.expires_at()),
            (None, None, None)
        );
    }

    #[test]
    fn timers_count_from_when_the_request_was_sent() {
        let l = Lease::from_reply(&ack(&[51, 4, 0, 0, 0, 120]), S).unwrap();
        assert_eq!(l.renew_at(), Some(S + Duration::from_secs(60)));
        assert_eq!(l.rebind_at(), Some(S + Duration::from_secs(105)));
        assert_eq!(l.expires_at(), Some(S + Duration::from_secs(120)));
    }

    #[test]
    fn reads_everything_a_lease_can_carry() {
        let mut o = vec![
            1, 4, 255, 255, 255, 0, 3, 4, 10, 99, 0, 1, 6, 8, 10, 99, 0, 1, 9, 9, 9, 9,
        ];
        o.extend_from_slice(&[15, 4, b'c', b'o', b'r', b'p']);
        o.extend_from_slice(&[119, 5, 3, b'l', b'a', b'n', 0]);
        o.extend_from_slice(&[26, 2, 5, 220, 51, 4, 0, 0, 0, 120]);
        o.extend_from_slice(&[121, 6, 8, 10, 10, 99, 0, 2]);
        let l = Lease::from_reply(&ack(&o), S).unwrap();
        assert_eq!(l.prefix, 24);
        assert_eq!(l.routers, vec![Ipv4Addr::new(10, 99, 0, 1)]);
        assert_eq!(
            l.dns,
            vec![Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(9, 9, 9, 9)]
        );
        assert_eq!(l.domain.as_deref(), Some("corp"));
        assert_eq!(l.search, vec!["lan".to_string()]);
        assert_eq!(l.mtu, Some(1500));
        // Option 121 present: the router option gives no default route.
        assert_eq!(
            l.routes,
            vec![Route {
                dest: Ipv4Addr::new(10, 0, 0, 0),
                prefix: 8,
                gateway: Some(Ipv4Addr::new(10, 99, 0, 2))
            }]
        );
        assert_eq!(l.gateway(), None);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn junk_options_degrade_with_warnings() {
        let o = [
            1, 4, 255, 0, 255, 0, // non-contiguous mask
            121, 3, 40, 1, 2, // prefix > 32
            119, 2, 0xC0, 0, // pointer loop
            26, 2, 0, 10, // MTU 10
            15, 3, b'a', b'!', b'b', // bad domain
            3, 4, 10, 99, 0, 1,
        ];
        let l = Lease::from_reply(&ack(&o), S).unwrap();
        assert_eq!(l.prefix, 8, "classful fallback for 10/8");
        assert_eq!(l.gateway(), Some(Ipv4Addr::new(10, 99, 0, 1)));
        assert_eq!(l.mtu, None);
        assert!(l.search.is_empty() && l.domain.is_none());
        assert_eq!(l.warnings.len(), 6, "{:?}", l.warnings);
    }

    #[test]
    fn unusable_acks() {
        let mut r = ack(&[]);
        r.yiaddr = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            Lease::from_reply(&r, S),
            Err(LeaseError::BadAddress(Ipv4Addr::UNSPECIFIED))
        );
        let mut r = ack(&[]);
        r.yiaddr = Ipv4Addr::new(224, 0, 0, 1);
        assert!(Lease::from_reply(&r, S).is_err());
        let mut r = ack(&[]);
        r.server_id = None;
        assert_eq!(Lease::from_reply(&r, S), Err(LeaseError::NoServerId));
    }
}
