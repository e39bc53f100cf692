//! Fuzzes the `ip=`, `nameserver=` and `ifname=` parsers (`sesame_net::ip`): no panics,
//! `parse_ip` agrees with `parse_ip_with_notes`, and a rejection always says what to
//! write instead.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_net::ip;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    let full = ip::parse_ip_with_notes(&value);
    assert_eq!(ip::parse_ip(&value), full.clone().map(|(config, _)| config));
    match full {
        Ok((_, notes)) => {
            for n in notes {
                assert!(!n.fix.is_empty());
            }
        }
        Err(e) => assert!(!e.fix.is_empty() && !e.reason.is_empty()),
    }
    if let Err(e) = ip::parse_nameserver(&value) {
        assert!(!e.fix.is_empty());
    }
    if let Ok(i) = ip::parse_ifname(&value) {
        assert!(!i.name.is_empty() && i.name.len() < 16);
    }
});
