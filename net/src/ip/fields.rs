//! The small field parsers behind `ip=` and `ifname=`: splitting on `:` around
//! bracketed IPv6 literals, IPv4 addresses with an optional `/prefix`, netmasks,
//! MAC addresses, interface names and host names. Pure functions.

use std::net::Ipv4Addr;

/// Splits `value` on `:`, keeping a bracketed IPv6 literal (`[2001:db8::1]`, brackets
/// included) in one field, as dracut does. Trailing empty fields are dropped: the
/// kernel ignores empty fields, so `ip=dhcp:` means `ip=dhcp`.
pub(crate) fn split_fields(value: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut in_bracket = false;
    for (i, c) in value.char_indices() {
        match c {
            '[' if i == start => in_bracket = true,
            ']' if in_bracket => in_bracket = false,
            ':' if !in_bracket => {
                fields.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&value[start..]);
    while fields.len() > 1 && fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    fields
}

/// True for a field written as a bracketed IPv6 literal, or an unbracketed one.
pub(crate) fn is_ipv6_literal(field: &str) -> bool {
    let inner = field
        .strip_prefix('[')
        .map(|f| f.split(']').next().unwrap_or(f))
        .unwrap_or(field);
    let inner = inner.split('/').next().unwrap_or(inner);
    inner.parse::<std::net::Ipv6Addr>().is_ok() || field.starts_with('[')
}

/// Parses a dotted-quad IPv4 address strictly: four decimal octets 0–255, no
/// leading `+`, no more than three digits each (so `010.1.1.1` is accepted as 10.1.1.1
/// but `1.2.3` or `1.2.3.256` are not).
pub(crate) fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return Err(format!(
            "{} is not an IPv4 address (it needs four numbers separated by dots)",
            crate::ip::show(s)
        ));
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{} is not an IPv4 address (`{}` is not a number from 0 to 255)",
                crate::ip::show(s),
                crate::ip::show(p)
            ));
        }
        let n: u16 = p
            .parse()
            .map_err(|_| format!("{} is not an IPv4 address", crate::ip::show(s)))?;
        octets[i] = u8::try_from(n).map_err(|_| {
            format!(
                "{} is not an IPv4 address ({n} is larger than 255)",
                crate::ip::show(s)
            )
        })?;
    }
    Ok(Ipv4Addr::from(octets))
}

/// Parses `a.b.c.d` or `a.b.c.d/N`.
pub(crate) fn parse_ipv4_prefixed(s: &str) -> Result<(Ipv4Addr, Option<u8>), String> {
    match s.split_once('/') {
        Some((addr, prefix)) => Ok((parse_ipv4(addr)?, Some(parse_prefix(prefix)?))),
        None => Ok((parse_ipv4(s)?, None)),
    }
}

/// A prefix length `0`–`32`.
pub(crate) fn parse_prefix(s: &str) -> Result<u8, String> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{} is not a prefix length (0 to 32)",
            crate::ip::show(s)
        ));
    }
    match s.parse::<u8>() {
        Ok(n) if n <= 32 => Ok(n),
        _ => Err(format!(
            "prefix length {} is larger than 32",
            crate::ip::show(s)
        )),
    }
}

/// A netmask: dotted (`255.255.255.0`, which must be contiguous ones then zeros) or a
/// prefix length (`24` or `/24`). Returns the prefix length.
pub(crate) fn parse_mask(s: &str) -> Result<u8, String> {
    let bare = s.strip_prefix('/').unwrap_or(s);
    if !bare.contains('.') {
        return parse_prefix(bare);
    }
    let mask = u32::from(parse_ipv4(bare).map_err(|_| {
        format!(
            "netmask {} is neither a dotted mask nor a prefix length",
            crate::ip::show(s)
        )
    })?);
    let ones = mask.leading_ones();
    if mask.checked_shl(ones).unwrap_or(0) != 0 {
        return Err(format!(
            "netmask {} is not contiguous (its one bits must all come first, as in 255.255.255.0)",
            crate::ip::show(s)
        ));
    }
    // `ones` is at most 32.
    Ok(ones as u8)
}

/// The netmask the kernel derives from a client address when none is given
/// (classful addressing). `None` for class D/E addresses.
pub(crate) fn classful_prefix(addr: Ipv4Addr) -> Option<u8> {
    match addr.octets()[0] {
        0..=127 => Some(8),
        128..=191 => Some(16),
        192..=223 => Some(24),
        _ => None,
    }
}

/// A MAC address: six groups of one or two hex digits separated by `:` or `-` (the
/// same separator throughout), or twelve hex digits; any case.
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        for (i, byte) in mac.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        return Some(mac);
    }
    let sep = if s.contains(':') { ':' } else { '-' };
    let groups: Vec<&str> = s.split(sep).collect();
    if groups.len() != 6 {
        return None;
    }
    for (byte, g) in mac.iter_mut().zip(groups) {
        if g.is_empty() || g.len() > 2 || !g.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(g, 16).ok()?;
    }
    Some(mac)
}

/// Formats a MAC address the usual way, lower-case with colons.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Checks an interface name as the kernel's `dev_valid_name()` does: 1–15 bytes, not
/// `.` or `..`, no `/`, `:` or whitespace. Returns the reason when it is not valid.
pub(crate) fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the interface name is empty".into());
    }
    if name.len() >= 16 {
        return Err(format!(
            "interface name {} is {} bytes long; the kernel allows at most 15",
            crate::ip::show(name),
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a valid interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "interface name {} contains {}, which the kernel does not allow",
            crate::ip::show(name),
            crate::ip::show(&c.to_string())
        ));
    }
    Ok(())
}

/// Checks a host name: at most 64 bytes (the kernel's limit), made of letters, digits,
/// `-` and `.` (RFC 1123).
pub(crate) fn check_hostname(name: &str) -> Result<(), String> {
    if name.len() > 64 {
        return Err(format!(
            "host name {} is longer than 64 bytes",
            crate::ip::show(name)
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || name.starts_with(['-', '.'])
    {
        return Err(format!(
            "host name {} may hold only letters, digits, '-' and '.'",
            crate::ip::show(name)
        ));
    }
    Ok(())
}

/// A name that looks like a network interface (`eth0`, `ens3`, `enp1s0`, `wlan0`, …),
/// used to spot an interface written in the host-name field.
pub(crate) fn looks_like_ifname(name: &str) -> bool {
    let digits_after = |p: &str| {
        name.strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    if ["eth", "bond", "br", "vlan", "wlan", "usb", "ib"]
        .iter()
        .any(|p| digits_after(p))
    {
        return true;
    }
    // systemd's predictable names: en/wl/ww, then o/s/p/x/P, with a digit somewhere.
    let b = name.as_bytes();
    b.len() > 3
        && matches!(&b[..2], b"en" | b"wl" | b"ww")
        && matches!(b[2], b'o' | b's' | b'p' | b'x' | b'P')
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().all(u8::is_ascii_alphanumeric)
}
