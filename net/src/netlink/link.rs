//! Links over rtnetlink: listing them, reading a link message into [`LinkFacts`], and
//! setting up/down, name, MTU and MAC address.

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, State,
};
use rtnetlink::{Handle, LinkUnspec};

/// What sesame needs to know about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFacts {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    /// IFLA_INFO_KIND: "veth", "bridge", "vlan", …; `None` for hardware NICs.
    pub kind: Option<String>,
    /// ARPHRD_ETHER.
    pub ether: bool,
    pub loopback: bool,
    /// IFF_UP (administratively up).
    pub up: bool,
    /// IFF_LOWER_UP: the carrier.
    pub carrier: bool,
    /// IFLA_OPERSTATE, lower case ("up", "down", "lowerlayerdown", "unknown", …).
    pub operstate: String,
    pub mtu: Option<u32>,
}

impl LinkFacts {
    /// A physical Ethernet NIC: Ethernet link type and no link kind. Virtual devices
    /// (veth, bridge, bond, vlan, macvlan, tun/tap, dummy, wireguard …) all carry an
    /// IFLA_INFO_KIND; drivers of real hardware do not. This needs no sysfs.
    pub fn physical_ethernet(&self) -> bool {
        self.ether && !self.loopback && self.kind.is_none()
    }
}

fn operstate_name(s: &State) -> String {
    match s {
        State::Unknown => "unknown".into(),
        State::NotPresent => "notpresent".into(),
        State::Down => "down".into(),
        State::LowerLayerDown => "lowerlayerdown".into(),
        State::Testing => "testing".into(),
        State::Dormant => "dormant".into(),
        State::Up => "up".into(),
        State::Other(n) => format!("state-{n}"),
        _ => "unknown".into(),
    }
}

/// Reads a RTM_NEWLINK message.
pub fn facts(msg: &LinkMessage) -> LinkFacts {
    let mut f = LinkFacts {
        index: msg.header.index,
        name: String::new(),
        mac: None,
        kind: None,
        ether: msg.header.link_layer_type == LinkLayerType::Ether,
        loopback: msg.header.flags.contains(LinkFlags::Loopback)
            || msg.header.link_layer_type == LinkLayerType::Loopback,
        up: msg.header.flags.contains(LinkFlags::Up),
        carrier: msg.header.flags.contains(LinkFlags::LowerUp),
        operstate: "unknown".into(),
        mtu: None,
    };
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => f.name = n.clone(),
            LinkAttribute::Address(m) => f.mac = m.as_slice().try_into().ok(),
            LinkAttribute::OperState(s) => f.operstate = operstate_name(s),
            LinkAttribute::Mtu(m) => f.mtu = Some(*m),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        f.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    f
}

/// Every link now.
pub async fn dump(h: &Handle) -> Result<Vec<LinkFacts>, rtnetlink::Error> {
    let mut links = Vec::new();
    let mut s = h.link().get().execute();
    while let Some(m) = s.try_next().await? {
        links.push(facts(&m));
    }
    Ok(links)
}

pub async fn set_up(h: &Handle, index: u32, up: bool) -> Result<(), rtnetlink::Error> {
    let b = LinkUnspec::new_with_index(index);
    let msg = if up { b.up().build() } else { b.down().build() };
    h.link().set(msg).execute().await
}

pub async fn rename(h: &Handle, index: u32, name: &str) -> Result<(), rtnetlink::Error> {
    let msg = LinkUnspec::new_with_index(index).name(name).build();
    h.link().set(msg).execute().await
}

pub async fn set_mtu(h: &Handle, index: u32, mtu: u32) -> Result<(), rtnetlink::Error> {
    let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
    h.link().set(msg).execute().await
}

pub async fn set_mac(h: &Handle, index: u32, mac: [u8; 6]) -> Result<(), rtnetlink::Error> {
    let msg = LinkUnspec::new_with_index(index)
        .address(mac.to_vec())
        .build();
    h.link().set(msg).execute().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::InfoKind;

    fn msg(flags: LinkFlags, kind: Option<InfoKind>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = 2;
        m.header.link_layer_type = LinkLayerType::Ether;
        m.header.flags = flags;
        m.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Address(vec![0x52, 0x54, 0, 0x12, 0x34, 0x56]),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Mtu(1500),
        ];
        if let Some(k) = kind {
            m.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(k)]));
        }
        m
    }

    #[test]
    fn reads_a_physical_nic_with_carrier() {
        let f = facts(&msg(LinkFlags::Up | LinkFlags::LowerUp, None));
        assert_eq!(f.name, "eth0");
        assert_eq!(f.mac, Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert!(f.up && f.carrier && f.physical_ethernet());
        assert_eq!(f.operstate, "up");
        assert_eq!(f.mtu, Some(1500));
    }

    #[test]
    fn virtual_links_and_no_carrier() {
        let f = facts(&msg(LinkFlags::Up, Some(InfoKind::Veth)));
        assert!(!f.carrier);
        assert_eq!(f.kind.as_deref(), Some("veth"));
        assert!(!f.physical_ethernet());
        let mut m = msg(LinkFlags::Up | LinkFlags::Loopback, None);
        m.header.link_layer_type = LinkLayerType::Loopback;
        assert!(!facts(&m).physical_ethernet());
    }
}
