//! What may follow the autoconfiguration field of `ip=`: the kernel's and dracut's
//! `:<dns0>:<dns1>:<ntp>`, or dracut's `:<mtu>:<macaddr>`.

use std::net::Ipv4Addr;

use super::fields::{is_ipv6_literal, parse_ipv4, parse_mac};
use super::IpError;

/// What may follow the autoconf field.
#[derive(Debug, Default)]
pub(super) struct Tail {
    pub(super) dns: Vec<Ipv4Addr>,
    pub(super) ntp: Option<Ipv4Addr>,
    pub(super) mtu: Option<u32>,
    pub(super) mac: Option<[u8; 6]>,
}

impl Tail {
    pub(super) fn dns_with_ntp_ignored(&self, notes: &mut Vec<IpError>) -> Vec<Ipv4Addr> {
        if let Some(ntp) = self.ntp {
            notes.push(IpError::note(
                &ntp.to_string(),
                "an NTP server is only recorded for static configurations",
                "leave the field empty",
            ));
        }
        self.dns.clone()
    }

    pub(super) fn ignore_all(&self, notes: &mut Vec<IpError>, why: &str) {
        if !self.dns.is_empty() || self.ntp.is_some() || self.mtu.is_some() || self.mac.is_some() {
            notes.push(IpError::note(
                "the fields after the method",
                format!("they are not used: {why}"),
                "remove them",
            ));
        }
    }
}

/// `:<dns0>:<dns1>:<ntp>` (a field with a dot comes first) or `:<mtu>:<mac>`.
pub(super) fn parse_tail(tail: &[&str], notes: &mut Vec<IpError>) -> Tail {
    let mut out = Tail::default();
    let Some(&first) = tail.first() else {
        return out;
    };
    let addressy = |f: &str| f.contains('.') || f.starts_with('[') || is_ipv6_literal(f);
    if addressy(first) || (first.is_empty() && tail.get(1).is_some_and(|f| addressy(f))) {
        for (i, &f) in tail.iter().enumerate() {
            if f.is_empty() {
                continue;
            }
            if i > 2 {
                notes.push(IpError::note(
                    f,
                    "nothing is expected after <dns0>:<dns1>:<ntp>",
                    "remove the extra fields",
                ));
                continue;
            }
            if is_ipv6_literal(f) {
                let bare = f.trim_start_matches('[').trim_end_matches(']');
                notes.push(IpError::note(
                    f,
                    "IPv6 name servers are not taken from ip=",
                    format!("write nameserver={bare}"),
                ));
                continue;
            }
            match parse_ipv4(f) {
                Ok(a) if i == 2 => out.ntp = Some(a),
                Ok(a) => out.dns.push(a),
                Err(reason) => notes.push(IpError::note(
                    f,
                    reason,
                    "after the method come <dns0>:<dns1>:<ntp> as IPv4 addresses",
                )),
            }
        }
        return out;
    }
    if !first.is_empty() {
        match first.parse::<u32>() {
            Ok(mtu) if (68..=65535).contains(&mtu) => out.mtu = Some(mtu),
            _ => notes.push(IpError::note(
                first,
                "not an MTU (a number from 68 to 65535)",
                "after the method comes :<mtu>:<macaddr> or :<dns0>:<dns1>",
            )),
        }
    }
    if tail.len() > 1 {
        let mac = tail[1..].join(":");
        match parse_mac(&mac) {
            Some(m) => out.mac = Some(m),
            None => notes.push(IpError::note(
                &mac,
                "not a MAC address",
                "write it as 52:54:00:12:34:56",
            )),
        }
    }
    out
}
