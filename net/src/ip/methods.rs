//! The autoconfiguration field of `ip=` (`dhcp`, `none`, `auto6`, …, or a dracut
//! comma-separated list of them), combined into one method.

use super::{show, IpError};

/// The autoconf methods, combined from a comma-separated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Off,
    Static,
    Dhcp,
    Ipv6,
}

const METHODS: &[&str] = &[
    "off",
    "none",
    "static",
    "dhcp",
    "on",
    "any",
    "single-dhcp",
    "dhcp4",
    "both",
    "auto6",
    "link6",
    "dhcp6",
    "either6",
    "bootp",
    "rarp",
    "ibft",
];

pub(super) fn is_method(word: &str) -> bool {
    METHODS.iter().any(|m| m.eq_ignore_ascii_case(word))
}

/// Parses an autoconf field. `Ok(None)`: not a method at all (so the caller may try
/// another reading of the word); `Err`: a method sesame does not do.
pub(super) fn parse_autoconf(
    field: &str,
    notes: &mut Vec<IpError>,
) -> Result<Option<Method>, IpError> {
    let mut local = Vec::new();
    let method = parse_methods(field, &mut local)?;
    if method.is_some() {
        notes.append(&mut local);
    }
    Ok(method)
}

fn parse_methods(field: &str, notes: &mut Vec<IpError>) -> Result<Option<Method>, IpError> {
    if !field.split(',').all(is_method) {
        return Ok(None);
    }
    let mut methods = Vec::new();
    let mut unsupported = None;
    for item in field.split(',') {
        let m = match item.to_ascii_lowercase().as_str() {
            "off" | "none" => Method::Off,
            "static" => Method::Static,
            "dhcp" | "on" | "any" | "single-dhcp" | "dhcp4" => Method::Dhcp,
            "both" => {
                notes.push(IpError::note(
                    item,
                    "sesame has no BOOTP or RARP client; it uses DHCP, which BOOTP servers answer too",
                    "write dhcp to silence this",
                ));
                Method::Dhcp
            }
            "auto6" | "link6" => Method::Ipv6,
            "dhcp6" | "either6" => {
                notes.push(IpError::note(
                    item,
                    "sesame has no DHCPv6 client: it brings the link up and leaves IPv6 \
                     autoconfiguration (router advertisements) to the kernel",
                    "write auto6 to silence this, or add an IPv4 method",
                ));
                Method::Ipv6
            }
            _ => {
                // bootp, rarp, ibft: every other word was ruled out above.
                unsupported.get_or_insert(item);
                continue;
            }
        };
        methods.push(m);
    }
    let has = |m| methods.contains(&m);
    if let Some(item) = unsupported {
        let err = IpError::new(
            format!(
                "autoconfiguration method {} is not supported by sesame",
                show(item)
            ),
            "use dhcp, or a static configuration ending in :none",
        );
        if methods.is_empty() {
            return Err(err);
        }
        notes.push(IpError {
            part: Some(item.to_string()),
            ..err
        });
    }
    if (has(Method::Off) || has(Method::Static)) && (has(Method::Dhcp) || has(Method::Ipv6)) {
        return Err(IpError::new(
            format!(
                "{} asks both for no autoconfiguration and for some",
                show(field)
            ),
            "keep one method: none for a static address, or dhcp",
        ));
    }
    if has(Method::Dhcp) {
        if has(Method::Ipv6) {
            notes.push(IpError::note(
                field,
                "IPv6 autoconfiguration is left to the kernel once the link is up",
                "write dhcp alone to silence this",
            ));
        }
        return Ok(Some(Method::Dhcp));
    }
    Ok(methods.first().copied())
}
