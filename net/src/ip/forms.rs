//! The shapes of an `ip=` value: the keyword alone, `<dev>:<method>[:…]`, the kernel's
//! `dhcp,<client-id>`, and the long `<client>:<peer>:<gw>:<mask>:<host>:<dev>:<method>[:…]`
//! form, with the decisions described in the parent module.

use std::net::Ipv4Addr;

use super::fields::{
    check_hostname, check_ifname, classful_prefix, is_ipv6_literal, looks_like_ifname, parse_ipv4,
    parse_ipv4_prefixed, parse_mask, split_fields,
};
use super::methods::{is_method, parse_autoconf, Method};
use super::tail::parse_tail;
use super::{show, Autoconf, ClientId, IpConfig, IpError, StaticIp};

const FORMS: &str = "write ip=dhcp, ip=<dev>:dhcp, or \
    ip=<client>::<gateway>:<netmask>:<hostname>:<dev>:none";

pub(super) fn parse(value: &str, notes: &mut Vec<IpError>) -> Result<IpConfig, IpError> {
    if value.trim().is_empty() {
        return Err(IpError::new("ip= is empty", FORMS));
    }
    if let Some(rest) = strip_prefix_ci(value, "dhcp,") {
        if !is_method(rest.split(',').next().unwrap_or("")) {
            return Ok(dhcp_with_client_id(rest, notes));
        }
    }
    let bare = value.split('/').next().unwrap_or(value);
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(ipv6_static(value));
    }
    let fields = split_fields(value);
    let first = fields.first().copied().unwrap_or("");
    if fields.len() == 1 && first.is_empty() {
        // Only colons: every field empty, so the kernel autoconfigures everything.
        return Ok(IpConfig::Dhcp {
            dev: None,
            hostname: None,
            mtu: None,
            mac: None,
            dns: Vec::new(),
            client_id: None,
        });
    }
    if fields.len() == 1 {
        if let Some(kw) = parse_autoconf(first, notes)? {
            return short_form(kw, None, &[], notes);
        }
        if is_ipv6_literal(first) {
            return Err(ipv6_static(first));
        }
        if !first.starts_with(|c: char| c.is_ascii_digit()) {
            let plausible_dev = first.bytes().any(|b| b.is_ascii_digit())
                && first
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if plausible_dev && check_ifname(first).is_ok() {
                return Err(IpError::new(
                    format!("{} is neither a method nor an address", show(first)),
                    format!("to use DHCP on that interface write ip={first}:dhcp; or {FORMS}"),
                ));
            }
            return Err(IpError::new(
                format!("{} is not a known ip= form", show(first)),
                FORMS,
            ));
        }
        // A lone address: the kernel takes it as the client address.
    } else if !first.contains('.') && !first.starts_with('[') {
        if let Some(kw) = parse_autoconf(fields[1], notes)? {
            let dev = if first.is_empty() {
                None
            } else {
                Some(device(first)?)
            };
            return short_form(kw, dev, &fields[2..], notes);
        }
    }
    long_form(&fields, notes)
}

/// `ip=<method>` and `ip=<dev>:<method>[:<mtu>[:<mac>]]`.
fn short_form(
    method: Method,
    dev: Option<String>,
    tail: &[&str],
    notes: &mut Vec<IpError>,
) -> Result<IpConfig, IpError> {
    let tail = parse_tail(tail, notes);
    match method {
        Method::Off => {
            tail.ignore_all(notes, "the interface is left unconfigured");
            Ok(IpConfig::Off)
        }
        Method::Static => Err(IpError::new(
            "a static configuration needs the client address",
            "write ip=<client>::<gateway>:<netmask>:<hostname>:<dev>:none",
        )),
        Method::Dhcp => Ok(IpConfig::Dhcp {
            dev,
            hostname: None,
            mtu: tail.mtu,
            mac: tail.mac,
            dns: tail.dns_with_ntp_ignored(notes),
            client_id: None,
        }),
        Method::Ipv6 => {
            let dns = tail.dns_with_ntp_ignored(notes);
            ignore_dns_v6(&dns, notes);
            Ok(IpConfig::Ipv6Auto {
                dev,
                mtu: tail.mtu,
                mac: tail.mac,
            })
        }
    }
}

fn ignore_dns_v6(dns: &[Ipv4Addr], notes: &mut Vec<IpError>) {
    for d in dns {
        notes.push(IpError::note(
            &d.to_string(),
            "name servers in an IPv6-only ip= word are not used",
            format!("write nameserver={d}"),
        ));
    }
}

/// The kernel's `ip=dhcp,<type>,<value>`.
fn dhcp_with_client_id(rest: &str, notes: &mut Vec<IpError>) -> IpConfig {
    let client_id = match rest.split_once(',') {
        Some((kind, value)) if !value.is_empty() && value.len() <= 251 => match parse_u8(kind) {
            Some(kind) => Some(ClientId {
                kind,
                value: value.to_string(),
            }),
            None => {
                notes.push(IpError::note(
                    kind,
                    "the client identifier type is not a number from 0 to 255",
                    "write ip=dhcp,<type>,<value>, e.g. ip=dhcp,0,myhost",
                ));
                None
            }
        },
        _ => {
            notes.push(IpError::note(
                rest,
                "a client identifier needs a type and a value of 1 to 251 bytes",
                "write ip=dhcp,<type>,<value>, e.g. ip=dhcp,0,myhost, or plain ip=dhcp",
            ));
            None
        }
    };
    IpConfig::Dhcp {
        dev: None,
        hostname: None,
        mtu: None,
        mac: None,
        dns: Vec::new(),
        client_id,
    }
}

/// The kernel's `kstrtou8(s, 0)`: decimal, `0x` hex or leading-0 octal.
fn parse_u8(s: &str) -> Option<u8> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u8::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u8::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// `<client>:<peer>:<gw>:<mask>:<host>:<dev>:<autoconf>[:…]`.
fn long_form(fields: &[&str], notes: &mut Vec<IpError>) -> Result<IpConfig, IpError> {
    let get = |i: usize| fields.get(i).copied().unwrap_or("");
    let (client_f, peer_f, gw_f, mask_f, host_f, dev_f, auto_f) =
        (get(0), get(1), get(2), get(3), get(4), get(5), get(6));
    let tail = parse_tail(fields.get(7..).unwrap_or(&[]), notes);

    let dev = if dev_f.is_empty() {
        None
    } else {
        Some(device(dev_f)?)
    };
    let hostname = hostname(host_f, dev.is_none(), notes);
    let method = if auto_f.is_empty() {
        Ok(None)
    } else {
        match parse_autoconf(auto_f, notes) {
            Ok(Some(m)) => Ok(Some(m)),
            Ok(None) => Err(IpError::new(
                format!("{} is not an autoconfiguration method", show(auto_f)),
                "the 7th field is one of none, off, dhcp, on, any, auto6",
            )),
            Err(e) => Err(e),
        }
    };

    if client_f.is_empty() {
        let method = method?;
        if matches!(method, Some(Method::Off | Method::Static)) {
            return Err(IpError::new(
                format!(
                    "method {} needs the client address in the first field",
                    show(auto_f)
                ),
                "write ip=<client>::<gateway>:<netmask>:<hostname>:<dev>:none, or ip=<dev>:dhcp",
            ));
        }
        for (name, f) in [("peer", peer_f), ("gateway", gw_f), ("netmask", mask_f)] {
            if !f.is_empty() {
                notes.push(IpError::note(
                    f,
                    format!(
                        "the {name} is not used without a client address: the lease provides it"
                    ),
                    "leave the field empty, or give the client address for a static setup",
                ));
            }
        }
        return Ok(match method {
            Some(Method::Ipv6) => {
                let dns = tail.dns_with_ntp_ignored(notes);
                ignore_dns_v6(&dns, notes);
                IpConfig::Ipv6Auto {
                    dev,
                    mtu: tail.mtu,
                    mac: tail.mac,
                }
            }
            _ => IpConfig::Dhcp {
                dev,
                hostname,
                mtu: tail.mtu,
                mac: tail.mac,
                dns: tail.dns_with_ntp_ignored(notes),
                client_id: None,
            },
        });
    }

    if is_ipv6_literal(client_f) {
        return Err(ipv6_static(client_f));
    }
    let (client, client_prefix) = parse_ipv4_prefixed(client_f).map_err(|r| {
        IpError::new(
            r,
            "the first field is the client's IPv4 address, e.g. 192.168.1.10",
        )
    })?;
    if client.is_unspecified() || client.is_broadcast() || client.is_multicast() {
        return Err(IpError::new(
            format!("{client} cannot be the address of this machine"),
            "give a unicast address, e.g. 192.168.1.10",
        ));
    }
    let autoconf = match method {
        Ok(None) => Autoconf::Unset,
        Ok(Some(Method::Off | Method::Static)) => Autoconf::Off,
        Ok(Some(m)) => {
            notes.push(IpError::note(
                auto_f,
                "a client address is given, so the configuration is static (the kernel does the same)",
                "write none as the method; for DHCP leave the address empty: ip=<dev>:dhcp",
            ));
            if m == Method::Ipv6 {
                Autoconf::Ipv6
            } else {
                Autoconf::Dhcp
            }
        }
        Err(e) => {
            notes.push(IpError {
                part: Some(auto_f.to_string()),
                ..e
            });
            Autoconf::Unset
        }
    };
    let prefix_len = prefix(client, client_prefix, mask_f, notes)?;
    let gateway = if gw_f.is_empty() {
        None
    } else if is_ipv6_literal(gw_f) {
        return Err(ipv6_static(gw_f));
    } else {
        let gw = parse_ipv4(gw_f)
            .map_err(|r| IpError::new(r, "the third field is the gateway's IPv4 address"))?;
        Some(gw).filter(|g| !g.is_unspecified())
    };
    let peer = peer(peer_f, notes);
    Ok(IpConfig::Static(StaticIp {
        client,
        peer,
        gateway,
        prefix_len,
        hostname,
        dev,
        autoconf,
        dns: tail.dns.clone(),
        ntp: tail.ntp,
        mtu: tail.mtu,
        mac: tail.mac,
    }))
}

fn ipv6_static(field: &str) -> IpError {
    IpError::new(
        format!(
            "{} is an IPv6 address: static IPv6 is not supported yet",
            show(field)
        ),
        "use ip=<dev>:auto6 to let the kernel configure IPv6 from router advertisements, \
         or a static IPv4 address",
    )
}

fn device(field: &str) -> Result<String, IpError> {
    check_ifname(field).map_err(|r| {
        IpError::new(
            r,
            "name the interface as `ip link` shows it, e.g. eth0 or enp1s0",
        )
    })?;
    Ok(field.to_string())
}

fn hostname(field: &str, no_dev: bool, notes: &mut Vec<IpError>) -> Option<String> {
    if field.is_empty() {
        return None;
    }
    if let Err(reason) = check_hostname(field) {
        notes.push(IpError::note(
            field,
            reason,
            "fix the host name in the 5th field, or leave it empty",
        ));
        return None;
    }
    if no_dev && looks_like_ifname(field) {
        notes.push(IpError::note(
            field,
            "this looks like an interface name in the host-name field (the 5th), and no \
             interface is given",
            "the interface is the 6th field: ip=<client>::<gw>:<mask>:<hostname>:<dev>:none",
        ));
        return None;
    }
    Some(field.to_string())
}

fn prefix(
    client: Ipv4Addr,
    client_prefix: Option<u8>,
    mask_f: &str,
    notes: &mut Vec<IpError>,
) -> Result<u8, IpError> {
    if !mask_f.is_empty() {
        let mask = parse_mask(mask_f).map_err(|r| {
            IpError::new(r, "the 4th field is the netmask: 255.255.255.0, 24 or /24")
        })?;
        if let Some(p) = client_prefix.filter(|&p| p != mask) {
            notes.push(IpError::note(
                &format!("/{p}"),
                format!("the prefix /{p} on the address disagrees with the netmask /{mask}; the netmask wins"),
                "give the prefix in one place only",
            ));
        }
        return Ok(mask);
    }
    if let Some(p) = client_prefix {
        return Ok(p);
    }
    match classful_prefix(client) {
        Some(p) => {
            notes.push(IpError::new(
                format!("no netmask given: using {client}/{p} from the address class, as the kernel does"),
                "give the netmask in the 4th field, or write the address as <client>/<prefix>",
            ));
            Ok(p)
        }
        None => Err(IpError::new(
            format!("{client} has no address class to derive a netmask from"),
            "give the netmask in the 4th field",
        )),
    }
}

fn peer(field: &str, notes: &mut Vec<IpError>) -> Option<Ipv4Addr> {
    if field.is_empty() {
        return None;
    }
    match parse_ipv4_prefixed(field) {
        Ok((addr, None)) => Some(addr),
        Ok((addr, Some(p))) => {
            notes.push(IpError::note(
                &format!("/{p}"),
                "a prefix on the peer address is not used",
                format!("write the peer as {addr}"),
            ));
            Some(addr)
        }
        Err(reason) => {
            notes.push(IpError::note(
                field,
                reason,
                "the 2nd field is an IPv4 address, or empty",
            ));
            None
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
