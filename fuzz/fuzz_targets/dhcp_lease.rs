//! Fuzzes what a DHCP server (or anyone on the link) can send the client: arbitrary
//! bytes as IPv4/UDP packets and as DHCP replies fed into the state machine
//! (`sesame_net::dhcp::Client`) with carrier changes and the clock moving, so the lease
//! logic on top of the decoding runs too (offers, ACKs, NAKs, renewals, expiry).
//! Invariants: no panic; a lease handed out has a host address, a prefix ≤ 32 and
//! routes with prefixes ≤ 32; after a timer the next deadline is in the future; and
//! nothing from a lease can add a line to resolv.conf.
//!
//! Input: a sequence of records `[op] ...`: op & 3 = 0: a packet (`u16` length, then
//! bytes; with op & 4, its header is patched to be a reply to the client's current
//! exchange: BOOTREPLY, Ethernet, the xid, the MAC, the magic cookie); 1: time passes
//! (op >> 2 seconds, times 7) and the timer fires; 2: the carrier flips; 3: the same
//! bytes as a raw IPv4 packet through the UDP reader.
#![no_main]

use std::net::IpAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sesame_net::dhcp::lease::host_address;
use sesame_net::dhcp::reply::parse_reply;
use sesame_net::dhcp::{Action, Client, Identity, Input, Lease};
use sesame_net::resolv::{render, DnsSource};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn check_lease(l: &Lease) {
    assert!(host_address(l.address), "{l:?}");
    assert!(l.prefix <= 32);
    assert!(l.routes.iter().all(|r| r.prefix <= 32));
    assert!(l.times.t1 <= l.times.t2 && l.times.t2 <= l.times.lease_secs);
    let search = if l.search.is_empty() {
        l.domain.iter().cloned().collect()
    } else {
        l.search.clone()
    };
    let src = DnsSource {
        label: "fuzz".into(),
        servers: l.dns.iter().map(|&d| IpAddr::V4(d)).collect(),
        search,
    };
    if let Some(text) = render(&[src]) {
        for line in text.lines() {
            assert!(
                line.starts_with("# ")
                    || line.starts_with("nameserver ")
                    || line.starts_with("search "),
                "resolv.conf line {line:?}"
            );
        }
        assert!(text.lines().filter(|l| l.starts_with("search ")).count() <= 1);
    }
}

fn check(actions: &[Action]) {
    for a in actions {
        match a {
            Action::Bound(l) | Action::Renewed(l) | Action::Lost { lease: l, .. } => check_lease(l),
            Action::Send(t) => assert!(t.payload.len() >= 300 && t.payload.len() < 1500),
            Action::Note(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut client = Client::with_seed(Identity::for_mac(MAC, Some("fuzz".into())), 7);
    let mut now = Duration::from_secs(100);
    let mut carrier = true;
    check(&client.handle(now, Input::Carrier(true)));
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op & 3 {
            0 | 3 => {
                let len = match rest {
                    [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                    _ => rest.len(),
                };
                rest = rest.get(2..).unwrap_or(&[]);
                let len = len.min(rest.len());
                let (bytes, tail) = rest.split_at(len);
                rest = tail;
                if op & 3 == 3 {
                    let _ = sesame_net::wire::parse_udp(bytes, true);
                    continue;
                }
                let mut packet = bytes.to_vec();
                if op & 4 != 0 && packet.len() >= 240 {
                    packet[0] = 2;
                    packet[1] = 1;
                    packet[2] = 6;
                    packet[4..8].copy_from_slice(&client.xid().unwrap_or(0).to_be_bytes());
                    packet[28..34].copy_from_slice(&MAC);
                    packet[236..240].copy_from_slice(&[99, 130, 83, 99]);
                }
                // The lease logic on its own, whatever the client's state.
                if let Ok(reply) = parse_reply(&packet) {
                    if let Ok(l) = Lease::from_reply(&reply, now) {
                        check_lease(&l);
                    }
                }
                check(&client.handle(now, Input::Packet(&packet)));
            }
            1 => {
                now += Duration::from_secs(u64::from(op >> 2) * 7);
                check(&client.handle(now, Input::Timer));
                if let Some(d) = client.deadline() {
                    assert!(
                        d > now,
                        "deadline {d:?} not after {now:?} in {}",
                        client.state_name()
                    );
                }
            }
            _ => {
                carrier = !carrier;
                check(&client.handle(now, Input::Carrier(carrier)));
            }
        }
        if let Some(l) = client.lease() {
            check_lease(l);
        }
    }
    let _ = client.release();
});
