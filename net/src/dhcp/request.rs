//! Building the client's messages (DISCOVER, REQUEST in its four flavours, RELEASE)
//! with dhcproto's encoder. Pure.
//!
//! Messages start from a fixed 240-byte BOOTREQUEST decoded by dhcproto, not from
//! `Message::new`, which draws a random xid from rand's thread RNG: that calls
//! getrandom(2), which can block PID 1 until the kernel's CRNG is ready. The xid comes
//! from the client's own injected RNG instead.

use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use super::options;
use super::reply::MessageType;

/// Who the client says it is, in every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub mac: [u8; 6],
    /// Option 61's value: type 1 then the MAC, unless `ip=dhcp,<type>,<id>` said otherwise.
    pub client_id: Vec<u8>,
    /// Option 12, already checked to be a valid host name.
    pub hostname: Option<String>,
    /// Option 57: the largest reply the client accepts (the link MTU).
    pub max_message_size: u16,
}

impl Identity {
    /// The default identity for a MAC: client identifier type 1 + MAC.
    pub fn for_mac(mac: [u8; 6], hostname: Option<String>) -> Identity {
        let mut client_id = vec![1];
        client_id.extend_from_slice(&mac);
        Identity {
            mac,
            client_id,
            hostname: hostname.filter(|h| valid_hostname(h)),
            max_message_size: 1500,
        }
    }
}

/// A host name fit for option 12: 1–63 bytes of letters, digits and `-`, or a
/// dotted name of those (the first label is what most servers register).
pub fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What varies between the client's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: MessageType,
    pub xid: u32,
    /// Seconds since the exchange began.
    pub secs: u16,
    /// The client's address: set when renewing, rebinding and releasing.
    pub ciaddr: Ipv4Addr,
    /// Option 50: when selecting an offer and in INIT-REBOOT.
    pub requested: Option<Ipv4Addr>,
    /// Option 54: when selecting an offer and releasing.
    pub server_id: Option<Ipv4Addr>,
}

/// The options the client asks for (option 55).
pub const PARAMETER_LIST: &[u8] = &[
    options::SUBNET_MASK,
    options::ROUTER,
    options::DNS,
    options::HOSTNAME,
    options::DOMAIN_NAME,
    options::INTERFACE_MTU,
    options::BROADCAST,
    options::NTP,
    options::LEASE_TIME,
    options::SERVER_ID,
    options::RENEWAL_TIME,
    options::REBINDING_TIME,
    options::DOMAIN_SEARCH,
    options::CLASSLESS_ROUTES,
];

/// BOOTP's minimum message size; some old servers and relays drop shorter ones.
const MIN_LEN: usize = 300;

fn blank() -> Result<v4::Message, String> {
    let mut t = [0u8; 240];
    t[0] = 1; // BOOTREQUEST
    t[1] = 1; // Ethernet
    t[2] = 6;
    t[236..240].copy_from_slice(&[99, 130, 83, 99]);
    v4::Message::decode(&mut Decoder::new(&t)).map_err(|e| e.to_string())
}

fn dhcproto_type(kind: MessageType) -> v4::MessageType {
    match kind {
        MessageType::Discover => v4::MessageType::Discover,
        MessageType::Offer => v4::MessageType::Offer,
        MessageType::Request => v4::MessageType::Request,
        MessageType::Decline => v4::MessageType::Decline,
        MessageType::Ack => v4::MessageType::Ack,
        MessageType::Nak => v4::MessageType::Nak,
        MessageType::Release => v4::MessageType::Release,
        MessageType::Inform => v4::MessageType::Inform,
    }
}

/// Encodes one client message, padded to 300 bytes.
pub fn build(id: &Identity, req: &Request) -> Result<Vec<u8>, String> {
    let mut msg = blank()?;
    msg.set_xid(req.xid)
        .set_secs(req.secs)
        .set_ciaddr(req.ciaddr)
        .set_chaddr(&id.mac);
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(dhcproto_type(req.kind)));
    opts.insert(DhcpOption::ClientIdentifier(id.client_id.clone()));
    if let Some(ip) = req.requested {
        opts.insert(DhcpOption::RequestedIpAddress(ip));
    }
    if let Some(server) = req.server_id {
        opts.insert(DhcpOption::ServerIdentifier(server));
    }
    if req.kind != MessageType::Release && req.kind != MessageType::Decline {
        opts.insert(DhcpOption::MaxMessageSize(id.max_message_size.max(576)));
        opts.insert(DhcpOption::ParameterRequestList(
            PARAMETER_LIST
                .iter()
                .map(|&c| OptionCode::from(c))
                .collect(),
        ));
        if let Some(h) = &id.hostname {
            opts.insert(DhcpOption::Hostname(h.clone()));
        }
    }
    let mut bytes = msg.to_vec().map_err(|e| e.to_string())?;
    if bytes.len() < MIN_LEN {
        bytes.resize(MIN_LEN, 0);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity::for_mac([2, 0, 0, 0, 0, 9], Some("vault".into()))
    }

    #[test]
    fn discover_carries_identity_and_parameter_list() {
        let req = Request {
            kind: MessageType::Discover,
            xid: 7,
            secs: 3,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
        };
        let bytes = build(&id(), &req).unwrap();
        assert_eq!(bytes.len(), 300);
        let m = v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.xid(), 7);
        assert_eq!(m.secs(), 3);
        assert_eq!(m.opcode(), v4::Opcode::BootRequest);
        assert_eq!(&m.chaddr()[..6], &[2, 0, 0, 0, 0, 9]);
        assert!(!m.flags().broadcast(), "replies arrive on a raw socket");
        assert_eq!(m.opts().msg_type(), Some(v4::MessageType::Discover));
        assert_eq!(
            m.opts().get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(vec![1, 2, 0, 0, 0, 0, 9]))
        );
        assert_eq!(
            m.opts().get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname("vault".into()))
        );
        let Some(DhcpOption::ParameterRequestList(prl)) =
            m.opts().get(OptionCode::ParameterRequestList)
        else {
            panic!("no parameter request list")
        };
        assert!(prl.contains(&OptionCode::ClasslessStaticRoute));
        assert!(prl.contains(&OptionCode::DomainSearch));
    }

    #[test]
    fn release_is_short_and_names_the_server() {
        let req = Request {
            kind: MessageType::Release,
            xid: 9,
            secs: 0,
            ciaddr: Ipv4Addr::new(10, 0, 0, 5),
            requested: None,
            server_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
        };
        let bytes = build(&id(), &req).unwrap();
        let m = v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.ciaddr(), Ipv4Addr::new(10, 0, 0, 5));
        assert!(m.opts().get(OptionCode::Hostname).is_none());
        assert!(m.opts().get(OptionCode::ParameterRequestList).is_none());
        assert_eq!(
            m.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn hostnames() {
        assert!(valid_hostname("vault"));
        assert!(valid_hostname("vault.example.com"));
        assert!(!valid_hostname(""));
        assert!(!valid_hostname("-x"));
        assert!(!valid_hostname("a b"));
        assert!(!valid_hostname(&"a".repeat(64)));
        assert_eq!(
            Identity::for_mac([2; 6], Some("bad name".into())).hostname,
            None
        );
    }
}
