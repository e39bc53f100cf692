//! Unit tests of the `rd.luks.*` words.

use std::time::Duration;

use super::*;

const U1: &str = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";
const U2: &str = "11111111-2222-3333-4444-555555555555";

fn apply(words: &[(&str, Option<&str>)]) -> LuksCmdline {
    let mut l = LuksCmdline::default();
    for (k, v) in words {
        match l.apply(k, *v) {
            Ok(true) => {}
            other => panic!("{k}={v:?}: {other:?}"),
        }
    }
    l
}

fn reject(key: &str, value: Option<&str>) -> SpecError {
    let mut l = LuksCmdline::default();
    match l.apply(key, value) {
        Err(e) => {
            assert_eq!(
                l,
                LuksCmdline::default(),
                "{key}: a rejected word changed the state"
            );
            e
        }
        other => panic!("{key}={value:?} gave {other:?}"),
    }
}

#[test]
fn not_ours() {
    let mut l = LuksCmdline::default();
    for k in [
        "root",
        "rd.lvm",
        "rd.luksx",
        "luksfoo",
        "rd.md.uuid",
        "rd.sesame.ssh",
    ] {
        assert_eq!(l.apply(k, Some("1")), Ok(false), "{k}");
    }
    assert_eq!(l, LuksCmdline::default());
}

#[test]
fn switches() {
    assert_eq!(apply(&[("rd.luks", Some("0"))]).enabled, Some(false));
    assert_eq!(apply(&[("luks", Some("no"))]).enabled, Some(false));
    assert_eq!(apply(&[("rd.luks", None)]).enabled, Some(true));
    assert_eq!(
        apply(&[("rd.luks", Some("0")), ("rd.luks", Some("1"))]).enabled,
        Some(true)
    );
    assert_eq!(
        apply(&[("rd.luks.crypttab", Some("0"))]).no_crypttab,
        Some(true)
    );
    assert_eq!(
        apply(&[("luks.crypttab", Some("yes"))]).no_crypttab,
        Some(false)
    );
    assert!(reject("rd.luks", Some("maybe"))
        .to_string()
        .contains("rd.luks=0"));
    assert!(reject("rd.luks.crypttab", Some("2"))
        .to_string()
        .contains("boolean"));
}

#[test]
fn uuids() {
    let l = apply(&[
        ("rd.luks.uuid", Some(U1)),
        ("rd.luks.uuid", Some(&format!("luks-{}", U2.to_uppercase()))),
        ("luks.uuid", Some(U1)),
        ("rd.luks.uuid", Some("keysource:abcdef12")),
    ]);
    assert_eq!(
        l.uuids,
        vec![U1.to_string(), U2.to_string(), "abcdef12".to_string()]
    );
    assert!(l.restricts());
    assert!(l.wants(U1) && l.wants(U2));
    assert!(
        l.wants("abcdef12-0000-0000-0000-000000000000"),
        "dracut's prefix match"
    );
    assert!(!l.wants("99999999-0000-0000-0000-000000000000"));
    assert!(LuksCmdline::default().wants(U1));
    for bad in [
        Some(""),
        None,
        Some("xyz"),
        Some("luks-"),
        Some("/dev/sda2"),
    ] {
        let e = reject("rd.luks.uuid", bad);
        assert!(!e.fix.is_empty(), "{bad:?}");
    }
}

#[test]
fn names() {
    let l = apply(&[
        ("rd.luks.name", Some(&format!("{U1}=root"))),
        ("rd.luks.name", Some(&format!("UUID={U2}=home"))),
        ("rd.luks.name", Some(&format!("{U1}=cryptroot"))),
    ]);
    assert_eq!(
        l.names,
        vec![(U2.into(), "home".into()), (U1.into(), "cryptroot".into())]
    );
    assert_eq!(l.name_for(U1), Some("cryptroot"));
    assert_eq!(l.name_for("00000000"), None);
    assert!(l.wants(U2));

    // The same name for another volume is rejected.
    let mut l = apply(&[("rd.luks.name", Some(&format!("{U1}=root")))]);
    let e = l
        .apply("rd.luks.name", Some(&format!("{U2}=root")))
        .unwrap_err();
    assert!(e.reason.contains("already"), "{e}");
    assert_eq!(l.names.len(), 1);

    for (v, needle) in [
        (U1.to_string(), "no name"),
        (format!("{U1}="), "empty"),
        (format!("{U1}=a/b"), "'/'"),
        (format!("{U1}=control"), "device-mapper"),
        ("nonsense=root".to_string(), "not a LUKS UUID"),
    ] {
        let e = reject("rd.luks.name", Some(&v));
        assert!(e.to_string().contains(needle), "{v}: {e}");
    }
}

#[test]
fn options() {
    let mut l = LuksCmdline::default();
    let mut notes = Vec::new();
    assert_eq!(
        l.apply_noting("rd.luks.options", Some("discard,tries=3"), &mut notes),
        Ok(true)
    );
    assert_eq!(
        l.apply_noting(
            "rd.luks.options",
            Some(&format!("{U1}=readonly,bogus")),
            &mut notes
        ),
        Ok(true)
    );
    assert_eq!(
        l.apply_noting(
            "rd.luks.options",
            Some(&format!("luks-{U2}=no-read-workqueue")),
            &mut notes
        ),
        Ok(true)
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].part.as_deref(), Some("bogus"));
    // Per-volume options replace the default ones, as in systemd.
    let o1 = l.options_for(U1);
    assert!(o1.readonly && !o1.discard && o1.tries.is_none());
    assert!(l.options_for(U2).no_read_workqueue);
    let other = l.options_for("99999999-0000-0000-0000-000000000000");
    assert!(other.discard && other.tries == Some(3));
    // The last default wins.
    l.apply("rd.luks.options", Some("nofail")).unwrap();
    assert!(l.options_for("99999999").nofail);
    assert_eq!(l.options.iter().filter(|(u, _)| u.is_none()).count(), 1);
    // `tries=3` is an option, not a UUID; a hex-looking prefix is checked as a UUID.
    assert!(reject("rd.luks.options", Some("abc=discard"))
        .reason
        .contains("UUID"));
    assert!(reject("rd.luks.options", None)
        .reason
        .contains("needs a value"));
}

#[test]
fn allow_discards() {
    let l = apply(&[("rd.luks.allow-discards", Some(U1))]);
    assert!(l.options_for(U1).discard);
    assert!(!l.options_for(U2).discard);
    let l = apply(&[("rd.luks.allow-discards", None)]);
    assert!(l.options_for(U2).discard);
}

#[test]
fn keys() {
    let l = apply(&[
        ("rd.luks.key", Some("/etc/default.key")),
        (
            "rd.luks.key",
            Some(&format!("{U1}=/keys/root.key:LABEL=usbkey")),
        ),
        (
            "rd.luks.key",
            Some(&format!("{U2}=/dev/disk/by-partlabel/rawkey")),
        ),
    ]);
    assert_eq!(l.keys.len(), 3);
    assert_eq!(
        l.key_for(U1),
        Some(&KeySpec {
            uuid: Some(U1.into()),
            path: "/keys/root.key".into(),
            device: Some(DeviceSpec::Label("usbkey".into())),
        })
    );
    assert_eq!(
        l.key_for("99999999").map(|k| k.path.as_str()),
        Some("/etc/default.key")
    );
    assert_eq!(
        l.key_for(U2).map(|k| k.path.as_str()),
        Some("/dev/disk/by-partlabel/rawkey")
    );

    // dracut's <keypath>:<keydev>:<luksdev>.
    let l = apply(&[(
        "rd.luks.key",
        Some(&format!("/k.bin:UUID=abcdef12-3456:UUID={U1}")),
    )]);
    assert_eq!(
        l.keys,
        vec![KeySpec {
            uuid: Some(U1.into()),
            path: "/k.bin".into(),
            device: Some(DeviceSpec::Uuid("abcdef12-3456".into())),
        }]
    );
    // A colon inside a by-path device name stays in the device.
    let l = apply(&[(
        "rd.luks.key",
        Some("/k:/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part1"),
    )]);
    assert_eq!(
        l.keys[0].device,
        Some(DeviceSpec::Path(
            "/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part1".into()
        ))
    );
    // The last key for a volume wins.
    let l = apply(&[("rd.luks.key", Some("/a")), ("rd.luks.key", Some("/b"))]);
    assert_eq!(l.keys.len(), 1);
    assert_eq!(l.keys[0].path, "/b");

    for (v, needle) in [
        ("relative.key", "absolute"),
        ("", "needs a value"),
        ("nothex=/k", "not a LUKS UUID"),
        ("/k:UUID=", "UUID= has no value"),
        ("/k:UUID=zz", "not a valid UUID"),
        ("/k:LABEL=usb:/dev/sda2", "not named by UUID="),
    ] {
        let e = reject("rd.luks.key", Some(v));
        assert!(
            e.to_string().contains(needle),
            "{v}: `{e}` lacks `{needle}`"
        );
    }
    let e = reject("rd.luks.key", Some(&format!("{U1}=/k:LABEL=usb:UUID={U2}")));
    assert!(e.reason.contains("twice"), "{e}");
}

#[test]
fn timeout_and_unknown_words() {
    assert_eq!(
        apply(&[("rd.luks.timeout", Some("30"))]).timeout,
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        apply(&[("rd.luks.timeout", Some("0"))]).timeout,
        Some(Duration::ZERO)
    );
    assert!(reject("rd.luks.timeout", Some("-1"))
        .reason
        .contains("negative"));
    assert!(reject("rd.luks.timeout", Some("soon"))
        .reason
        .contains("time span"));
    let e = reject("rd.luks.uiid", Some(U1));
    assert!(e.fix.contains("did you mean rd.luks.uuid?"), "{e}");
    let e = reject("luks.nmae", Some("x"));
    assert!(e.fix.contains("did you mean luks.name?"), "{e}");
    let e = reject("rd.luks.frobnicate", None);
    assert!(e.fix.contains("rd.luks.uuid"), "{e}");
    assert!(reject("rd.luks.data", Some(U1))
        .reason
        .contains("not supported"));
    assert!(reject("rd.luks.key.tout", Some("10"))
        .fix
        .contains("keyfile-timeout"));
}

#[test]
fn never_panics() {
    let keys = [
        "rd.luks",
        "rd.luks.uuid",
        "rd.luks.name",
        "rd.luks.options",
        "rd.luks.key",
        "rd.luks.x",
    ];
    let values = [
        "",
        "=",
        "==",
        ":",
        "::",
        "UUID=",
        "luks-",
        "é=é",
        "0b3c5a1e=",
        "0b3c5a1e=/k:UUID=:",
        "/:/:/",
    ];
    for k in keys {
        for a in values {
            for b in values {
                let mut l = LuksCmdline::default();
                let _ = l.apply(k, Some(&format!("{a}{b}")));
                let _ = l.apply(k, None);
            }
        }
    }
}
