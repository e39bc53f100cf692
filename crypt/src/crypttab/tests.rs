//! Unit tests of the crypttab parser.

use super::*;

const U1: &str = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";

fn clean(text: &str) -> Vec<CrypttabEntry> {
    let (entries, errors) = parse_crypttab(text);
    assert!(errors.is_empty(), "{errors:?}");
    entries
}

#[test]
fn empty_and_comments() {
    assert_eq!(clean(""), vec![]);
    assert_eq!(clean("\n\n   \n\t\n"), vec![]);
    assert_eq!(clean("# a comment\n   # indented comment\n"), vec![]);
}

#[test]
fn field_counts_and_forms() {
    let text = format!(
        "# <name> <device> <key> <options>\n\
         root\tUUID={U1}\n\
         home  /dev/vdb1   none   luks,discard\n\
         data PARTUUID=1234ABCD-01 /etc/keys/data.key nofail\n\
         usb LABEL=secret keys/usb.key:LABEL=keystick -\n\
         swap /dev/disk/by-uuid/{U1} - defaults\r\n"
    );
    let e = clean(&text);
    assert_eq!(e.len(), 5);
    assert_eq!(
        e[0],
        CrypttabEntry {
            name: "root".into(),
            device: DeviceSpec::Uuid(U1.into()),
            key: KeySource::None,
            options: VolumeOptions::default(),
            line: 2,
        }
    );
    assert_eq!(e[1].device, DeviceSpec::Path("/dev/vdb1".into()));
    assert!(e[1].options.discard);
    assert_eq!(e[2].device, DeviceSpec::PartUuid("1234abcd-01".into()));
    assert_eq!(
        e[2].key,
        KeySource::File {
            path: "/etc/keys/data.key".into(),
            device: None
        }
    );
    assert!(e[2].options.nofail);
    assert_eq!(
        e[3].key,
        KeySource::File {
            path: "keys/usb.key".into(),
            device: Some(DeviceSpec::Label("keystick".into()))
        }
    );
    assert_eq!(e[4].device, DeviceSpec::Uuid(U1.into()));
    assert_eq!(e[4].line, 6);
}

#[test]
fn octal_escapes() {
    let e = clean("secret LABEL=my\\040disk /etc/my\\040key.bin\n");
    assert_eq!(e[0].device, DeviceSpec::Label("my disk".into()));
    assert_eq!(
        e[0].key,
        KeySource::File {
            path: "/etc/my key.bin".into(),
            device: None
        }
    );
    // Other backslashes are kept.
    let e = clean("a /dev/x\\y\nb /dev/z\\09\nc /dev/w\\\n");
    assert_eq!(e[0].device, DeviceSpec::Path("/dev/x\\y".into()));
    assert_eq!(e[1].device, DeviceSpec::Path("/dev/z\\09".into()));
    assert_eq!(e[2].device, DeviceSpec::Path("/dev/w\\".into()));
}

#[test]
fn malformed_lines_are_skipped_with_their_line_number() {
    let text = format!(
        "good1 UUID={U1}\n\
         lonely\n\
         bad/name /dev/sda2\n\
         nodev vda2\n\
         baduuid UUID=xyz\n\
         good1 /dev/sdb1\n\
         control /dev/sdc1\n\
         good2 /dev/sdd1 none discard\n"
    );
    let (entries, errors) = parse_crypttab(&text);
    assert_eq!(
        entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["good1", "good2"]
    );
    let lines: Vec<usize> = errors.iter().filter_map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
    for e in &errors {
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("line {}: ", e.line.unwrap())),
            "{text}"
        );
        assert!(!e.fix.is_empty());
    }
    assert!(errors[0].reason.contains("at least"));
    assert!(errors[1].reason.contains("'/'"));
    assert!(errors[4].reason.contains("already used on line 1"));
}

#[test]
fn partial_problems_keep_the_line() {
    let text = "a /dev/sda2 none discard,bogus,tpm2-device=auto\n\
                b /dev/sdb2 relative.key\n\
                c /dev/sdc2 none discard, initramfs\n";
    let (entries, errors) = parse_crypttab(text);
    assert_eq!(entries.len(), 3);
    assert!(entries[0].options.discard);
    assert_eq!(entries[1].key, KeySource::None);
    assert!(entries[2].options.discard && !entries[2].options.initramfs);
    let summary: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line.unwrap_or(0), e.part.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "bogus"),
            (1, "tpm2-device=auto"),
            (2, "relative.key"),
            (3, "initramfs")
        ]
    );
    assert!(errors[2].reason.contains("passphrase will be asked"));
    assert!(errors[3].fix.contains("commas"));
}

#[test]
fn long_and_binary_lines_do_not_panic() {
    let long = format!(
        "{} /dev/sda1\n{} {}\n",
        "n".repeat(200),
        "x",
        "/".repeat(100_000)
    );
    let (entries, errors) = parse_crypttab(&long);
    assert_eq!(entries.len(), 1);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].to_string().len() < 400);
    let junk =
        "\u{0}\u{1}\u{7f} \u{fffd}\u{fffd}\n\\377\\400 /dev/\\0\n\t\u{a0}root\u{a0} /dev/sda\n";
    let _ = parse_crypttab(junk);
}
