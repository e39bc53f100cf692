//! Addresses over rtnetlink: listing them, reading an address message, adding and
//! removing the IPv4 addresses sesame configures.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::{AddressMessageBuilder, Handle};

/// One address of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrFacts {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Reads a RTM_NEWADDR/RTM_DELADDR message (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6).
pub fn facts(msg: &AddressMessage) -> Option<AddrFacts> {
    let mut address = None;
    let mut local = None;
    for a in &msg.attributes {
        match a {
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Local(ip) => local = Some(*ip),
            _ => {}
        }
    }
    Some(AddrFacts {
        index: msg.header.index,
        addr: local.or(address)?,
        prefix: msg.header.prefix_len,
    })
}

pub async fn dump(h: &Handle) -> Result<Vec<AddrFacts>, rtnetlink::Error> {
    let mut out = Vec::new();
    let mut s = h.address().get().execute();
    while let Some(m) = s.try_next().await? {
        out.extend(facts(&m));
    }
    Ok(out)
}

fn message(index: u32, addr: Ipv4Addr, prefix: u8) -> AddressMessage {
    AddressMessageBuilder::<Ipv4Addr>::new()
        .index(index)
        .address(addr, prefix)
        .build()
}

/// Adds (or refreshes) an IPv4 address; the broadcast address is derived from the
/// prefix unless given.
pub async fn add4(
    h: &Handle,
    index: u32,
    addr: Ipv4Addr,
    prefix: u8,
    broadcast: Option<Ipv4Addr>,
) -> Result<(), rtnetlink::Error> {
    let mut req = h.address().add(index, addr.into(), prefix).replace();
    if let Some(b) = broadcast {
        let m = req.message_mut();
        m.attributes
            .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    req.execute().await
}

pub async fn del4(
    h: &Handle,
    index: u32,
    addr: Ipv4Addr,
    prefix: u8,
) -> Result<(), rtnetlink::Error> {
    h.address()
        .del(message(index, addr, prefix))
        .execute()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_local_wins_over_peer_address() {
        let mut m = AddressMessage::default();
        m.header.index = 3;
        m.header.prefix_len = 24;
        m.attributes = vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))),
        ];
        assert_eq!(
            facts(&m),
            Some(AddrFacts {
                index: 3,
                addr: Ipv4Addr::new(10, 0, 0, 5).into(),
                prefix: 24
            })
        );
        m.attributes.clear();
        assert_eq!(facts(&m), None);
    }
}
