//! Reading a message from a DHCP server: the fixed BOOTP header, the magic cookie and
//! the options, into a [`Reply`]. Pure; anything malformed is an error, never a panic.
//!
//! dhcproto's decoder is not used for what comes off the wire: it stops at the first
//! option it cannot decode and silently drops the rest (a truncated option 121 loses the
//! lease time after it), and some of its option decoders `debug_assert!` on lengths.
//! This reader keeps raw option bytes and leaves their meaning to [`super::lease`].

use std::fmt;
use std::net::Ipv4Addr;

use super::options::{Options, MESSAGE_TYPE, SERVER_ID};

const BOOTREPLY: u8 = 2;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
const HEADER_LEN: usize = 240;

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

impl MessageType {
    pub fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }

    pub fn from_code(code: u8) -> Option<MessageType> {
        Some(match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            MessageType::Discover => "DHCPDISCOVER",
            MessageType::Offer => "DHCPOFFER",
            MessageType::Request => "DHCPREQUEST",
            MessageType::Decline => "DHCPDECLINE",
            MessageType::Ack => "DHCPACK",
            MessageType::Nak => "DHCPNAK",
            MessageType::Release => "DHCPRELEASE",
            MessageType::Inform => "DHCPINFORM",
        };
        f.write_str(name)
    }
}

/// A message from a server, header checked, options read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: MessageType,
    pub xid: u32,
    /// The first six bytes of `chaddr`.
    pub chaddr: [u8; 6],
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    /// Option 54, when present and well formed.
    pub server_id: Option<Ipv4Addr>,
    pub options: Options,
}

/// Why a received message was not a usable server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    TooShort(usize),
    NotAReply(u8),
    NotEthernet,
    BadMagic,
    NoMessageType,
    UnknownMessageType(u8),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::TooShort(n) => write!(f, "{n} bytes is too short for DHCP"),
            ReplyError::NotAReply(op) => write!(f, "op {op} is not BOOTREPLY"),
            ReplyError::NotEthernet => write!(f, "hardware type is not Ethernet"),
            ReplyError::BadMagic => write!(f, "no DHCP magic cookie"),
            ReplyError::NoMessageType => write!(f, "no DHCP message type (plain BOOTP)"),
            ReplyError::UnknownMessageType(t) => write!(f, "unknown DHCP message type {t}"),
        }
    }
}

/// Reads a UDP payload from port 67.
pub fn parse_reply(buf: &[u8]) -> Result<Reply, ReplyError> {
    if buf.len() < HEADER_LEN {
        return Err(ReplyError::TooShort(buf.len()));
    }
    if buf[0] != BOOTREPLY {
        return Err(ReplyError::NotAReply(buf[0]));
    }
    if buf[1] != 1 || buf[2] != 6 {
        return Err(ReplyError::NotEthernet);
    }
    if buf[236..240] != MAGIC {
        return Err(ReplyError::BadMagic);
    }
    let ip = |at: usize| Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
    let xid = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(&buf[28..34]);
    let options = Options::read(&buf[HEADER_LEN..], &buf[108..236], &buf[44..108]);
    let code = options.u8(MESSAGE_TYPE).ok_or(ReplyError::NoMessageType)?;
    let kind = MessageType::from_code(code).ok_or(ReplyError::UnknownMessageType(code))?;
    Ok(Reply {
        kind,
        xid,
        chaddr,
        yiaddr: ip(16),
        siaddr: ip(20),
        server_id: options.ipv4(SERVER_ID),
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m[0] = 2;
        m[1] = 1;
        m[2] = 6;
        m[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        m[16..20].copy_from_slice(&[10, 0, 0, 5]);
        m[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        m[236..240].copy_from_slice(&MAGIC);
        m
    }

    #[test]
    fn reads_an_offer() {
        let mut m = header();
        m.extend_from_slice(&[53, 1, 2, 54, 4, 10, 0, 0, 1, 255]);
        let r = parse_reply(&m).unwrap();
        assert_eq!(r.kind, MessageType::Offer);
        assert_eq!(r.xid, 0x1234_5678);
        assert_eq!(r.chaddr, [2, 0, 0, 0, 0, 1]);
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn rejects_what_is_not_a_dhcp_reply() {
        assert_eq!(parse_reply(&[2; 100]), Err(ReplyError::TooShort(100)));
        let mut m = header();
        m[0] = 1;
        assert_eq!(parse_reply(&m), Err(ReplyError::NotAReply(1)));
        let mut m = header();
        m[2] = 16;
        assert_eq!(parse_reply(&m), Err(ReplyError::NotEthernet));
        let mut m = header();
        m[239] = 0;
        assert_eq!(parse_reply(&m), Err(ReplyError::BadMagic));
        let m = header();
        assert_eq!(parse_reply(&m), Err(ReplyError::NoMessageType));
        let mut m = header();
        m.extend_from_slice(&[53, 1, 42]);
        assert_eq!(parse_reply(&m), Err(ReplyError::UnknownMessageType(42)));
        let mut m = header();
        m.extend_from_slice(&[53, 2, 2, 2]);
        assert_eq!(parse_reply(&m), Err(ReplyError::NoMessageType));
    }
}
