//! The `ip=`, `nameserver=` and `ifname=` boot parameters, parsed as pure functions
//! that never panic. The forms are the kernel's (`Documentation/admin-guide/nfs/nfsroot.rst`)
//! and dracut's (`dracut.cmdline(7)`):
//!
//! - `ip=off|none`, `ip=dhcp|on|any|single-dhcp|both`, `ip=dhcp,<client-id-type>,<client-id>`,
//!   `ip=auto6|dhcp6|either6|link6`;
//! - `ip=<dev>:<autoconf>[:[<mtu>][:<macaddr>]]`;
//! - `ip=<client>:<peer>:<gw>:<mask>:<host>:<dev>:<autoconf>` followed by either
//!   `:<dns0>:<dns1>:<ntp>` (kernel, dracut) or `:<mtu>:<macaddr>` (dracut).
//!
//! Decisions, where the kernel and dracut differ or are silent:
//!
//! - **A client address makes the configuration static**, whatever the autoconf field
//!   says, as the kernel does (it autoconfigures only when the client address is
//!   missing). `dhcp`/`on`/`any` next to a client address is then reported as ignored.
//!   Without a client address, `dhcp`/`on`/`any`/`both`/empty mean DHCP on that device and
//!   the peer, gateway and mask fields are reported as ignored.
//! - A missing netmask is derived from the address class, as the kernel does, with a note.
//! - `bootp`, `rarp` and `ibft` are rejected (sesame speaks DHCP only); `both` (BOOTP+RARP)
//!   is taken as DHCP, which BOOTP servers answer too.
//! - IPv6: `auto6`, `dhcp6`, `either6` and `link6` give [`IpConfig::Ipv6Auto`]: sesame
//!   brings the link up and leaves IPv6 to the kernel (router advertisements); it has no
//!   DHCPv6 client. Static IPv6 addresses (`[2001:db8::2]`) are recognised and rejected.
//! - Parts that can be dropped without changing what the word means (a bad host name,
//!   MTU, MAC, DNS or NTP field, a peer) are dropped with a note; a bad address, mask,
//!   gateway or device rejects the whole word.
//! - Keywords are matched case-insensitively; trailing empty fields are ignored.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Serialize, Serializer};

mod fields;
mod forms;
mod methods;
mod tail;
#[cfg(test)]
mod tests;

pub use fields::format_mac;
use fields::{check_ifname, parse_ipv4, parse_mac};

/// One `ip=` word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum IpConfig {
    /// `off`, `none`, or `<dev>:off`: configure nothing for this word.
    Off,
    /// DHCPv4, on `dev` or (when `None`) on every physical Ethernet interface, each
    /// keeping its own lease (default routes ordered by interface index).
    Dhcp {
        dev: Option<String>,
        /// A host name to send in the request (option 12).
        hostname: Option<String>,
        mtu: Option<u32>,
        /// A MAC address to set on the interface before asking.
        #[serde(serialize_with = "ser_mac")]
        mac: Option<[u8; 6]>,
        /// Name servers given in the word; used besides the lease's.
        dns: Vec<Ipv4Addr>,
        /// The kernel's `ip=dhcp,<type>,<value>` client identifier.
        client_id: Option<ClientId>,
    },
    /// A static IPv4 configuration.
    Static(StaticIp),
    /// IPv6 autoconfiguration, left to the kernel: bring `dev` (or every interface) up.
    Ipv6Auto {
        dev: Option<String>,
        mtu: Option<u32>,
        #[serde(serialize_with = "ser_mac")]
        mac: Option<[u8; 6]>,
    },
}

impl IpConfig {
    /// The interface this word is about, if it names one.
    pub fn dev(&self) -> Option<&str> {
        match self {
            IpConfig::Off => None,
            IpConfig::Dhcp { dev, .. } | IpConfig::Ipv6Auto { dev, .. } => dev.as_deref(),
            IpConfig::Static(s) => s.dev.as_deref(),
        }
    }
}

/// A static configuration from the long form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaticIp {
    pub client: Ipv4Addr,
    /// The kernel's "server" field, dracut's point-to-point peer. Informational.
    pub peer: Option<Ipv4Addr>,
    /// The default gateway. It may lie outside the client's subnet (some hosting
    /// providers hand out /32 addresses): add its route on-link.
    pub gateway: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub hostname: Option<String>,
    /// `None`: the only interface, or the first with a carrier (the caller decides).
    pub dev: Option<String>,
    /// What the autoconf field said (the configuration is static regardless).
    pub autoconf: Autoconf,
    pub dns: Vec<Ipv4Addr>,
    pub ntp: Option<Ipv4Addr>,
    pub mtu: Option<u32>,
    #[serde(serialize_with = "ser_mac")]
    pub mac: Option<[u8; 6]>,
}

/// The autoconf field of the long form, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Autoconf {
    /// Empty or missing.
    Unset,
    /// `off`, `none`, `static`.
    Off,
    /// `dhcp`, `on`, `any`, `single-dhcp`, `both`.
    Dhcp,
    /// `auto6`, `dhcp6`, `either6`, `link6`.
    Ipv6,
}

/// The kernel's DHCP client identifier, `ip=dhcp,<type>,<value>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientId {
    pub kind: u8,
    pub value: String,
}

/// `ifname=<name>:<MAC>`: give the interface with that MAC address that name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IfName {
    pub name: String,
    #[serde(serialize_with = "ser_mac_one")]
    pub mac: [u8; 6],
}

/// Why a word (or, in a note, a part of it) was not used. `Display` gives
/// "reason; fix", prefixed by the part when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpError {
    /// The ignored part of the word, for notes about a word that was still used.
    pub part: Option<String>,
    pub reason: String,
    /// What to write instead.
    pub fix: String,
}

impl IpError {
    fn new(reason: impl Into<String>, fix: impl Into<String>) -> Self {
        IpError {
            part: None,
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    fn note(part: &str, reason: impl Into<String>, fix: impl Into<String>) -> Self {
        IpError {
            part: Some(part.to_string()),
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for IpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(part) = &self.part {
            write!(f, "{}: ", show(part))?;
        }
        write!(f, "{}; {}", self.reason, self.fix)
    }
}

impl std::error::Error for IpError {}

/// Parses what follows `ip=`. Notes about ignored parts are dropped; see
/// [`parse_ip_with_notes`].
pub fn parse_ip(value: &str) -> Result<IpConfig, IpError> {
    parse_ip_with_notes(value).map(|(config, _)| config)
}

/// Parses what follows `ip=`, also returning notes about a word that was used: with
/// `part` set, that part was ignored; without, nothing was (a default was applied, as
/// for a missing netmask).
pub fn parse_ip_with_notes(value: &str) -> Result<(IpConfig, Vec<IpError>), IpError> {
    let mut notes = Vec::new();
    let config = forms::parse(value, &mut notes)?;
    Ok((config, notes))
}

/// Parses what follows `nameserver=`: an IPv4 or IPv6 address, the latter optionally
/// in brackets.
pub fn parse_nameserver(value: &str) -> Result<IpAddr, IpError> {
    let fix = "write nameserver=<address>, e.g. nameserver=9.9.9.9 or nameserver=2620:fe::fe";
    if value.is_empty() {
        return Err(IpError::new("nameserver= is empty", fix));
    }
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let addr = if bare.contains(':') {
        bare.parse::<std::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| IpError::new(format!("{} is not an IPv6 address", show(value)), fix))?
    } else {
        IpAddr::V4(parse_ipv4(bare).map_err(|r| IpError::new(r, fix))?)
    };
    if addr.is_unspecified() || addr.is_multicast() {
        return Err(IpError::new(format!("{addr} cannot be a name server"), fix));
    }
    Ok(addr)
}

/// Parses what follows `ifname=`: `<name>:<MAC>`, the MAC with `:` or `-`, any case.
pub fn parse_ifname(value: &str) -> Result<IfName, IpError> {
    let fix = "write ifname=<name>:<MAC>, e.g. ifname=lan0:52:54:00:12:34:56";
    let Some((name, mac)) = value.split_once(':') else {
        return Err(IpError::new(
            format!("{} has no MAC address", show(value)),
            fix,
        ));
    };
    check_ifname(name).map_err(|r| IpError::new(r, fix))?;
    let mac_bytes = parse_mac(mac)
        .ok_or_else(|| IpError::new(format!("{} is not a MAC address", show(mac)), fix))?;
    if mac_bytes[0] & 1 == 1 || mac_bytes == [0; 6] {
        return Err(IpError::new(
            format!(
                "{} cannot be a network card's address (multicast or zero)",
                format_mac(&mac_bytes)
            ),
            "copy the address from `ip link` (link/ether)",
        ));
    }
    Ok(IfName {
        name: name.to_string(),
        mac: mac_bytes,
    })
}

/// Quotes user text for a message: in backticks, control characters escaped, cut to a
/// bounded length on a character boundary.
pub(crate) fn show(s: &str) -> String {
    const MAX: usize = 48;
    let mut out = String::from("`");
    for (n, c) in s.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

fn ser_mac<S: Serializer>(mac: &Option<[u8; 6]>, s: S) -> Result<S::Ok, S::Error> {
    match mac {
        Some(m) => s.serialize_some(&format_mac(m)),
        None => s.serialize_none(),
    }
}

fn ser_mac_one<S: Serializer>(mac: &[u8; 6], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_mac(mac))
}
