//! Option 121, classless static routes (RFC 3442): decoding, and the choice between it
//! and option 3 (routers). Pure.

use std::fmt;
use std::net::Ipv4Addr;

/// One IPv4 route from a lease or a static configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub dest: Ipv4Addr,
    pub prefix: u8,
    /// `None`: on-link (RFC 3442's router 0.0.0.0), no gateway.
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    pub fn is_default(&self) -> bool {
        self.prefix == 0
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == 0 {
            write!(f, "default")?;
        } else {
            write!(f, "{}/{}", self.dest, self.prefix)?;
        }
        match self.gateway {
            Some(g) => write!(f, " via {g}"),
            None => write!(f, " on-link"),
        }
    }
}

/// Why an option 121 value was not used (the whole option is then ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClasslessError {
    Truncated { at: usize },
    PrefixTooLong { at: usize, width: u8 },
}

impl fmt::Display for ClasslessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClasslessError::Truncated { at } => write!(f, "route at byte {at} is truncated"),
            ClasslessError::PrefixTooLong { at, width } => {
                write!(f, "route at byte {at} has prefix length {width} (> 32)")
            }
        }
    }
}

/// Decodes option 121: a list of (width, significant destination octets, router).
/// Destination bits beyond the width are cleared, as RFC 3442 says they must be
/// ignored. Any malformed entry rejects the whole option.
pub fn decode_classless(data: &[u8]) -> Result<Vec<Route>, ClasslessError> {
    let mut routes = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let at = i;
        let width = data[i];
        if width > 32 {
            return Err(ClasslessError::PrefixTooLong { at, width });
        }
        let sig = usize::from(width).div_ceil(8);
        let dest_bytes = data
            .get(i + 1..i + 1 + sig)
            .ok_or(ClasslessError::Truncated { at })?;
        let gw: [u8; 4] = data
            .get(i + 1 + sig..i + 5 + sig)
            .and_then(|g| g.try_into().ok())
            .ok_or(ClasslessError::Truncated { at })?;
        let mut dest = [0u8; 4];
        dest[..sig].copy_from_slice(dest_bytes);
        let mask = u32::MAX.checked_shl(32 - u32::from(width)).unwrap_or(0);
        let dest = Ipv4Addr::from(u32::from_be_bytes(dest) & mask);
        let gateway = Some(Ipv4Addr::from(gw)).filter(|g| !g.is_unspecified());
        routes.push(Route {
            dest,
            prefix: width,
            gateway,
        });
        i += 5 + sig;
    }
    Ok(routes)
}

/// The routes a lease asks for: option 121 when present and valid (the router option
/// is then ignored, RFC 3442 §"DHCP Client Behavior"), else a default route via the
/// first router of option 3.
pub fn effective_routes(classless: Option<&[Route]>, routers: &[Ipv4Addr]) -> Vec<Route> {
    match classless {
        Some(r) if !r.is_empty() => r.to_vec(),
        _ => routers
            .iter()
            .find(|r| !r.is_unspecified())
            .map(|&g| Route {
                dest: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
                gateway: Some(g),
            })
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dest: [u8; 4], prefix: u8, gw: [u8; 4]) -> Route {
        Route {
            dest: dest.into(),
            prefix,
            gateway: Some(gw.into()).filter(|g: &Ipv4Addr| !g.is_unspecified()),
        }
    }

    #[test]
    fn rfc3442_encoding_examples() {
        // The table of RFC 3442 §"Encoding", each followed by router 10.0.0.1.
        let cases: &[(&[u8], [u8; 4], u8)] = &[
            (&[0], [0, 0, 0, 0], 0),
            (&[8, 10], [10, 0, 0, 0], 8),
            (&[24, 10, 0, 0], [10, 0, 0, 0], 24),
            (&[16, 10, 17], [10, 17, 0, 0], 16),
            (&[24, 10, 27, 129], [10, 27, 129, 0], 24),
            (&[25, 10, 229, 0, 128], [10, 229, 0, 128], 25),
            (&[32, 10, 198, 122, 47], [10, 198, 122, 47], 32),
        ];
        let mut all = Vec::new();
        let mut expected = Vec::new();
        for (enc, dest, prefix) in cases {
            let mut v = enc.to_vec();
            v.extend_from_slice(&[10, 0, 0, 1]);
            assert_eq!(
                decode_classless(&v),
                Ok(vec![r(*dest, *prefix, [10, 0, 0, 1])])
            );
            all.extend_from_slice(&v);
            expected.push(r(*dest, *prefix, [10, 0, 0, 1]));
        }
        assert_eq!(decode_classless(&all), Ok(expected));
    }

    #[test]
    fn on_link_routes_and_bits_beyond_width() {
        // 10.99.0.0/24 on-link, then default via 10.99.0.1; 10.17.255/20 masked.
        let v = [
            24, 10, 99, 0, 0, 0, 0, 0, 0, 10, 99, 0, 1, 20, 10, 17, 255, 1, 2, 3, 4,
        ];
        assert_eq!(
            decode_classless(&v),
            Ok(vec![
                r([10, 99, 0, 0], 24, [0, 0, 0, 0]),
                r([0, 0, 0, 0], 0, [10, 99, 0, 1]),
                r([10, 17, 240, 0], 20, [1, 2, 3, 4]),
            ])
        );
    }

    #[test]
    fn malformed_is_rejected_whole() {
        assert_eq!(
            decode_classless(&[33, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(ClasslessError::PrefixTooLong { at: 0, width: 33 })
        );
        assert_eq!(
            decode_classless(&[8, 10, 1, 2, 3, 4, 255]),
            Err(ClasslessError::PrefixTooLong { at: 6, width: 255 })
        );
        // Truncated in the destination, in the router, after a good route.
        assert_eq!(
            decode_classless(&[24, 10]),
            Err(ClasslessError::Truncated { at: 0 })
        );
        assert_eq!(
            decode_classless(&[0, 10, 0]),
            Err(ClasslessError::Truncated { at: 0 })
        );
        assert_eq!(
            decode_classless(&[0, 10, 0, 0, 1, 8]),
            Err(ClasslessError::Truncated { at: 5 })
        );
        assert_eq!(decode_classless(&[]), Ok(vec![]));
    }

    #[test]
    fn classless_wins_over_routers() {
        let routers = [Ipv4Addr::new(192, 168, 1, 1)];
        let cl = [r([10, 0, 0, 0], 8, [192, 168, 1, 254])];
        assert_eq!(effective_routes(Some(&cl), &routers), cl.to_vec());
        assert_eq!(
            effective_routes(None, &routers),
            vec![r([0, 0, 0, 0], 0, [192, 168, 1, 1])]
        );
        assert_eq!(
            effective_routes(Some(&[]), &routers),
            vec![r([0, 0, 0, 0], 0, [192, 168, 1, 1])]
        );
        assert_eq!(effective_routes(None, &[Ipv4Addr::UNSPECIFIED]), vec![]);
    }
}
