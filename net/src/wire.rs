//! IPv4 and UDP headers for the DHCP client's raw socket: building a datagram to send
//! before the interface has an address, and checking one received (version, header
//! checksum, no fragments, lengths, UDP checksum). Pure.

use std::fmt;
use std::net::Ipv4Addr;

const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
const PROTO_UDP: u8 = 17;

/// A UDP datagram read from an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Short,
    NotIpv4,
    BadHeaderChecksum,
    Fragment,
    NotUdp(u8),
    BadLength,
    BadUdpChecksum,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            WireError::Short => "packet too short",
            WireError::NotIpv4 => "not IPv4",
            WireError::BadHeaderChecksum => "bad IPv4 header checksum",
            WireError::Fragment => "IPv4 fragment",
            WireError::NotUdp(_) => "not UDP",
            WireError::BadLength => "inconsistent lengths",
            WireError::BadUdpChecksum => "bad UDP checksum",
        };
        f.write_str(s)
    }
}

/// The Internet checksum (RFC 1071) of `data`, continuing from `sum`.
fn fold(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u32 {
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = PROTO_UDP;
    p[10..12].copy_from_slice(&udp_len.to_be_bytes());
    fold(&p, 0)
}

/// An IPv4 packet (TTL 64, no options, not fragmented) carrying one UDP datagram,
/// both checksums filled in. `None` if the payload does not fit in an IPv4 packet.
pub fn build_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(UDP_HEADER + payload.len()).ok()?;
    let total = u16::try_from(IPV4_HEADER + usize::from(udp_len)).ok()?;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, PROTO_UDP, 0, 0]);
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let hsum = finish(fold(&p[..IPV4_HEADER], 0));
    p[10..12].copy_from_slice(&hsum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let usum = finish(fold(&p[IPV4_HEADER..], pseudo_header(src, dst, udp_len)));
    // 0 means "no checksum" in UDP; an all-ones sum is sent as 0xffff.
    let usum = if usum == 0 { 0xffff } else { usum };
    p[IPV4_HEADER + 6..IPV4_HEADER + 8].copy_from_slice(&usum.to_be_bytes());
    Some(p)
}

/// Reads an IPv4 packet carrying UDP. `check_udp_sum` is false when the kernel says
/// the checksum is not computed yet (offload: `TP_STATUS_CSUMNOTREADY`).
pub fn parse_udp(p: &[u8], check_udp_sum: bool) -> Result<Udp<'_>, WireError> {
    if p.len() < IPV4_HEADER {
        return Err(WireError::Short);
    }
    if p[0] >> 4 != 4 {
        return Err(WireError::NotIpv4);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < IPV4_HEADER || total < ihl + UDP_HEADER || total > p.len() {
        return Err(WireError::BadLength);
    }
    if finish(fold(&p[..ihl], 0)) != 0 {
        return Err(WireError::BadHeaderChecksum);
    }
    if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
        return Err(WireError::Fragment);
    }
    if p[9] != PROTO_UDP {
        return Err(WireError::NotUdp(p[9]));
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let u = &p[ihl..total];
    let udp_len = usize::from(u16::from_be_bytes([u[4], u[5]]));
    if udp_len < UDP_HEADER || udp_len > u.len() {
        return Err(WireError::BadLength);
    }
    let u = &u[..udp_len];
    let sum = u16::from_be_bytes([u[6], u[7]]);
    if check_udp_sum && sum != 0 {
        // `udp_len` fits in u16: it was read from one.
        let s = finish(fold(u, pseudo_header(src, dst, udp_len as u16)));
        if s != 0 {
            return Err(WireError::BadUdpChecksum);
        }
    }
    Ok(Udp {
        src,
        dst,
        sport: u16::from_be_bytes([u[0], u[1]]),
        dport: u16::from_be_bytes([u[2], u[3]]),
        payload: &u[UDP_HEADER..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    #[test]
    fn round_trip() {
        for n in [0usize, 1, 300, 1471] {
            let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let p =
                build_udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, &payload).unwrap();
            let u = parse_udp(&p, true).unwrap();
            assert_eq!(
                (u.src, u.dst, u.sport, u.dport),
                (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67)
            );
            assert_eq!(u.payload, &payload[..]);
        }
    }

    #[test]
    fn known_header_checksum() {
        // The classic example: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7.
        let h = [
            0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0,
            0xc7,
        ];
        assert_eq!(finish(fold(&h, 0)), 0xb861);
    }

    #[test]
    fn corrupt_packets_are_rejected() {
        let good = build_udp(A, Ipv4Addr::BROADCAST, 67, 68, b"hello").unwrap();
        let mut p = good.clone();
        p[15] ^= 1;
        assert_eq!(parse_udp(&p, true), Err(WireError::BadHeaderChecksum));
        let mut p = good.clone();
        let last = p.len() - 1;
        p[last] ^= 1;
        assert_eq!(parse_udp(&p, true), Err(WireError::BadUdpChecksum));
        assert!(
            parse_udp(&p, false).is_ok(),
            "checksum not ready: not checked"
        );
        assert_eq!(parse_udp(&good[..10], true), Err(WireError::Short));
        assert_eq!(
            parse_udp(&good[..good.len() - 1], true),
            Err(WireError::BadLength)
        );
        let mut p = good.clone();
        p[0] = 0x65;
        assert_eq!(parse_udp(&p, true), Err(WireError::NotIpv4));
        let mut p = good.clone();
        p[6] = 0x20; // MF
        assert!(parse_udp(&p, true).is_err());
        // A zero UDP checksum means "none".
        let mut p = good;
        p[26] = 0;
        p[27] = 0;
        assert!(parse_udp(&p, true).is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 7;
        for len in 0..200 {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let mut v2 = v.clone();
            if v2.len() > 20 {
                v2[0] = 0x45;
            }
            let _ = parse_udp(&v, true);
            let _ = parse_udp(&v2, true);
        }
    }
}
