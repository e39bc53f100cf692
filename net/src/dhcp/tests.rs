//! The state machine against a scripted fake server: offers, ACKs, NAKs, lost
//! packets, renewal, rebinding, expiry, carrier changes, and malformed replies.

use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{self, DhcpOption, OptionCode};
use dhcproto::{Decodable, Decoder};
use rand::{Rng, RngCore, SeedableRng};

use super::client::{Action, Client, Destination, Input, LostReason, Note, Transmit};
use super::request::Identity;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 50);

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

fn client(seed: u64) -> Client {
    Client::with_seed(Identity::for_mac(MAC, Some("vault".into())), seed)
}

/// A client request as the server sees it.
fn decode(t: &Transmit) -> v4::Message {
    v4::Message::decode(&mut Decoder::new(&t.payload)).expect("client sent a valid message")
}

fn sends(actions: &[Action]) -> Vec<&Transmit> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn only_send(actions: &[Action]) -> &Transmit {
    let s = sends(actions);
    assert_eq!(s.len(), 1, "expected one message in {actions:?}");
    s[0]
}

fn ignored(actions: &[Action]) -> bool {
    actions.len() == 1 && matches!(actions[0], Action::Note(Note::Ignored(_)))
}

/// A BOOTREPLY built byte by byte, so tests can break it any way they like.
fn reply_bytes(kind: u8, xid: u32, yiaddr: Ipv4Addr, chaddr: [u8; 6], opts: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 240];
    m[0] = 2;
    m[1] = 1;
    m[2] = 6;
    m[4..8].copy_from_slice(&xid.to_be_bytes());
    m[16..20].copy_from_slice(&yiaddr.octets());
    m[28..34].copy_from_slice(&chaddr);
    m[236..240].copy_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(&[53, 1, kind]);
    m.extend_from_slice(opts);
    m.push(255);
    m
}

/// A scripted server: answers DISCOVER with an OFFER and REQUEST with an ACK (or a NAK
/// when told to), the lease as configured.
struct FakeServer {
    id: Ipv4Addr,
    addr: Ipv4Addr,
    lease_secs: u32,
    nak: bool,
    extra: Vec<u8>,
}

impl FakeServer {
    fn new() -> Self {
        FakeServer {
            id: SERVER,
            addr: ADDR,
            lease_secs: 120,
            nak: false,
            extra: Vec::new(),
        }
    }

    fn options(&self) -> Vec<u8> {
        let mut o = vec![54, 4];
        o.extend_from_slice(&self.id.octets());
        o.extend_from_slice(&[51, 4]);
        o.extend_from_slice(&self.lease_secs.to_be_bytes());
        o.extend_from_slice(&[
            1, 4, 255, 255, 255, 0, 3, 4, 10, 99, 0, 1, 6, 4, 10, 99, 0, 1,
        ]);
        o.extend_from_slice(&self.extra);
        o
    }

    fn answer(&self, t: &Transmit) -> Option<Vec<u8>> {
        let m = decode(t);
        let mac: [u8; 6] = m.chaddr()[..6].try_into().ok()?;
        match m.opts().msg_type()? {
            v4::MessageType::Discover => {
                Some(reply_bytes(2, m.xid(), self.addr, mac, &self.options()))
            }
            v4::MessageType::Request if self.nak => {
                let mut o = vec![54, 4];
                o.extend_from_slice(&self.id.octets());
                o.extend_from_slice(&[56, 11]);
                o.extend_from_slice(b"wrong netw\n");
                Some(reply_bytes(6, m.xid(), Ipv4Addr::UNSPECIFIED, mac, &o))
            }
            v4::MessageType::Request => {
                Some(reply_bytes(5, m.xid(), self.addr, mac, &self.options()))
            }
            _ => None,
        }
    }
}

fn bound_lease(actions: &[Action]) -> &super::lease::Lease {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Bound(l) => Some(l),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Bound in {actions:?}"))
}

/// Carrier up at `t0`, then a clean DISCOVER/OFFER/REQUEST/ACK.
fn bind(c: &mut Client, srv: &FakeServer, t0: Duration) {
    let a = c.handle(t0, Input::Carrier(true));
    let offer = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(t0, Input::Packet(&offer));
    let ack = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(t0, Input::Packet(&ack));
    bound_lease(&a);
    assert_eq!(c.state_name(), "bound");
}

#[test]
fn nothing_is_sent_before_carrier() {
    let mut c = client(1);
    assert_eq!(c.deadline(), None);
    assert!(c.handle(s(5.0), Input::Timer).is_empty());
    assert!(c.handle(s(5.0), Input::Carrier(false)).is_empty());
    let a = c.handle(s(5.0), Input::Carrier(true));
    let d = decode(only_send(&a));
    assert_eq!(d.opts().msg_type(), Some(v4::MessageType::Discover));
    assert_eq!(
        only_send(&a).to,
        Destination::Broadcast {
            from: Ipv4Addr::UNSPECIFIED
        }
    );
}

#[test]
fn offer_then_ack_binds_with_everything_in_the_lease() {
    let mut c = client(2);
    let srv = FakeServer::new();
    let t0 = s(10.0);
    let a = c.handle(t0, Input::Carrier(true));
    let discover = decode(only_send(&a));
    let offer = srv.answer(only_send(&a)).unwrap();

    let a = c.handle(t0 + s(0.01), Input::Packet(&offer));
    assert!(a.iter().any(|x| matches!(x, Action::Note(Note::Offer { address, server }) if *address == ADDR && *server == SERVER)));
    let req = decode(only_send(&a));
    assert_eq!(
        req.xid(),
        discover.xid(),
        "REQUEST keeps the DISCOVER's xid"
    );
    assert_eq!(req.opts().msg_type(), Some(v4::MessageType::Request));
    assert_eq!(
        req.opts().get(OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ADDR))
    );
    assert_eq!(
        req.opts().get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(req.ciaddr(), Ipv4Addr::UNSPECIFIED);

    let ack = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(t0 + s(0.02), Input::Packet(&ack));
    let lease = bound_lease(&a);
    assert_eq!(
        (lease.address, lease.prefix, lease.server),
        (ADDR, 24, SERVER)
    );
    assert_eq!(lease.gateway(), Some(SERVER));
    assert_eq!(lease.dns, vec![SERVER]);
    assert_eq!(
        lease.obtained_at,
        t0 + s(0.01),
        "times count from the REQUEST"
    );
    assert_eq!(c.deadline(), Some(t0 + s(0.01) + s(60.0)), "T1 = lease / 2");
    assert_eq!(c.lease().map(|l| l.address), Some(ADDR));
    // A duplicate ACK is ignored once bound.
    assert!(ignored(&c.handle(t0 + s(0.03), Input::Packet(&ack))));
}

#[test]
fn lost_offer_is_retransmitted_within_one_to_two_seconds() {
    for seed in 0..50 {
        let mut c = client(seed);
        let srv = FakeServer::new();
        let a = c.handle(s(0.0), Input::Carrier(true));
        let first = decode(only_send(&a));
        // The OFFER is lost.
        let d = c.deadline().unwrap();
        assert!(d >= s(1.0) && d < s(2.0), "first retry at {d:?}");
        assert!(
            c.handle(d - s(0.001), Input::Timer).is_empty(),
            "an early timer does nothing"
        );
        let a = c.handle(d, Input::Timer);
        let t = only_send(&a);
        assert_eq!(t.attempt, 2);
        let again = decode(t);
        assert_eq!(again.xid(), first.xid());
        assert_eq!(again.secs(), 1);
        // The second retry doubles: 2–3 s later.
        let d2 = c.deadline().unwrap();
        assert!(d2 - d >= s(2.0) && d2 - d < s(3.0));
        let offer = srv.answer(t).unwrap();
        let a = c.handle(d + s(0.1), Input::Packet(&offer));
        let ack = srv.answer(only_send(&a)).unwrap();
        bound_lease(&c.handle(d + s(0.2), Input::Packet(&ack)));
    }
}

#[test]
fn backoff_is_capped_and_the_client_never_gives_up() {
    let mut c = client(3);
    c.handle(s(0.0), Input::Carrier(true));
    let mut notes = 0;
    let mut last = s(0.0);
    for _ in 0..40 {
        let d = c.deadline().unwrap();
        assert!(d - last < s(33.0), "retry gap {:?}", d - last);
        last = d;
        let a = c.handle(d, Input::Timer);
        assert_eq!(sends(&a).len(), 1);
        notes += a
            .iter()
            .filter(|x| matches!(x, Action::Note(Note::NoAnswer { .. })))
            .count();
    }
    assert_eq!(c.state_name(), "selecting");
    assert!((3..=6).contains(&notes), "{notes} no-answer notes");
}

#[test]
fn nak_then_restart() {
    let mut c = client(4);
    let mut srv = FakeServer::new();
    srv.nak = true;
    let a = c.handle(s(0.0), Input::Carrier(true));
    let xid1 = decode(only_send(&a)).xid();
    let offer = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(0.1), Input::Packet(&offer));
    let nak = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(0.2), Input::Packet(&nak));
    assert!(a.iter().any(|x| matches!(x, Action::Note(Note::Nak { server: Some(SERVER), message: Some(m) }) if m == "wrong netw")));
    let d = decode(only_send(&a));
    assert_eq!(
        d.opts().msg_type(),
        Some(v4::MessageType::Discover),
        "back to INIT at once"
    );
    assert_ne!(d.xid(), xid1, "a new exchange");
    // The second time round the server behaves.
    srv.nak = false;
    let offer = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(0.3), Input::Packet(&offer));
    let ack = srv.answer(only_send(&a)).unwrap();
    bound_lease(&c.handle(s(0.4), Input::Packet(&ack)));
}

#[test]
fn repeated_naks_back_off() {
    let mut c = client(5);
    let mut srv = FakeServer::new();
    srv.nak = true;
    let mut a = c.handle(s(0.0), Input::Carrier(true));
    let mut now = s(0.0);
    let mut waits = Vec::new();
    for _ in 0..4 {
        let offer = srv.answer(only_send(&a)).unwrap();
        let r = c.handle(now, Input::Packet(&offer));
        let nak = srv.answer(only_send(&r)).unwrap();
        a = c.handle(now, Input::Packet(&nak));
        if sends(&a).is_empty() {
            assert_eq!(c.state_name(), "backoff");
            let d = c.deadline().unwrap();
            waits.push((d - now).as_secs());
            now = d;
            a = c.handle(now, Input::Timer);
        } else {
            waits.push(0);
        }
    }
    assert_eq!(waits, vec![0, 1, 2, 4]);
}

#[test]
fn request_without_answer_goes_back_to_discover() {
    let mut c = client(6);
    let srv = FakeServer::new();
    let a = c.handle(s(0.0), Input::Carrier(true));
    let offer = srv.answer(only_send(&a)).unwrap();
    c.handle(s(0.1), Input::Packet(&offer));
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let d = c.deadline().unwrap();
        let a = c.handle(d, Input::Timer);
        kinds.push(decode(only_send(&a)).opts().msg_type().unwrap());
    }
    use v4::MessageType::{Discover, Request};
    assert_eq!(kinds, vec![Request, Request, Request, Discover]);
    assert_eq!(c.state_name(), "selecting");
}

#[test]
fn renewal_at_t1_is_unicast_to_the_server() {
    let mut c = client(7);
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    let t1 = c.deadline().unwrap();
    assert_eq!(t1, s(60.0));
    let a = c.handle(t1, Input::Timer);
    let t = only_send(&a);
    assert_eq!(
        t.to,
        Destination::Unicast {
            from: ADDR,
            to: SERVER
        }
    );
    let m = decode(t);
    assert_eq!(m.ciaddr(), ADDR);
    assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
    assert!(m.opts().get(OptionCode::RequestedIpAddress).is_none());
    assert_eq!(c.state_name(), "renewing");
    let ack = srv.answer(t).unwrap();
    let a = c.handle(t1 + s(0.05), Input::Packet(&ack));
    assert!(matches!(&a[..], [Action::Renewed(l)] if l.address == ADDR && l.obtained_at == t1));
    assert_eq!(c.deadline(), Some(t1 + s(60.0)));
}

#[test]
fn lost_ack_on_renew_then_rebind() {
    let mut c = client(8);
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    // T1 at 60 s: renew; every ACK is lost until T2 (105 s).
    let mut now = c.deadline().unwrap();
    let mut renews = 0;
    loop {
        let a = c.handle(now, Input::Timer);
        let t = only_send(&a);
        if let Destination::Broadcast { from } = t.to {
            assert_eq!(from, ADDR, "rebinding sends from the bound address");
            assert_eq!(now, s(105.0), "rebinding starts at T2");
            assert_eq!(c.state_name(), "rebinding");
            let m = decode(t);
            assert_eq!(m.ciaddr(), ADDR);
            assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
            // Another server answers the broadcast.
            let mut other = FakeServer::new();
            other.id = OTHER_SERVER;
            let ack = other.answer(t).unwrap();
            let a = c.handle(now + s(0.1), Input::Packet(&ack));
            assert!(matches!(&a[..], [Action::Renewed(l)] if l.server == OTHER_SERVER));
            break;
        }
        renews += 1;
        assert!(now < s(105.0));
        now = c.deadline().unwrap();
    }
    assert!(renews >= 2, "the renewal is retried before T2 ({renews})");
}

#[test]
fn expiry_removes_the_lease_and_starts_over() {
    let mut c = client(9);
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    let mut now;
    let mut lost = None;
    for _ in 0..20 {
        now = c.deadline().unwrap();
        let a = c.handle(now, Input::Timer);
        if let Some(Action::Lost { lease, reason }) =
            a.iter().find(|x| matches!(x, Action::Lost { .. }))
        {
            assert_eq!(*reason, LostReason::Expired);
            assert_eq!(lease.address, ADDR);
            assert_eq!(
                decode(only_send(&a)).opts().msg_type(),
                Some(v4::MessageType::Discover)
            );
            lost = Some(now);
            break;
        }
    }
    assert_eq!(lost, Some(s(120.0)));
    assert_eq!(c.state_name(), "selecting");
    assert!(c.lease().is_none());
}

#[test]
fn nak_on_renew_loses_the_lease() {
    let mut c = client(10);
    let mut srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    let t1 = c.deadline().unwrap();
    let a = c.handle(t1, Input::Timer);
    srv.nak = true;
    let nak = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(t1, Input::Packet(&nak));
    assert!(matches!(
        &a[0],
        Action::Lost {
            reason: LostReason::Nak { .. },
            ..
        }
    ));
    assert_eq!(c.state_name(), "selecting");
}

#[test]
fn carrier_loss_keeps_the_lease_and_reboot_checks_it() {
    let mut c = client(11);
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    assert!(c.handle(s(10.0), Input::Carrier(false)).is_empty());
    assert_eq!(c.state_name(), "idle");
    assert_eq!(c.deadline(), Some(s(120.0)), "only expiry is pending");
    let a = c.handle(s(20.0), Input::Carrier(true));
    let t = only_send(&a);
    let m = decode(t);
    assert_eq!(c.state_name(), "rebooting");
    assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        m.opts().get(OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ADDR))
    );
    assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
    let ack = srv.answer(t).unwrap();
    let a = c.handle(s(20.1), Input::Packet(&ack));
    assert!(matches!(&a[..], [Action::Renewed(_)]));
    assert_eq!(c.deadline(), Some(s(80.0)));
}

#[test]
fn reboot_without_answer_keeps_the_lease() {
    let mut c = client(12);
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    c.handle(s(1.0), Input::Carrier(false));
    c.handle(s(2.0), Input::Carrier(true));
    let mut kept = false;
    for _ in 0..4 {
        let d = c.deadline().unwrap();
        let a = c.handle(d, Input::Timer);
        kept |= a
            .iter()
            .any(|x| matches!(x, Action::Note(Note::KeptLease { address }) if *address == ADDR));
    }
    assert!(kept);
    assert_eq!(c.state_name(), "bound");
    assert_eq!(c.deadline(), Some(s(60.0)));
}

#[test]
fn reboot_nak_and_expiry_without_carrier() {
    let mut c = client(13);
    let mut srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    c.handle(s(1.0), Input::Carrier(false));
    let a = c.handle(s(2.0), Input::Carrier(true));
    srv.nak = true;
    let nak = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(2.1), Input::Packet(&nak));
    assert!(matches!(&a[0], Action::Lost { .. }));
    assert_eq!(c.state_name(), "selecting");

    let mut c = client(14);
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    c.handle(s(1.0), Input::Carrier(false));
    let a = c.handle(s(120.0), Input::Timer);
    assert!(matches!(
        &a[..],
        [Action::Lost {
            reason: LostReason::Expired,
            ..
        }]
    ));
    assert_eq!(c.deadline(), None);
    // Carrier back after expiry: a fresh DISCOVER.
    let a = c.handle(s(130.0), Input::Carrier(true));
    assert_eq!(
        decode(only_send(&a)).opts().msg_type(),
        Some(v4::MessageType::Discover)
    );
}

#[test]
fn carrier_loss_while_selecting_stops_sending() {
    let mut c = client(15);
    c.handle(s(0.0), Input::Carrier(true));
    c.handle(s(0.5), Input::Carrier(false));
    assert_eq!(c.deadline(), None);
    assert!(c.handle(s(100.0), Input::Timer).is_empty());
}

#[test]
fn malformed_replies_are_ignored() {
    let mut c = client(16);
    let srv = FakeServer::new();
    let a = c.handle(s(0.0), Input::Carrier(true));
    let xid = c.xid().unwrap();
    let good = srv.options();
    let offer_with = |xid: u32, yiaddr: Ipv4Addr, mac: [u8; 6], opts: &[u8]| {
        reply_bytes(2, xid, yiaddr, mac, opts)
    };
    let no_server_id: Vec<u8> = good[6..].to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("wrong xid", offer_with(xid ^ 1, ADDR, MAC, &good)),
        (
            "wrong chaddr",
            offer_with(xid, ADDR, [2, 0, 0, 0, 0, 1], &good),
        ),
        (
            "missing server id",
            offer_with(xid, ADDR, MAC, &no_server_id),
        ),
        (
            "yiaddr 0",
            offer_with(xid, Ipv4Addr::UNSPECIFIED, MAC, &good),
        ),
        (
            "yiaddr broadcast",
            offer_with(xid, Ipv4Addr::BROADCAST, MAC, &good),
        ),
        (
            "an ACK while selecting",
            reply_bytes(5, xid, ADDR, MAC, &good),
        ),
        ("empty", Vec::new()),
        ("short", vec![2; 239]),
        ("not a reply", {
            let mut m = offer_with(xid, ADDR, MAC, &good);
            m[0] = 1;
            m
        }),
        ("no magic", {
            let mut m = offer_with(xid, ADDR, MAC, &good);
            m[236] = 0;
            m
        }),
        ("no message type", {
            let mut m = offer_with(xid, ADDR, MAC, &good);
            m[240] = 0; // PAD instead of option 53
            m
        }),
        (
            "a truncated server id",
            offer_with(xid, ADDR, MAC, &[54, 4, 10, 99]),
        ),
    ];
    for (what, bytes) in &cases {
        let before = (c.state_name(), c.xid());
        let a = c.handle(s(0.1), Input::Packet(bytes));
        assert!(ignored(&a), "{what}: {a:?}");
        assert_eq!((c.state_name(), c.xid()), before, "{what}");
    }
    // Junk options after the good ones do not stop an offer being used.
    let mut junk = good.clone();
    junk.extend_from_slice(&[
        121, 3, 40, 1, 2, 119, 2, 0xC0, 0, 80, 1, 0, 151, 0, 26, 1, 9, 200,
    ]);
    let a2 = c.handle(s(0.2), Input::Packet(&offer_with(xid, ADDR, MAC, &junk)));
    assert_eq!(c.state_name(), "requesting", "{a2:?}");
    // An ACK with junk options still binds, the junk reported.
    let t = only_send(&a2);
    let mut ack = srv.answer(t).unwrap();
    ack.pop();
    ack.extend_from_slice(&[121, 3, 40, 1, 2, 119, 2, 0xC0, 0, 26, 1, 9, 255]);
    let a3 = c.handle(s(0.3), Input::Packet(&ack));
    let lease = bound_lease(&a3);
    assert_eq!(
        lease.gateway(),
        Some(SERVER),
        "a bad option 121 falls back to option 3"
    );
    assert!(!lease.warnings.is_empty());
    drop(a);
}

#[test]
fn ack_from_a_server_not_selected_is_ignored() {
    let mut c = client(17);
    let srv = FakeServer::new();
    let a = c.handle(s(0.0), Input::Carrier(true));
    let offer = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(0.1), Input::Packet(&offer));
    let mut other = FakeServer::new();
    other.id = OTHER_SERVER;
    let ack = other.answer(only_send(&a)).unwrap();
    assert!(ignored(&c.handle(s(0.2), Input::Packet(&ack))));
    assert_eq!(c.state_name(), "requesting");
}

#[test]
fn classless_routes_replace_the_router() {
    let mut c = client(18);
    let mut srv = FakeServer::new();
    // 10.99.0.1/32 on-link, default via 10.99.0.1 (the /32-gateway pattern of clouds).
    srv.extra = vec![121, 14, 32, 10, 99, 0, 1, 0, 0, 0, 0, 0, 10, 99, 0, 1];
    let a = c.handle(s(0.0), Input::Carrier(true));
    let offer = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(0.0), Input::Packet(&offer));
    let ack = srv.answer(only_send(&a)).unwrap();
    let a = c.handle(s(0.0), Input::Packet(&ack));
    let l = bound_lease(&a);
    assert_eq!(l.routes.len(), 2);
    assert_eq!(l.routes[0].gateway, None);
    assert_eq!(l.gateway(), Some(SERVER));
}

#[test]
fn release_gives_the_lease_back() {
    let mut c = client(19);
    assert!(c.release().is_none());
    let srv = FakeServer::new();
    bind(&mut c, &srv, s(0.0));
    let t = c.release().unwrap();
    assert_eq!(
        t.to,
        Destination::Unicast {
            from: ADDR,
            to: SERVER
        }
    );
    let m = decode(&t);
    assert_eq!(m.opts().msg_type(), Some(v4::MessageType::Release));
    assert_eq!(m.ciaddr(), ADDR);
    assert!(c.lease().is_none());
    assert_eq!(c.deadline(), None);
}

#[test]
fn random_bytes_in_every_state_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    for round in 0..300u64 {
        let mut c = client(round);
        let srv = FakeServer::new();
        let mut now = s(0.0);
        c.handle(now, Input::Carrier(true));
        for step in 0..30 {
            // Sometimes a real exchange, sometimes noise shaped like a reply.
            let len = rng.random_range(0..600);
            let mut junk = vec![0u8; len];
            rng.fill_bytes(&mut junk);
            if len >= 243 && rng.random_bool(0.7) {
                junk[0] = 2;
                junk[1] = 1;
                junk[2] = 6;
                junk[4..8].copy_from_slice(&c.xid().unwrap_or(0).to_be_bytes());
                junk[28..34].copy_from_slice(&MAC);
                junk[236..240].copy_from_slice(&[99, 130, 83, 99]);
                junk[240] = 53;
                junk[241] = 1;
                junk[242] = rng.random_range(1..9);
            }
            let a = c.handle(now, Input::Packet(&junk));
            for t in sends(&a) {
                if step % 3 == 0 {
                    if let Some(r) = srv.answer(t) {
                        c.handle(now, Input::Packet(&r));
                    }
                }
            }
            now += s(rng.random_range(0.0..50.0));
            if rng.random_bool(0.1) {
                c.handle(now, Input::Carrier(rng.random_bool(0.5)));
            }
            c.handle(now, Input::Timer);
            if let Some(d) = c.deadline() {
                assert!(
                    d + s(0.001) >= now || c.state_name() == "idle",
                    "deadline in the past: {d:?} < {now:?}"
                );
            }
            if let Some(l) = c.lease() {
                assert!(l.prefix <= 32);
                assert!(l.routes.iter().all(|r| r.prefix <= 32));
            }
        }
    }
}
