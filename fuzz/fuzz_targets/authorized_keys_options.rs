//! Fuzzes the authorized_keys options parser (`sesame_remote::options`) and the `from=`
//! matcher (`sesame_remote::from_patterns`): no panics, errors free of control
//! characters, a negated match always wins, IPv4-mapped addresses match as IPv4.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use sesame_remote::{from_patterns, options};

fuzz_target!(|data: &[u8]| {
    // The first 16 bytes are a client address, the rest the text under test.
    let (addr, rest) = data.split_at(data.len().min(16));
    let mut octets = [0u8; 16];
    octets[..addr.len()].copy_from_slice(addr);
    let v6 = Ipv6Addr::from(octets);
    let ip: IpAddr = v6.into();
    let text = String::from_utf8_lossy(rest);

    match options::parse(&text) {
        Ok(o) => {
            if let Some(from) = &o.from {
                let _ = from.matches(ip);
                let _ = from.host_name_patterns();
            }
            if let Some(p) = &o.principals {
                assert!(p.iter().all(|n| !n.is_empty()));
            }
        }
        Err(e) => {
            let t = e.to_string();
            assert!(!t.contains('\u{1b}'), "{t:?}");
        }
    }

    if let Ok(list) = from_patterns::parse(&text) {
        let hit = list.matches(ip);
        // IPv4-mapped addresses match exactly as their IPv4 address.
        if let Some(v4) = v6.to_ipv4_mapped() {
            assert_eq!(hit, list.matches(IpAddr::V4(v4)));
        }
        // Adding a negation of the address itself always refuses it.
        let negated = format!("{text},!{}", ip.to_canonical());
        if let Ok(l2) = from_patterns::parse(&negated) {
            assert!(!l2.matches(ip));
        }
    }

    if let Some((pattern, subject)) = text.split_once('\n') {
        let _ = from_patterns::wildcard_match(pattern, subject);
        if !pattern.contains(['*', '?']) {
            assert_eq!(
                from_patterns::wildcard_match(pattern, subject),
                pattern.eq_ignore_ascii_case(subject)
            );
        }
    }
    let _ = options::parse_expiry(&text);
});
