//! Thin async wrappers over rtnetlink: links ([`link`]), IPv4/IPv6 addresses
//! ([`addr`]) and IPv4 routes ([`route`]), plus turning kernel messages into plain
//! facts. Callers put the interface and the step in their messages.

pub mod addr;
pub mod link;
pub mod route;

/// The errno of a netlink error, if it is one.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}
