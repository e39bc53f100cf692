//! Unit tests of the volume option list (crypttab's fourth field, `rd.luks.options=`).

use std::time::Duration;

use super::*;

fn clean(s: &str) -> VolumeOptions {
    let (o, errs) = parse_options(s);
    assert!(errs.is_empty(), "{s}: {errs:?}");
    o
}

fn errors(s: &str) -> Vec<SpecError> {
    parse_options(s).1
}

#[test]
fn empty_lists() {
    assert_eq!(clean(""), VolumeOptions::default());
    assert_eq!(clean(",,"), VolumeOptions::default());
    assert_eq!(clean("luks"), VolumeOptions::default());
}

#[test]
fn flags() {
    let o = clean("discard,readonly,no-read-workqueue,no-write-workqueue,same-cpu-crypt,submit-from-crypt-cpus,initramfs,noauto,nofail");
    assert!(o.discard && o.readonly && o.no_read_workqueue && o.no_write_workqueue);
    assert!(o.same_cpu_crypt && o.submit_from_crypt_cpus && o.initramfs && o.noauto && o.nofail);
    assert!(clean("allow-discards").discard);
    assert!(clean("read-only").readonly);
    assert!(clean("x-initrd.attach").initramfs);
    // Later options win.
    assert!(!clean("noauto,auto").noauto);
    assert!(!clean("nofail,fail").nofail);
    // Spaces around items (quoted on the command line) are tolerated.
    assert!(clean(" discard , readonly ").readonly);
}

#[test]
fn values() {
    let o = clean("tries=5,key-slot=1,keyfile-offset=512,keyfile-size=64,timeout=90,keyfile-timeout=10s,x-systemd.device-timeout=2min");
    assert_eq!(o.tries, Some(5));
    assert_eq!(o.key_slot, Some(1));
    assert_eq!(o.keyfile_offset, Some(512));
    assert_eq!(o.keyfile_size, Some(64));
    assert_eq!(o.timeout, Some(Duration::from_secs(90)));
    assert_eq!(o.keyfile_timeout, Some(Duration::from_secs(10)));
    assert_eq!(o.device_timeout, Some(Duration::from_secs(120)));
    assert_eq!(clean("keyslot=2").key_slot, Some(2));
    // tries=0 is "never give up", like no tries at all; keyfile-size=0 the whole file.
    assert_eq!(clean("tries=0").tries, None);
    assert_eq!(clean("keyfile-size=0").keyfile_size, None);
    assert_eq!(clean("timeout=0").timeout, Some(Duration::ZERO));
}

#[test]
fn headers() {
    let o = clean("header=/etc/hdr.img");
    assert_eq!(
        o.header,
        Some(HeaderSpec {
            path: "/etc/hdr.img".into(),
            device: None
        })
    );
    let o = clean("header=hdr.img:LABEL=usb");
    assert_eq!(
        o.header,
        Some(HeaderSpec {
            path: "hdr.img".into(),
            device: Some(DeviceSpec::Label("usb".into()))
        })
    );
    assert!(clean("header=UUID=0b3c5a1e-1111").header.is_some());
    assert_eq!(errors("header=").len(), 1);
    assert_eq!(errors("header").len(), 1);
    assert_eq!(errors("header=relative.img").len(), 1);
}

#[test]
fn foreign_options_are_kept_quietly() {
    let o = clean("luks,_netdev,password-echo=no,cipher=aes-xts-plain64,size=512,x-systemd.automount,headless=true");
    assert_eq!(o.unknown.len(), 6, "{:?}", o.unknown);
    assert!(o.unknown.contains(&"_netdev".to_string()));
}

#[test]
fn unsupported_options_are_reported_and_the_rest_applies() {
    for (list, needle) in [
        ("plain,discard", "plain"),
        ("tcrypt,discard", "TrueCrypt"),
        ("tcrypt-veracrypt,discard", "VeraCrypt"),
        ("bitlk,discard", "BitLocker"),
        ("tpm2-device=auto,discard", "TPM2"),
        ("tpm2-pcrs=7+8,discard", "TPM2"),
        ("fido2-device=auto,discard", "FIDO2"),
        ("pkcs11-uri=auto,discard", "PKCS#11"),
        ("keyscript=decrypt_keyctl,discard", "scripts"),
        ("swap,discard", "swap"),
        ("tmp=ext4,discard", "tmp"),
    ] {
        let (o, errs) = parse_options(list);
        assert!(o.discard, "{list}");
        assert_eq!(errs.len(), 1, "{list}: {errs:?}");
        let text = errs[0].to_string();
        assert!(text.contains(needle), "{list}: {text}");
        assert!(
            text.contains("not supported") || text.contains("does not"),
            "{list}: {text}"
        );
        assert!(errs[0].part.is_some());
        assert_eq!(o.unknown.len(), 1);
    }
    // The TPM2 case tells what happens instead.
    assert!(errors("tpm2-device=auto")[0].fix.contains("passphrase"));
}

#[test]
fn malformed_options() {
    for (list, needle) in [
        ("tries=abc", "whole number"),
        ("tries=-1", "whole number"),
        ("tries=", "needs a value"),
        ("tries", "needs a value"),
        ("keyfile-offset=1k", "whole number"),
        ("key-slot=99999999999", "whole number"),
        ("timeout=soon", "time span"),
        ("timeout=-5", "negative"),
        ("discard=yes", "takes no value"),
        ("initramfs=1", "takes no value"),
        ("dicsard", "did you mean discard?"),
        ("readonyl", "did you mean readonly?"),
        ("frobnicate", "crypttab(5)"),
    ] {
        let errs = errors(list);
        assert_eq!(errs.len(), 1, "{list}: {errs:?}");
        let text = errs[0].to_string();
        assert!(text.contains(needle), "{list}: `{text}` lacks `{needle}`");
    }
    // Several bad options: one diagnostic each, the good ones still apply.
    let (o, errs) = parse_options("bogus,discard,tries=x,readonly,plain");
    assert_eq!(errs.len(), 3);
    assert!(o.discard && o.readonly);
    assert_eq!(o.unknown, vec!["bogus", "tries=x", "plain"]);
}

#[test]
fn never_panics() {
    let pieces = [
        "",
        ",",
        "=",
        "header=",
        ":",
        "UUID=",
        "é",
        "\u{0}",
        "timeout=1.",
        "tries=4294967296",
        "x",
    ];
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let _ = parse_options(&format!("{a}{b},{c}{a}={b}"));
            }
        }
    }
}
