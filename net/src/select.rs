//! Which links sesame configures, and how: a pure function of the configuration and
//! what netlink says about a link.
//!
//! - A link named by an `ip=` word gets that word (the first one naming it).
//! - Other links count only if they are physical Ethernet NICs (ARPHRD_ETHER and no
//!   IFLA_INFO_KIND: veth, bridges, bonds, VLANs, tun/tap and the like are left alone
//!   unless named). They get the first `ip=` word without a device: `ip=dhcp` (DHCP on
//!   each), `ip=auto6` (up only), or a static word without device (the first such NIC
//!   to get a carrier takes it).
//! - With no `ip=` at all and `default_dhcp`, every physical Ethernet NIC gets DHCP.
//! - Loopback is never configured here (it is only brought up).

use std::net::Ipv4Addr;

use crate::config::NetConfig;
use crate::ip::{ClientId, IpConfig, StaticIp};
use crate::netlink::link::LinkFacts;

/// DHCP on a link, with what its `ip=` word adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpParams {
    /// Option 12: the word's host name, else the configured one.
    pub hostname: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Name servers written in the word.
    pub dns: Vec<Ipv4Addr>,
    pub client_id: Option<ClientId>,
}

/// What sesame does with one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Dhcp(DhcpParams),
    Static(StaticIp),
    /// A static `ip=` without device: taken by the first NIC with a carrier.
    StaticCandidate(StaticIp),
    /// Bring the link up and leave it to the kernel (IPv6 autoconfiguration).
    UpOnly {
        mtu: Option<u32>,
        mac: Option<[u8; 6]>,
    },
}

impl Role {
    /// The MTU and MAC to set before the link goes up.
    pub fn link_settings(&self) -> (Option<u32>, Option<[u8; 6]>) {
        match self {
            Role::Dhcp(p) => (p.mtu, p.mac),
            Role::Static(s) | Role::StaticCandidate(s) => (s.mtu, s.mac),
            Role::UpOnly { mtu, mac } => (*mtu, *mac),
        }
    }
}

fn from_word(word: &IpConfig, cfg: &NetConfig, named: bool) -> Option<Role> {
    match word {
        IpConfig::Off => None,
        IpConfig::Dhcp {
            hostname,
            mtu,
            mac,
            dns,
            client_id,
            ..
        } => Some(Role::Dhcp(DhcpParams {
            hostname: hostname.clone().or_else(|| cfg.hostname.clone()),
            mtu: *mtu,
            mac: *mac,
            dns: dns.clone(),
            client_id: client_id.clone(),
        })),
        IpConfig::Static(s) if named => Some(Role::Static(s.clone())),
        IpConfig::Static(s) => Some(Role::StaticCandidate(s.clone())),
        IpConfig::Ipv6Auto { mtu, mac, .. } => Some(Role::UpOnly {
            mtu: *mtu,
            mac: *mac,
        }),
    }
}

/// The role of `link`, if sesame configures it.
pub fn role_for(cfg: &NetConfig, link: &LinkFacts) -> Option<Role> {
    if link.loopback {
        return None;
    }
    if let Some(word) = cfg.ip.iter().find(|w| w.dev() == Some(link.name.as_str())) {
        return from_word(word, cfg, true);
    }
    if !link.physical_ethernet() {
        return None;
    }
    if let Some(word) = cfg
        .ip
        .iter()
        .find(|w| w.dev().is_none() && !matches!(w, IpConfig::Off))
    {
        return from_word(word, cfg, false);
    }
    if cfg.ip.is_empty() && cfg.default_dhcp {
        return Some(Role::Dhcp(DhcpParams {
            hostname: cfg.hostname.clone(),
            mtu: None,
            mac: None,
            dns: Vec::new(),
            client_id: None,
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::parse_ip;

    fn cfg(words: &[&str], default_dhcp: bool) -> NetConfig {
        NetConfig {
            ip: words.iter().map(|w| parse_ip(w).unwrap()).collect(),
            nameservers: vec![],
            peerdns: true,
            ifnames: vec![],
            default_dhcp,
            hostname: Some("vault".into()),
            resolv_conf: "/etc/resolv.conf".into(),
        }
    }

    fn link(name: &str, kind: Option<&str>) -> LinkFacts {
        LinkFacts {
            index: 2,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, 1]),
            kind: kind.map(String::from),
            ether: true,
            loopback: false,
            up: false,
            carrier: false,
            operstate: "down".into(),
            mtu: Some(1500),
        }
    }

    fn lo() -> LinkFacts {
        LinkFacts {
            loopback: true,
            ether: false,
            ..link("lo", None)
        }
    }

    fn is_dhcp(r: Option<Role>) -> bool {
        matches!(r, Some(Role::Dhcp(_)))
    }

    #[test]
    fn default_dhcp_takes_physical_ethernet_only() {
        let c = cfg(&[], true);
        assert!(is_dhcp(role_for(&c, &link("eth0", None))));
        assert_eq!(role_for(&c, &link("veth0", Some("veth"))), None);
        assert_eq!(role_for(&c, &link("br0", Some("bridge"))), None);
        assert_eq!(role_for(&c, &lo()), None);
        assert_eq!(role_for(&cfg(&[], false), &link("eth0", None)), None);
    }

    #[test]
    fn named_words_win_and_reach_virtual_links() {
        let c = cfg(&["veth0:dhcp", "dhcp"], false);
        assert!(is_dhcp(role_for(&c, &link("veth0", Some("veth")))));
        assert!(is_dhcp(role_for(&c, &link("eth1", None))));
        assert_eq!(role_for(&c, &link("br0", Some("bridge"))), None);
        let c = cfg(&["10.0.0.2::10.0.0.1:24::eth0:none", "dhcp"], false);
        assert!(
            matches!(role_for(&c, &link("eth0", None)), Some(Role::Static(s)) if s.client == Ipv4Addr::new(10, 0, 0, 2))
        );
        assert!(is_dhcp(role_for(&c, &link("eth1", None))));
    }

    #[test]
    fn words_without_device() {
        let c = cfg(&["10.0.0.2::10.0.0.1:24:::none"], false);
        assert!(matches!(
            role_for(&c, &link("eth0", None)),
            Some(Role::StaticCandidate(_))
        ));
        let c = cfg(&["auto6"], false);
        assert!(matches!(
            role_for(&c, &link("eth0", None)),
            Some(Role::UpOnly { .. })
        ));
        let c = cfg(&["off"], true);
        assert_eq!(
            role_for(&c, &link("eth0", None)),
            None,
            "ip=off beats default_dhcp"
        );
        let c = cfg(&["eth1:dhcp"], true);
        assert_eq!(
            role_for(&c, &link("eth0", None)),
            None,
            "an ip= naming another device"
        );
    }

    #[test]
    fn hostname_from_the_word_or_the_config() {
        let c = cfg(&["dhcp"], false);
        let Some(Role::Dhcp(p)) = role_for(&c, &link("eth0", None)) else {
            panic!()
        };
        assert_eq!(p.hostname.as_deref(), Some("vault"));
        let c = cfg(&["::::box1:eth0:dhcp"], false);
        let Some(Role::Dhcp(p)) = role_for(&c, &link("eth0", None)) else {
            panic!()
        };
        assert_eq!(p.hostname.as_deref(), Some("box1"));
    }
}
