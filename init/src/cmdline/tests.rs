//! Unit tests of the command-line parser: each form, and the malformed ones.

use std::net::Ipv4Addr;
use std::time::Duration;

use sesame_crypt::device::DeviceSpec;
use sesame_net::ip::IpConfig;

use super::*;

fn clean(line: &str) -> Cmdline {
    let (c, d) = parse(line);
    assert!(
        d.is_empty(),
        "{line}: {:?}",
        d.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    c
}

/// The single diagnostic `line` gives, as text.
fn one(line: &str) -> (Cmdline, String) {
    let (c, d) = parse(line);
    assert_eq!(
        d.len(),
        1,
        "{line}: {:?}",
        d.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    (c, d[0].to_string())
}

fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "`{text}` lacks `{n}`");
    }
}

const U1: &str = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";

#[test]
fn empty_lines() {
    for line in ["", " ", "   \t\n", "\n"] {
        assert_eq!(clean(line), Cmdline::default(), "{line:?}");
    }
}

#[test]
fn a_typical_line() {
    let line = format!(
        "BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=/dev/mapper/root ro quiet \
         rd.luks.uuid=luks-{U1} rd.luks.name={U1}=root ip=dhcp rd.neednet=1 \
         rd.sesame.ssh.port=2222 console=ttyS0,115200n8\n"
    );
    let c = clean(&line);
    assert_eq!(c.root, Some(DeviceSpec::Path("/dev/mapper/root".into())));
    assert_eq!(c.read_only, Some(true));
    assert!(c.quiet);
    assert_eq!(c.luks.uuids, vec![U1.to_string()]);
    assert_eq!(c.luks.name_for(U1), Some("root"));
    assert_eq!(c.ip.len(), 1);
    assert_eq!(c.neednet, Some(true));
    assert_eq!(c.sesame.ssh_port, Some(2222));
}

#[test]
fn root_forms() {
    assert_eq!(
        clean("root=UUID=ABCDEF12-3456").root,
        Some(DeviceSpec::Uuid("abcdef12-3456".into()))
    );
    assert_eq!(
        clean("root=LABEL=root").root,
        Some(DeviceSpec::Label("root".into()))
    );
    assert_eq!(
        clean(r#"root="LABEL=my root""#).root,
        Some(DeviceSpec::Label("my root".into()))
    );
    assert_eq!(
        clean("root=PARTUUID=1234abcd-02").root,
        Some(DeviceSpec::PartUuid("1234abcd-02".into()))
    );
    assert_eq!(
        clean("root=PARTLABEL=linux").root,
        Some(DeviceSpec::PartLabel("linux".into()))
    );
    assert_eq!(
        clean("root=/dev/vda2").root,
        Some(DeviceSpec::Path("/dev/vda2".into()))
    );
    assert_eq!(
        clean("root=block:/dev/vda2").root,
        Some(DeviceSpec::Path("/dev/vda2".into()))
    );
    assert_eq!(
        clean("root=/dev/disk/by-uuid/abcdef12-0000").root,
        Some(DeviceSpec::Uuid("abcdef12-0000".into()))
    );
    // The same root twice is no conflict.
    assert_eq!(
        clean("root=/dev/vda root=/dev/vda").root,
        Some(DeviceSpec::Path("/dev/vda".into()))
    );
}

#[test]
fn malformed_roots() {
    let cases: &[(&str, &[&str])] = &[
        ("root=", &["ignoring `root=`", "empty", "root=UUID="]),
        ("root", &["needs a value"]),
        ("root=UUID=", &["UUID= has no value"]),
        ("root=UUID=xyz", &["not a valid UUID"]),
        ("root=sda1", &["root=/dev/sda1"]),
        ("root=/dev/nfs", &["network"]),
        ("root=nfs:10.0.0.1:/srv/root", &["network"]),
        ("root=10.0.0.1:/srv/root", &["network"]),
        ("root=dhcp", &["network"]),
        (
            "root=iscsi:10.0.0.1::::iqn.2009-06.dracut:target0",
            &["network"],
        ),
        ("root=01:00", &["device number"]),
        ("root=8:1", &["device number"]),
        ("root=0801", &["device number"]),
        ("root=ZFS=rpool/ROOT/debian", &["ZFS"]),
        ("root=zfs:AUTO", &["ZFS"]),
        ("root=live:CDLABEL=x", &["live"]),
        ("root=gpt-auto", &["systemd"]),
        ("root=tmpfs", &["systemd"]),
        ("root=PARTUUID=1234abcd-01/PARTNROFF=1", &["PARTNROFF"]),
        ("root=FOO=bar", &["not a device"]),
    ];
    for (line, needles) in cases {
        let (c, text) = one(line);
        assert_eq!(c.root, None, "{line}");
        assert_has(&text, needles);
        assert!(text.starts_with("ignoring `"), "{text}");
    }
}

#[test]
fn root_and_init_overrides_are_reported() {
    let (c, d) = parse("root=/dev/sda1 init=/sbin/init root=UUID=abcdef12-3456 init=/bin/sh");
    assert_eq!(c.root, Some(DeviceSpec::Uuid("abcdef12-3456".into())));
    assert_eq!(c.init.as_deref(), Some("/bin/sh"));
    assert_eq!(d.len(), 2);
    assert_has(
        &d[0].to_string(),
        &[
            "ignoring `root=/dev/sda1`",
            "root=UUID=abcdef12-3456",
            "last root= wins",
        ],
    );
    assert_has(
        &d[1].to_string(),
        &["ignoring `init=/sbin/init`", "last init= wins"],
    );
    // A malformed later root= does not override a good one.
    let (c, d) = parse("root=/dev/sda1 root=");
    assert_eq!(c.root, Some(DeviceSpec::Path("/dev/sda1".into())));
    assert_eq!(d.len(), 1);
}

#[test]
fn rootfs_words() {
    let c = clean("rootfstype=ext4 rootflags=noatime,discard rw ro rw");
    assert_eq!(c.rootfstype.as_deref(), Some("ext4"));
    assert_eq!(c.rootflags.as_deref(), Some("noatime,discard"));
    assert_eq!(c.read_only, Some(false), "the last of ro/rw wins");
    assert_eq!(clean("rootflags=").rootflags, None);
    assert_has(&one("rootfstype=").1, &["file system type"]);
    // ro=/rw= with a value are not the kernel's flags: left alone.
    assert_eq!(clean("ro=1").read_only, None);
}

#[test]
fn init_and_its_arguments() {
    let c = clean(r#"root=/dev/vda init=/lib/systemd/systemd -- single "x=1 2" -v"#);
    assert_eq!(c.init.as_deref(), Some("/lib/systemd/systemd"));
    assert_eq!(c.init_args, vec!["single", "x=1 2", "-v"]);
    // Words after `--` are init's, not ours.
    let c = clean("-- root=/dev/sda1 rd.sesame.ssh.port=0");
    assert_eq!(c.root, None);
    assert_eq!(c.init_args, vec!["root=/dev/sda1", "rd.sesame.ssh.port=0"]);
    let (c, text) = one("init=sbin/init");
    assert_eq!(c.init, None);
    assert_has(&text, &["not an absolute path", "init=/sbin/init"]);
    assert_has(&one("init=").1, &["init=/sbin/init"]);
    assert_has(&one("init").1, &["init=/sbin/init"]);
    assert_has(
        &one(r#"init="/bin/sh -x""#).1,
        &["not a command line", "--"],
    );
}

#[test]
fn kernel_flags() {
    let c = clean("quiet debug panic=10 loglevel=3");
    assert!(c.quiet && c.debug);
    assert!(!clean("").quiet);
}

#[test]
fn network_words() {
    let c = clean("ip=eth0:dhcp ip=10.0.0.5::10.0.0.1:24:h:eth1:none nameserver=9.9.9.9 nameserver=9.9.9.9 nameserver=2620:fe::fe rd.peerdns=0 ifname=lan0:52:54:00:12:34:56");
    assert_eq!(c.ip.len(), 2);
    assert!(matches!(c.ip[0], IpConfig::Dhcp { .. }));
    assert!(matches!(&c.ip[1], IpConfig::Static(s) if s.client == Ipv4Addr::new(10, 0, 0, 5)));
    assert_eq!(c.nameservers.len(), 2, "duplicates are dropped");
    assert_eq!(c.peerdns, Some(false));
    assert_eq!(c.ifnames.len(), 1);
    assert_eq!(clean("rd.neednet").neednet, Some(true));
    assert_eq!(clean("rd.neednet=0").neednet, Some(false));
}

#[test]
fn malformed_network_words() {
    let cases: &[(&str, &[&str])] = &[
        ("ip", &["ip needs a value"]),
        ("ip=", &["empty"]),
        (
            "ip=garbage",
            &["ignoring `ip=garbage`", "not a known ip= form"],
        ),
        ("ip=:::::", &[]),
        (
            "ip=1.2.3.4::1.2.3.1:255.0.255.0::eth0:none",
            &["contiguous"],
        ),
        ("ip=1.2.3.4::1.2.3.1:33::eth0:none", &["32"]),
        (
            "ip=[2001:db8::2]::[2001:db8::1]:64::eth0:none",
            &["IPv6", "not supported yet"],
        ),
        ("ip=bootp", &["not supported"]),
        ("nameserver=dns.example", &["nameserver="]),
        ("nameserver", &["nameserver="]),
        ("ifname=lan0", &["MAC"]),
        ("rd.neednet=maybe", &["boolean", "rd.neednet=1"]),
    ];
    for (line, needles) in cases {
        let (c, d) = parse(line);
        if needles.is_empty() {
            assert!(d.is_empty(), "{line}: {d:?}");
            continue;
        }
        assert_eq!(d.len(), 1, "{line}: {d:?}");
        assert!(
            c.ip.is_empty() && c.nameservers.is_empty() && c.ifnames.is_empty(),
            "{line}"
        );
        assert_has(&d[0].to_string(), needles);
    }
    // A word used in part: a note naming the ignored part.
    let (c, text) = one("ip=eth0:dhcp:notanmtu");
    assert_eq!(c.ip.len(), 1);
    assert_has(
        &text,
        &["ignoring `notanmtu` in `ip=eth0:dhcp:notanmtu`", "MTU"],
    );
    // A note about a default: nothing ignored.
    let (c, text) = one("ip=192.168.1.5:::::eth0:none");
    assert_eq!(c.ip.len(), 1);
    assert!(
        text.starts_with("`ip=192.168.1.5:::::eth0:none`: "),
        "{text}"
    );
    // Conflicting ifname= words.
    let (c, text) = one("ifname=lan0:52:54:00:12:34:56 ifname=lan0:52:54:00:12:34:57");
    assert_eq!(c.ifnames.len(), 1);
    assert_has(&text, &["conflicts"]);
}

#[test]
fn luks_words() {
    let (c, d) = parse(&format!(
        "rd.luks.uuid={U1} rd.luks.options=discard,bogus rd.luks.key=/etc/k:LABEL=usb rd.luks.crypttab=0 luks.uuid={U1}"
    ));
    assert_eq!(c.luks.uuids, vec![U1.to_string()]);
    assert!(c.luks.options_for(U1).discard);
    assert_eq!(c.luks.no_crypttab, Some(true));
    assert_eq!(c.luks.keys.len(), 1);
    assert_eq!(d.len(), 1);
    assert_has(
        &d[0].to_string(),
        &[
            "ignoring `bogus` in `rd.luks.options=discard,bogus`",
            "unknown option",
        ],
    );
    assert_eq!(clean("rd.luks=0").luks.enabled, Some(false));
    let (_, text) = one("rd.luks.uuid=");
    assert_has(&text, &["ignoring `rd.luks.uuid=`", "needs a value"]);
    let (_, text) = one("rd.luks.uiid=x");
    assert_has(&text, &["did you mean rd.luks.uuid?"]);
    let (_, text) = one("rd.luks.options=tpm2-device=auto");
    assert_has(&text, &["TPM2", "passphrase"]);
}

#[test]
fn break_and_timeout() {
    assert!(clean("rd.break").rd_break);
    assert!(clean("rd.break=pre-switch-root").rd_break);
    assert!(clean("rd.break=pre-pivot").rd_break);
    assert!(clean("rd.break=cleanup").rd_break);
    assert!(!clean("rd.break rd.break=0").rd_break);
    let (c, text) = one("rd.break=pre-mount");
    assert!(c.rd_break);
    assert_has(
        &text,
        &[
            "ignoring `pre-mount` in `rd.break=pre-mount`",
            "before switch_root",
        ],
    );
    let (c, text) = one("rd.break=bogus");
    assert!(!c.rd_break);
    assert_has(&text, &["not a break point", "continue"]);

    assert_eq!(
        clean("rd.timeout=300").timeout,
        Some(Duration::from_secs(300))
    );
    assert_eq!(clean("rd.timeout=0").timeout, Some(Duration::ZERO));
    assert_eq!(
        clean("rd.timeout=5min").timeout,
        Some(Duration::from_secs(300))
    );
    assert_eq!(
        clean("rd.timeout=1 rd.timeout=2").timeout,
        Some(Duration::from_secs(2))
    );
    for (line, needle) in [
        ("rd.timeout=abc", "not a time span"),
        ("rd.timeout=-1", "negative"),
        ("rd.timeout=", "needs a number"),
        ("rd.timeout", "needs a number"),
        ("rd.timeout=99999999999999999999999y", "not a time span"),
    ] {
        let (c, text) = one(line);
        assert_eq!(c.timeout, None, "{line}");
        assert_has(&text, &[needle, "rd.timeout="]);
    }
}

#[test]
fn sesame_knobs() {
    let c = clean(
        "rd.sesame.ssh=0 rd.sesame.ssh.port=22 rd.sesame.net.keep rd.sesame.keyring=no \
         rd.sesame.overlayroot=tmpfs rd.sesame.debug=true rd.sesame.console=off",
    );
    assert_eq!(c.sesame.ssh, Some(false));
    assert_eq!(c.sesame.ssh_port, Some(22));
    assert_eq!(c.sesame.net_keep, Some(true));
    assert_eq!(c.sesame.keyring, Some(false));
    assert_eq!(c.sesame.overlayroot, Some(Overlayroot::Tmpfs));
    assert_eq!(c.sesame.debug, Some(true));
    assert_eq!(c.sesame.console, Some(false));
    for (v, want) in [
        ("1", true),
        ("yes", true),
        ("on", true),
        ("TRUE", true),
        ("0", false),
        ("no", false),
        ("off", false),
        ("false", false),
    ] {
        assert_eq!(
            clean(&format!("rd.sesame.net.keep={v}")).sesame.net_keep,
            Some(want),
            "{v}"
        );
    }
    assert_eq!(
        clean("rd.sesame.ssh.port=65535").sesame.ssh_port,
        Some(65535)
    );
    assert_eq!(clean("rd.sesame.ssh.port=1").sesame.ssh_port, Some(1));
    assert_eq!(
        clean("rd.sesame.overlayroot=dev:LABEL=scratch")
            .sesame
            .overlayroot,
        Some(Overlayroot::Dev(DeviceSpec::Label("scratch".into())))
    );
    assert_eq!(
        clean("rd.sesame.overlayroot=crypt:overlay")
            .sesame
            .overlayroot,
        Some(Overlayroot::Crypt("overlay".into()))
    );
    assert_eq!(
        clean("rd.sesame.overlayroot=disabled").sesame.overlayroot,
        Some(Overlayroot::Disabled)
    );
    assert_eq!(
        clean("rd.debug").sesame.debug,
        Some(true),
        "dracut's rd.debug"
    );
    assert_eq!(
        clean("rd.sesame.ssh.port=1 rd.sesame.ssh.port=2")
            .sesame
            .ssh_port,
        Some(2)
    );
}

#[test]
fn malformed_sesame_knobs() {
    let cases: &[(&str, &[&str])] = &[
        (
            "rd.sesame.ssh.port=0",
            &["port 0", "rd.sesame.ssh.port=<1-65535>"],
        ),
        ("rd.sesame.ssh.port=70000", &["larger than 65535"]),
        (
            "rd.sesame.ssh.port=99999999999999999999",
            &["larger than 65535"],
        ),
        ("rd.sesame.ssh.port=22x", &["not a port number"]),
        ("rd.sesame.ssh.port=-22", &["not a port number"]),
        ("rd.sesame.ssh.port=", &["port number is needed"]),
        ("rd.sesame.ssh.port", &["port number is needed"]),
        ("rd.sesame.ssh=maybe", &["not a boolean", "rd.sesame.ssh=1"]),
        (
            "rd.sesame.sssh.port=22",
            &["not a sesame parameter", "did you mean rd.sesame.ssh.port?"],
        ),
        (
            "rd.sesame.ssh.prot=22",
            &["did you mean rd.sesame.ssh.port?"],
        ),
        ("rd.sesame.netkeep", &["did you mean rd.sesame.net.keep?"]),
        (
            "rd.sesame.frobnicate=1",
            &["the sesame parameters are", "rd.sesame.ssh.port"],
        ),
        ("rd.sesame", &["the sesame parameters are"]),
        (
            "rd.sesame.overlayroot=zram",
            &["not an overlay root", "tmpfs"],
        ),
        ("rd.sesame.overlayroot", &["a value is needed"]),
        ("rd.sesame.overlayroot=dev:sdb", &["not a device"]),
        ("rd.sesame.overlayroot=crypt:a/b", &["'/'"]),
    ];
    for (line, needles) in cases {
        let (c, text) = one(line);
        assert_eq!(c.sesame, SesameOpts::default(), "{line}");
        assert_has(&text, needles);
        assert_has(&text, &[&format!("ignoring `{line}`")]);
    }
}

#[cfg(not(feature = "test-hooks"))]
#[test]
fn test_hooks_only_in_test_builds() {
    let (_, text) = one("rd.sesame.test.panic=unlock");
    assert_has(&text, &["only in test builds"]);
}

#[cfg(feature = "test-hooks")]
#[test]
fn test_hooks() {
    assert_eq!(
        clean("rd.sesame.test.panic=unlock")
            .sesame
            .test_panic
            .as_deref(),
        Some("unlock")
    );
    assert_has(&one("rd.sesame.test.panic=").1, &["stage"]);
}

#[test]
fn typos_in_other_rd_words() {
    assert_has(&one("rd.lukss.uuid=x").1, &["did you mean rd.luks.uuid?"]);
    assert_has(&one("rd.neednt=1").1, &["did you mean rd.neednet?"]);
    assert_has(&one("rd.tiemout=5").1, &["did you mean rd.timeout?"]);
    assert_has(
        &one("rd.sesam.ssh.port=22").1,
        &["did you mean rd.sesame.ssh.port?"],
    );
    // dracut's and systemd's own words are left alone.
    clean("rd.lvm=0 rd.md=0 rd.dm=0 rd.auto rd.info rd.shell rd.retry=10 rd.udev.debug rd.lvm.vg=vg0 rd.md.uuid=x rd.driver.pre=virtio_blk rd.systemd.unit=emergency.target rd.emergency=reboot rd.fstab=0 rd.iscsi.firmware rd.multipath=0");
    // Unknown words that are not rd.* are the real system's.
    clean("console=ttyS0 systemd.unit=rescue.target foo bar=baz rot=/dev/sda1 nomodeset");
}

#[test]
fn quotes_in_words() {
    // An unterminated quote that swallowed the rest of the line: reported, not used.
    let (c, text) = one(r#"root="/dev/sda1 ro quiet"#);
    assert_eq!((c.root, c.read_only, c.quiet), (None, None, false));
    assert_has(&text, &["never closed", "close the quote"]);
    // An unterminated quote at the very end swallowed nothing: used.
    assert_eq!(
        clean(r#"ro root="/dev/sda1"#).root,
        Some(DeviceSpec::Path("/dev/sda1".into()))
    );
    // Stray quotes inside a value stay in it.
    assert_has(&one(r#"rd.sesame.ssh.port=2"2"#).1, &["not a port number"]);
    assert_eq!(
        clean(r#""rd.sesame.ssh.port=2222""#).sesame.ssh_port,
        Some(2222)
    );
    assert_eq!(
        clean(r#"rd.sesame.ssh.port="2222""#).sesame.ssh_port,
        Some(2222)
    );
}

#[test]
fn binary_junk_and_long_words() {
    // Every byte but NUL (which ends the line) and `"` (which would swallow the rest).
    let mut junk: Vec<u8> = (1u8..=255).filter(|&b| b != b'"').collect();
    junk.extend_from_slice(b" root=/dev/\xff\xfe rd.sesame.ssh.port=\xc3\x28 ro");
    let (c, d) = parse_bytes(&junk);
    assert_eq!(
        c.root,
        Some(DeviceSpec::Path("/dev/\u{fffd}\u{fffd}".into()))
    );
    for diag in &d {
        assert!(
            !diag.to_string().chars().any(|ch| ch.is_control()),
            "{diag}"
        );
    }
    let (c2, d2) = parse(&String::from_utf8_lossy(&junk));
    assert_eq!(c.sesame.ssh_port, c2.sesame.ssh_port);
    assert_eq!(d.len(), d2.len());

    let long = format!(
        "rd.sesame.ssh.port={} root=/dev/{} rd.sesame.{}=1 init={} rd.sesame.overlayroot=dev:{} rd.luks.key=/k:UUID={}",
        "9".repeat(100_000),
        "x".repeat(100_000),
        "y".repeat(100_000),
        "z".repeat(100_000),
        "w".repeat(100_000),
        "v".repeat(100_000),
    );
    let (c, d) = parse(&long);
    assert_eq!(d.len(), 5);
    let (_, d2) = parse(&format!("root={}", "q".repeat(100_000)));
    assert_eq!(d2.len(), 1);
    assert!(d2[0].reason.len() < 300, "{}", d2[0].reason.len());
    assert!(c.root.is_some());
    for diag in d {
        assert!(
            diag.to_string().len() < 500,
            "{}: {diag}",
            diag.to_string().len()
        );
    }
}

#[test]
fn known_keys_cover_everything_sesame_reads() {
    let known: Vec<&str> = known_keys().collect();
    for k in sesame_crypt::spec::LUKS_KEYS {
        assert!(known.contains(k), "{k}");
    }
    for k in SESAME_KEYS {
        assert!(known.contains(k) || k.starts_with("rd.sesame.test."), "{k}");
    }
    assert!(known.contains(&"root") && known.contains(&"rd.timeout"));
    // Every known key, given a sensible value, is taken without a diagnostic.
    for k in known {
        let value = match k {
            "root" => "=/dev/vda",
            "rootfstype" => "=ext4",
            "rootflags" => "=noatime",
            "init" => "=/sbin/init",
            "ip" => "=dhcp",
            "nameserver" => "=9.9.9.9",
            "ifname" => "=lan0:52:54:00:12:34:56",
            "rd.timeout" | "rd.luks.timeout" | "luks.timeout" => "=30",
            "rd.sesame.ssh.port" => "=22",
            "rd.sesame.overlayroot" => "=tmpfs",
            "rd.luks.uuid" | "luks.uuid" => "=0b3c5a1e",
            "rd.luks.name" | "luks.name" => "=0b3c5a1e=root",
            "rd.luks.options" | "luks.options" => "=discard",
            "rd.luks.key" | "luks.key" => "=/k",
            _ => "",
        };
        clean(&format!("{k}{value}"));
    }
}

#[test]
fn never_panics() {
    let pieces = [
        "",
        " ",
        "\"",
        "=",
        "--",
        "root",
        "ip",
        "rd.luks.key",
        "rd.sesame.ssh.port",
        "rd.break",
        ":",
        "/",
        "é",
        "\u{a0}",
        "\u{0}",
        "UUID=",
        "0",
        "x",
    ];
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let _ = parse(&format!("{a}{b}={c}{a} {b}{c}"));
            }
        }
    }
}

#[test]
fn serializes_for_the_status() {
    let (c, d) = parse(&format!(
        "root=UUID=abcdef12-3456 ip=eth0:dhcp::52:54:00:12:34:56 rd.luks.key={U1}=/k:LABEL=usb \
         rd.sesame.overlayroot=dev:/dev/vdb ifname=lan0:52:54:00:12:34:56 rd.timeout=oops"
    ));
    let json = serde_json::to_string(&c).unwrap();
    for needle in [
        r#""root":"UUID=abcdef12-3456""#,
        r#""mac":"52:54:00:12:34:56""#,
        r#""device":"LABEL=usb""#,
        r#""target":"/dev/vdb""#,
        r#""method":"dhcp""#,
    ] {
        assert!(json.contains(needle), "{json} lacks {needle}");
    }
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains(r#""ignored":"word""#), "{json}");
}

/// The fault matrix's corpus (tests/faults/cmdline_corpus.txt, booted whole by
/// tests/faults/cmdline.rs): every word gives a diagnostic naming it, with a reason and a
/// fix, and a valid `root=` after them all still wins.
#[test]
fn the_fault_corpus_is_reported_word_by_word() {
    let corpus = include_str!("../../../tests/faults/cmdline_corpus.txt");
    let words: Vec<&str> = corpus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(words.len() >= 30, "{} words", words.len());
    let mut silent = Vec::new();
    for w in &words {
        let (_, d) = parse(w);
        match d.iter().find(|d| d.word == *w) {
            Some(d) => assert!(
                !d.reason.is_empty() && !d.fix.is_empty(),
                "{w}: reason or fix missing: {d}"
            ),
            None => silent.push(*w),
        }
    }
    assert!(silent.is_empty(), "not reported: {silent:?}");
    let line = format!("{} root=UUID={U1} ro", words.join(" "));
    let (c, d) = parse(&line);
    assert_eq!(c.root, Some(DeviceSpec::Uuid(U1.into())));
    assert!(d.len() >= words.len(), "{} diagnostics", d.len());
}

/// Found by `cargo xtask fuzz --seconds 300` (cmdline): an `rd.luks.key=` value of 150
/// control characters printed a 2191-byte diagnostic, because each escaped character
/// (`\u{15}`) counted as one. Diagnostics stay short and printable whatever the junk.
#[test]
fn control_character_junk_keeps_diagnostics_short() {
    let mut line =
        b"_r\x08----\toUotuoot::::::::::::%::}::::::::::::::uks=ks.\t.\x08----\trd.luks.key="
            .to_vec();
    line.extend(std::iter::repeat_n(0x15, 150));
    line.extend_from_slice(b"-lrootflag>\x00\x00\x00s\t\ruuj");
    let (_, diags) = parse_bytes(&line);
    assert!(!diags.is_empty());
    for d in &diags {
        let text = d.to_string();
        assert!(text.len() < 2048, "{} bytes: {text}", text.len());
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
}
