//! Unit tests of the `ip=`, `nameserver=` and `ifname=` parsers: every valid form, and
//! the malformed ones a user can type.

use super::*;

fn ok(v: &str) -> IpConfig {
    match parse_ip(v) {
        Ok(c) => c,
        Err(e) => panic!("ip={v}: {e}"),
    }
}

fn notes(v: &str) -> Vec<IpError> {
    match parse_ip_with_notes(v) {
        Ok((_, n)) => n,
        Err(e) => panic!("ip={v}: {e}"),
    }
}

fn err(v: &str) -> IpError {
    match parse_ip(v) {
        Ok(c) => panic!("ip={v} was accepted as {c:?}"),
        Err(e) => e,
    }
}

fn dhcp(dev: Option<&str>) -> IpConfig {
    IpConfig::Dhcp {
        dev: dev.map(String::from),
        hostname: None,
        mtu: None,
        mac: None,
        dns: vec![],
        client_id: None,
    }
}

fn stat(v: &str) -> StaticIp {
    match ok(v) {
        IpConfig::Static(s) => s,
        other => panic!("ip={v} gave {other:?}"),
    }
}

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn keywords() {
    for v in ["off", "none", "OFF", "None"] {
        assert_eq!(ok(v), IpConfig::Off, "{v}");
    }
    for v in ["dhcp", "on", "any", "single-dhcp", "DHCP", "dhcp4"] {
        assert_eq!(ok(v), dhcp(None), "{v}");
        assert!(notes(v).is_empty(), "{v}");
    }
    assert_eq!(ok("both"), dhcp(None));
    assert_eq!(notes("both").len(), 1);
}

#[test]
fn ipv6_autoconf_is_left_to_the_kernel() {
    let v6 = |dev: Option<&str>| IpConfig::Ipv6Auto {
        dev: dev.map(String::from),
        mtu: None,
        mac: None,
    };
    assert_eq!(ok("auto6"), v6(None));
    assert!(notes("auto6").is_empty());
    assert_eq!(ok("link6"), v6(None));
    assert_eq!(ok("eth0:auto6"), v6(Some("eth0")));
    assert_eq!(ok("dhcp6"), v6(None));
    let n = notes("dhcp6");
    assert_eq!(n.len(), 1);
    assert!(n[0].reason.contains("kernel"), "{}", n[0]);
    assert_eq!(ok(":::::eth0:auto6"), v6(Some("eth0")));
    // dhcp,dhcp6 (a dracut list): DHCPv4, IPv6 left to the kernel.
    assert_eq!(ok("dhcp,dhcp6"), dhcp(None));
    assert_eq!(ok("eth0:dhcp,auto6"), dhcp(Some("eth0")));
    assert!(!notes("eth0:dhcp,auto6").is_empty());
}

#[test]
fn device_forms() {
    assert_eq!(ok("eth0:dhcp"), dhcp(Some("eth0")));
    assert_eq!(ok("enp1s0:on"), dhcp(Some("enp1s0")));
    assert_eq!(ok(":dhcp"), dhcp(None));
    assert_eq!(ok("eth0:off"), IpConfig::Off);
    match ok("eth0:dhcp:9000") {
        IpConfig::Dhcp { mtu, mac, .. } => assert_eq!((mtu, mac), (Some(9000), None)),
        other => panic!("{other:?}"),
    }
    match ok("eth0:dhcp:9000:52:54:00:12:34:56") {
        IpConfig::Dhcp { dev, mtu, mac, .. } => {
            assert_eq!(
                (dev.as_deref(), mtu, mac),
                (Some("eth0"), Some(9000), Some(MAC))
            )
        }
        other => panic!("{other:?}"),
    }
    match ok("eth0:dhcp::52-54-00-12-34-56") {
        IpConfig::Dhcp { mtu, mac, .. } => assert_eq!((mtu, mac), (None, Some(MAC))),
        other => panic!("{other:?}"),
    }
    assert!(notes("eth0:dhcp:9000:52:54:00:12:34:56").is_empty());
}

#[test]
fn long_form_dhcp() {
    assert_eq!(ok(":::::eth0:dhcp"), dhcp(Some("eth0")));
    assert_eq!(ok("::::::dhcp"), dhcp(None));
    // Every field empty: the kernel's default, autoconfiguration.
    assert_eq!(ok(":::::"), dhcp(None));
    assert_eq!(ok(":"), dhcp(None));
    // No method and no address: the kernel's default is to autoconfigure.
    assert_eq!(ok(":::::eth0"), dhcp(Some("eth0")));
    match ok("::::myhost:eth0:dhcp:1.1.1.1:8.8.8.8") {
        IpConfig::Dhcp {
            dev, hostname, dns, ..
        } => {
            assert_eq!(dev.as_deref(), Some("eth0"));
            assert_eq!(hostname.as_deref(), Some("myhost"));
            assert_eq!(dns, vec![a("1.1.1.1"), a("8.8.8.8")]);
        }
        other => panic!("{other:?}"),
    }
    // Static hints without a client address are ignored, with a note each.
    assert_eq!(
        ok("::10.0.0.1:255.255.255.0::eth0:dhcp"),
        dhcp(Some("eth0"))
    );
    assert_eq!(notes("::10.0.0.1:255.255.255.0::eth0:dhcp").len(), 2);
}

#[test]
fn full_static() {
    let s = stat("192.168.1.10:192.168.1.2:192.168.1.1:255.255.255.0:myhost:eth0:none:1.1.1.1:8.8.8.8:192.168.1.3");
    assert_eq!(
        s,
        StaticIp {
            client: a("192.168.1.10"),
            peer: Some(a("192.168.1.2")),
            gateway: Some(a("192.168.1.1")),
            prefix_len: 24,
            hostname: Some("myhost".into()),
            dev: Some("eth0".into()),
            autoconf: Autoconf::Off,
            dns: vec![a("1.1.1.1"), a("8.8.8.8")],
            ntp: Some(a("192.168.1.3")),
            mtu: None,
            mac: None,
        }
    );
    assert!(notes("192.168.1.10::192.168.1.1:255.255.255.0:myhost:eth0:off").is_empty());
    assert_eq!(
        stat("192.168.1.10::192.168.1.1:255.255.255.0::eth0:static").autoconf,
        Autoconf::Off
    );
}

#[test]
fn static_masks() {
    assert_eq!(stat("10.1.2.3::10.1.2.1:24::eth0:none").prefix_len, 24);
    assert_eq!(stat("10.1.2.3::10.1.2.1:/20::eth0:none").prefix_len, 20);
    assert_eq!(
        stat("10.1.2.3::10.1.2.1:255.255.240.0::eth0:none").prefix_len,
        20
    );
    assert_eq!(
        stat("10.1.2.3::10.1.2.1:255.255.255.255::eth0:none").prefix_len,
        32
    );
    assert_eq!(stat("10.1.2.3::10.1.2.1:0.0.0.0::eth0:none").prefix_len, 0);
    assert_eq!(stat("10.1.2.3/26::10.1.2.1:::eth0:none").prefix_len, 26);
    // Both given and disagreeing: the mask field wins, with a note.
    assert_eq!(stat("10.1.2.3/26::10.1.2.1:16::eth0:none").prefix_len, 16);
    assert_eq!(notes("10.1.2.3/26::10.1.2.1:16::eth0:none").len(), 1);
    // No mask: the address class, as the kernel does, with a note.
    assert_eq!(stat("10.1.2.3::10.1.2.1:::eth0:none").prefix_len, 8);
    assert_eq!(stat("172.16.0.5:::::eth0:none").prefix_len, 16);
    assert_eq!(stat("192.168.7.5:::::eth0:none").prefix_len, 24);
    let n = notes("192.168.7.5:::::eth0:none");
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].part, None, "nothing is ignored: a default is applied");
    assert!(n[0].reason.contains("192.168.7.5/24"), "{}", n[0]);
}

#[test]
fn static_variants() {
    // Five fields (no device, no method): the kernel's static form.
    let s = stat("10.0.0.5::10.0.0.1:255.255.255.0:server");
    assert_eq!(
        (s.dev, s.autoconf, s.hostname.as_deref()),
        (None, Autoconf::Unset, Some("server"))
    );
    assert!(notes("10.0.0.5::10.0.0.1:255.255.255.0:server").is_empty());
    // The interface written in the host-name field: dropped, with a note saying where it goes.
    let n = notes("10.0.0.5::10.0.0.1:255.255.255.0:eth0");
    assert_eq!(n.len(), 1);
    assert!(n[0].fix.contains("6th"), "{}", n[0]);
    assert_eq!(stat("10.0.0.5::10.0.0.1:255.255.255.0:eth0").hostname, None);
    // A lone address.
    assert_eq!(stat("10.0.0.5").client, a("10.0.0.5"));
    assert_eq!(stat("10.0.0.5/24").prefix_len, 24);
    // A client address with dhcp: static, as the kernel does, with a note.
    let s = stat("10.0.0.5::10.0.0.1:24::eth0:dhcp");
    assert_eq!((s.client, s.autoconf), (a("10.0.0.5"), Autoconf::Dhcp));
    assert!(notes("10.0.0.5::10.0.0.1:24::eth0:dhcp")[0]
        .reason
        .contains("static"));
    // Unsupported or unknown methods next to an address: static, with a note.
    assert_eq!(
        stat("10.0.0.5::10.0.0.1:24::eth0:bootp").autoconf,
        Autoconf::Unset
    );
    assert_eq!(notes("10.0.0.5::10.0.0.1:24::eth0:dchp").len(), 1);
    // Gateway 0.0.0.0 means none.
    assert_eq!(stat("10.0.0.5::0.0.0.0:24::eth0:none").gateway, None);
    // MTU and MAC after the method.
    let s = stat("10.0.0.5::10.0.0.1:24::eth0:none:1500:52:54:00:12:34:56");
    assert_eq!((s.mtu, s.mac, s.dns.len()), (Some(1500), Some(MAC), 0));
    // A peer with a prefix (dracut): the prefix is dropped with a note.
    let s = stat("10.0.0.5:10.0.0.6/31:::p2p:ppp0:none");
    assert_eq!(s.peer, Some(a("10.0.0.6")));
    // Leading zeros are decimal, as the kernel reads them.
    assert_eq!(stat("010.000.000.005::::::none").client, a("10.0.0.5"));
}

#[test]
fn trailing_colons() {
    assert_eq!(ok("dhcp:"), dhcp(None));
    assert_eq!(ok("dhcp::::"), dhcp(None));
    assert_eq!(ok("eth0:dhcp:"), dhcp(Some("eth0")));
    assert_eq!(stat("10.0.0.5::10.0.0.1:24::eth0:none::::").prefix_len, 24);
    assert!(notes("10.0.0.5::10.0.0.1:24::eth0:none::::").is_empty());
}

#[test]
fn client_id() {
    match ok("dhcp,1,52:54:00:12:34:56") {
        IpConfig::Dhcp { client_id, .. } => {
            assert_eq!(
                client_id,
                Some(ClientId {
                    kind: 1,
                    value: "52:54:00:12:34:56".into()
                })
            )
        }
        other => panic!("{other:?}"),
    }
    match ok("dhcp,0x3d,myhost") {
        IpConfig::Dhcp { client_id, .. } => assert_eq!(client_id.map(|c| c.kind), Some(0x3d)),
        other => panic!("{other:?}"),
    }
    // Malformed identifiers are dropped; DHCP still runs.
    for v in ["dhcp,abc,x", "dhcp,1", "dhcp,300,x", "dhcp,1,"] {
        assert_eq!(ok(v), dhcp(None), "{v}");
        assert_eq!(notes(v).len(), 1, "{v}");
    }
}

#[test]
fn dropped_parts_are_noted() {
    // Bad DNS, NTP, MTU, MAC, host name, peer: dropped, the rest used.
    let cases = [
        ("10.0.0.5::10.0.0.1:24::eth0:none:1.1.1", 1),
        (
            "10.0.0.5::10.0.0.1:24::eth0:none:1.1.1.1:2.2.2.2:3.3.3.3:4.4.4.4",
            1,
        ),
        ("10.0.0.5::10.0.0.1:24::eth0:none:[2606:4700::1111]", 1),
        ("10.0.0.5::10.0.0.1:24::eth0:none:12", 1),
        ("10.0.0.5::10.0.0.1:24::eth0:none:1500:52:54:00:12:34", 1),
        ("10.0.0.5::10.0.0.1:24:bad_host!:eth0:none", 1),
        ("10.0.0.5:peer:10.0.0.1:24::eth0:none", 1),
        ("eth0:off:1500", 1),
        ("eth0:auto6::::::", 0),
        (":::::eth0:dhcp:1.1.1.1:8.8.8.8:9.9.9.9", 1), // NTP only for static
    ];
    for (v, n) in cases {
        let got = notes(v);
        assert_eq!(got.len(), n, "ip={v}: {got:?}");
        for note in got {
            assert!(note.part.is_some(), "ip={v}: {note}");
            assert!(
                v.contains(note.part.as_deref().unwrap_or(""))
                    || note.part.as_deref() == Some("the fields after the method"),
                "ip={v}: {note}"
            );
            assert!(!note.fix.is_empty());
        }
    }
    assert_eq!(
        stat("10.0.0.5::10.0.0.1:24::eth0:none:1.1.1:8.8.8.8").dns,
        vec![a("8.8.8.8")]
    );
    assert_eq!(
        stat("10.0.0.5::10.0.0.1:24:bad_host!:eth0:none").hostname,
        None
    );
}

#[test]
fn malformed_words() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("   ", "empty"),
        (
            "192.168.1.256::192.168.1.1:24::eth0:none",
            "larger than 255",
        ),
        ("192.168.1::192.168.1.1:24::eth0:none", "four numbers"),
        ("1.2.3.4.5::1.2.3.1:24::eth0:none", "four numbers"),
        ("1.2.3.x::1.2.3.1:24::eth0:none", "not a number"),
        ("1.2.3.-4::1.2.3.1:24::eth0:none", "not a number"),
        ("1.2.3.4::1.2.3.1:255.0.255.0::eth0:none", "contiguous"),
        ("1.2.3.4::1.2.3.1:255.255.255.1::eth0:none", "contiguous"),
        ("1.2.3.4::1.2.3.1:33::eth0:none", "32"),
        ("1.2.3.4::1.2.3.1:/33::eth0:none", "32"),
        ("1.2.3.4/33::1.2.3.1:::eth0:none", "32"),
        ("1.2.3.4::1.2.3.1:255.255.255::eth0:none", "netmask"),
        ("1.2.3.4::1.2.3.1:abc::eth0:none", "prefix"),
        ("1.2.3.4::1.2.3.999:24::eth0:none", "larger than 255"),
        ("1.2.3.4::gateway:24::eth0:none", "IPv4"),
        ("0.0.0.0::1.2.3.1:24::eth0:none", "cannot be"),
        ("255.255.255.255::1.2.3.1:24::eth0:none", "cannot be"),
        ("224.0.0.1::1.2.3.1:24::eth0:none", "cannot be"),
        ("[2001:db8::2]::[2001:db8::1]:64::eth0:none", "IPv6"),
        ("[2001:db8::2]:::64::eth0:auto6", "IPv6"),
        ("2001:db8::2", "IPv6"),
        ("2001:db8::2/64", "IPv6"),
        ("10.0.0.2::[2001:db8::1]:24::eth0:none", "IPv6"),
        ("bootp", "not supported"),
        ("rarp", "not supported"),
        ("ibft", "not supported"),
        ("eth0:bootp", "not supported"),
        ("static", "client address"),
        ("eth0:static", "client address"),
        ("::192.168.1.1:255.255.255.0::eth0:none", "client address"),
        (":::::eth0:off", "client address"),
        (":::::eth0:dchp", "not an autoconfiguration method"),
        ("eth0", "ip=eth0:dhcp"),
        ("garbage!", "not a known"),
        ("dhcpx", "not a known"),
        ("1.2.3.4::1.2.3.1:24::this-is-far-too-long0:none", "15"),
        ("1.2.3.4::1.2.3.1:24::..:none", "interface"),
        ("off,dhcp", "both"),
        ("eth0:none,dhcp", "both"),
        ("1.2.3.4.5", "four numbers"),
        ("999.1.1.1", "larger than 255"),
        ("1.2.3.4/", "prefix"),
    ];
    for (v, needle) in cases {
        let e = err(v);
        let text = e.to_string();
        assert!(text.contains(needle), "ip={v}: `{text}` lacks `{needle}`");
        assert!(e.part.is_none(), "ip={v}");
        assert!(!e.fix.is_empty(), "ip={v}");
        assert_eq!(text, format!("{}; {}", e.reason, e.fix));
    }
}

#[test]
fn error_messages_are_bounded_and_escaped() {
    let long = format!("{}:dhcp", "x".repeat(10_000));
    let e = err(&long);
    assert!(e.to_string().len() < 400, "{}", e);
    let e = err("eth\u{1b}[31m0:dhcp");
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
    let e = err(&"é".repeat(100));
    assert!(e.to_string().contains('…'));
}

#[test]
fn never_panics() {
    let pieces = [
        "",
        ":",
        "::",
        "[",
        "]",
        "[::1]",
        "1.2.3.4",
        "/",
        "/99",
        "dhcp",
        ",",
        "eth0",
        "none",
        "999",
        "é",
        "\u{0}",
        "0x",
        "dhcp,",
        "-",
        "255.255.255.255",
        "52:54",
        "[2001:db8::",
    ];
    for x in pieces {
        for y in pieces {
            for z in pieces {
                let v = format!("{x}{y}:{z}{x}:{y}");
                let _ = parse_ip_with_notes(&v);
                let _ = parse_ip(&format!("{x}{y}{z}"));
                let _ = parse_nameserver(&format!("{x}{y}{z}"));
                let _ = parse_ifname(&format!("{x}:{y}{z}"));
            }
        }
    }
}

#[test]
fn nameservers() {
    assert_eq!(parse_nameserver("9.9.9.9"), Ok(IpAddr::V4(a("9.9.9.9"))));
    assert_eq!(
        parse_nameserver("2620:fe::fe"),
        Ok("2620:fe::fe".parse().unwrap())
    );
    assert_eq!(
        parse_nameserver("[2620:fe::fe]"),
        Ok("2620:fe::fe".parse().unwrap())
    );
    for bad in [
        "",
        "9.9.9",
        "dns.example",
        "0.0.0.0",
        "::",
        "224.0.0.251",
        "[9.9.9.9",
        "1.2.3.4:53",
    ] {
        let e = parse_nameserver(bad).expect_err(bad);
        assert!(e.fix.contains("nameserver="), "{bad}: {e}");
    }
}

#[test]
fn ifnames() {
    let want = IfName {
        name: "lan0".into(),
        mac: MAC,
    };
    assert_eq!(parse_ifname("lan0:52:54:00:12:34:56"), Ok(want.clone()));
    assert_eq!(parse_ifname("lan0:52-54-00-12-34-56"), Ok(want.clone()));
    assert_eq!(
        parse_ifname(
            "lan0:52:54:00:12:34:56"
                .to_uppercase()
                .replace("LAN", "lan")
                .as_str()
        ),
        Ok(want.clone())
    );
    assert_eq!(parse_ifname("lan0:525400123456"), Ok(want));
    assert_eq!(
        parse_ifname("bootnet:0:1:2:3:4:5").map(|i| i.mac),
        Ok([0, 1, 2, 3, 4, 5])
    );
    let cases: &[(&str, &str)] = &[
        ("lan0", "no MAC"),
        ("", "no MAC"),
        (":52:54:00:12:34:56", "empty"),
        ("lan0:52:54:00:12:34", "not a MAC"),
        ("lan0:52:54:00:12:34:56:78", "not a MAC"),
        ("lan0:52:54:00:12:34:5g", "not a MAC"),
        ("lan0:52:54-00:12:34:56", "not a MAC"),
        ("lan0:", "not a MAC"),
        ("averyveryverylongname:52:54:00:12:34:56", "15"),
        (".:52:54:00:12:34:56", "valid"),
        ("..:52:54:00:12:34:56", "valid"),
        ("a/b:52:54:00:12:34:56", "contains"),
        ("a b:52:54:00:12:34:56", "contains"),
        ("lan0:01:00:5e:00:00:01", "multicast"),
        ("lan0:00:00:00:00:00:00", "zero"),
    ];
    for (v, needle) in cases {
        let e = parse_ifname(v).expect_err(v);
        assert!(
            e.to_string().contains(needle),
            "ifname={v}: `{e}` lacks `{needle}`"
        );
    }
    // 15 bytes is the longest name the kernel allows.
    assert!(parse_ifname("abcdefghijklmno:52:54:00:12:34:56").is_ok());
    assert!(parse_ifname("abcdefghijklmnop:52:54:00:12:34:56").is_err());
}

#[test]
fn field_helpers() {
    assert_eq!(fields::split_fields("a:b::"), vec!["a", "b"]);
    assert_eq!(fields::split_fields("[1::2]:x"), vec!["[1::2]", "x"]);
    assert_eq!(fields::split_fields("[1::2"), vec!["[1::2"]);
    assert_eq!(fields::split_fields(""), vec![""]);
    assert!(fields::looks_like_ifname("eth0"));
    assert!(fields::looks_like_ifname("enp1s0"));
    assert!(fields::looks_like_ifname("ens3"));
    assert!(!fields::looks_like_ifname("enterprise1x"));
    assert!(!fields::looks_like_ifname("server"));
    assert!(!fields::looks_like_ifname("web01"));
    assert_eq!(fields::parse_mask("255.255.255.128"), Ok(25));
    assert_eq!(format_mac(&MAC), "52:54:00:12:34:56");
}
