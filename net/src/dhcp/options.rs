//! The DHCP options area of a received message, read as raw bytes per option code:
//! pad and end, long options split over several instances concatenated (RFC 3396), and
//! the `file`/`sname` fields reused for options when option 52 (overload) says so.
//! Typed accessors on top never panic; a malformed option reads as absent.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub const PAD: u8 = 0;
pub const SUBNET_MASK: u8 = 1;
pub const ROUTER: u8 = 3;
pub const DNS: u8 = 6;
pub const HOSTNAME: u8 = 12;
pub const DOMAIN_NAME: u8 = 15;
pub const INTERFACE_MTU: u8 = 26;
pub const BROADCAST: u8 = 28;
pub const NTP: u8 = 42;
pub const REQUESTED_IP: u8 = 50;
pub const LEASE_TIME: u8 = 51;
pub const OVERLOAD: u8 = 52;
pub const MESSAGE_TYPE: u8 = 53;
pub const SERVER_ID: u8 = 54;
pub const PARAMETER_LIST: u8 = 55;
pub const MESSAGE: u8 = 56;
pub const MAX_MESSAGE_SIZE: u8 = 57;
pub const RENEWAL_TIME: u8 = 58;
pub const REBINDING_TIME: u8 = 59;
pub const CLIENT_ID: u8 = 61;
pub const DOMAIN_SEARCH: u8 = 119;
pub const CLASSLESS_ROUTES: u8 = 121;
pub const END: u8 = 255;

/// The options of one message: code → value, instances of one code concatenated in
/// the order they appeared (options area, then `file`, then `sname`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    map: BTreeMap<u8, Vec<u8>>,
}

impl Options {
    /// Reads the options area and, when option 52 asks for it, the `file` (1) and
    /// `sname` (2) fields. Stops at `END` or at a truncated option (what came before
    /// is kept).
    pub fn read(area: &[u8], file: &[u8], sname: &[u8]) -> Options {
        let mut opts = Options::default();
        opts.read_area(area);
        // RFC 2131 §4.1: the overload option is only honoured in the options area.
        let overload = opts.u8(OVERLOAD).unwrap_or(0);
        if overload & 1 != 0 {
            opts.read_area(file);
        }
        if overload & 2 != 0 {
            opts.read_area(sname);
        }
        opts
    }

    fn read_area(&mut self, area: &[u8]) {
        let mut i = 0;
        while let Some(&code) = area.get(i) {
            match code {
                PAD => i += 1,
                END => break,
                _ => {
                    let Some(&len) = area.get(i + 1) else { break };
                    let start = i + 2;
                    let end = start + usize::from(len);
                    let Some(value) = area.get(start..end) else {
                        break;
                    };
                    self.map.entry(code).or_default().extend_from_slice(value);
                    i = end;
                }
            }
        }
    }

    /// The raw value of an option.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.map.get(&code).map(Vec::as_slice)
    }

    pub fn has(&self, code: u8) -> bool {
        self.map.contains_key(&code)
    }

    pub fn u8(&self, code: u8) -> Option<u8> {
        match self.get(code)? {
            [b] => Some(*b),
            _ => None,
        }
    }

    pub fn u16(&self, code: u8) -> Option<u16> {
        let b: [u8; 2] = self.get(code)?.try_into().ok()?;
        Some(u16::from_be_bytes(b))
    }

    pub fn u32(&self, code: u8) -> Option<u32> {
        let b: [u8; 4] = self.get(code)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    pub fn ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        let b: [u8; 4] = self.get(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// A list of IPv4 addresses; `None` when absent, empty, or not a multiple of 4.
    pub fn ipv4s(&self, code: u8) -> Option<Vec<Ipv4Addr>> {
        let v = self.get(code)?;
        if v.is_empty() || v.len() % 4 != 0 {
            return None;
        }
        Some(
            v.chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect(),
        )
    }

    /// Text with trailing NULs removed (some servers send them); `None` unless UTF-8.
    pub fn text(&self, code: u8) -> Option<&str> {
        let v = self.get(code)?;
        let end = v.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        std::str::from_utf8(&v[..end]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_pads_and_end() {
        let area = [0, 0, 53, 1, 2, 54, 4, 10, 0, 0, 1, 255, 51, 4, 0, 0, 0, 1];
        let o = Options::read(&area, &[], &[]);
        assert_eq!(o.u8(MESSAGE_TYPE), Some(2));
        assert_eq!(o.ipv4(SERVER_ID), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(!o.has(LEASE_TIME), "options after END are not read");
    }

    #[test]
    fn concatenates_split_options_rfc3396() {
        let area = [6, 4, 1, 1, 1, 1, 3, 4, 9, 9, 9, 9, 6, 4, 8, 8, 8, 8, 255];
        let o = Options::read(&area, &[], &[]);
        assert_eq!(
            o.ipv4s(DNS),
            Some(vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)])
        );
    }

    #[test]
    fn truncated_option_keeps_what_came_before() {
        let area = [53, 1, 5, 51, 4, 0, 0];
        let o = Options::read(&area, &[], &[]);
        assert_eq!(o.u8(MESSAGE_TYPE), Some(5));
        assert!(!o.has(LEASE_TIME));
        let o = Options::read(&[53], &[], &[]);
        assert!(!o.has(MESSAGE_TYPE));
    }

    #[test]
    fn overload_reads_file_then_sname() {
        let area = [52, 1, 3, 53, 1, 5, 255];
        let mut file = [0u8; 128];
        file[..6].copy_from_slice(&[15, 3, b'a', b'b', b'c', 255]);
        let mut sname = [0u8; 64];
        sname[..4].copy_from_slice(&[15, 2, b'.', b'd']);
        sname[61..].copy_from_slice(&[26, 2, 5]);
        let o = Options::read(&area, &file, &sname);
        assert_eq!(o.text(DOMAIN_NAME), Some("abc.d"));
        assert_eq!(o.u16(INTERFACE_MTU), None, "truncated MTU is absent");
        // Without overload, file/sname are not options.
        let o = Options::read(&[53, 1, 5, 255], &file, &sname);
        assert!(!o.has(DOMAIN_NAME));
    }

    #[test]
    fn typed_accessors_reject_wrong_lengths() {
        let area = [51, 3, 0, 0, 1, 1, 2, 0, 0, 6, 5, 1, 2, 3, 4, 5, 12, 0, 255];
        let o = Options::read(&area, &[], &[]);
        assert_eq!(o.u32(LEASE_TIME), None);
        assert_eq!(o.ipv4(SUBNET_MASK), None);
        assert_eq!(o.ipv4s(DNS), None);
        assert_eq!(o.text(HOSTNAME), Some(""));
        assert_eq!(o.ipv4s(ROUTER), None);
    }

    #[test]
    fn text_strips_trailing_nuls() {
        let o = Options::read(&[15, 5, b'l', b'a', b'n', 0, 0], &[], &[]);
        assert_eq!(o.text(DOMAIN_NAME), Some("lan"));
    }
}
