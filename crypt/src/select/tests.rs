//! Unit tests of `select_volumes`: every case of issue 4 (rd.luks.uuid, rd.luks.name,
//! options per UUID and global, keys with and without a device, rd.luks=0, crypttab
//! entries marked for the initramfs, root=/dev/mapper/<name>, discover-all), and inputs
//! that are wrong in one way or another.

use super::*;
use crate::crypttab::parse_crypttab;

const U1: &str = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";
const U2: &str = "11111111-2222-3333-4444-555555555555";
const U3: &str = "66666666-7777-8888-9999-000000000000";

fn cmdline(words: &str) -> LuksCmdline {
    let mut l = LuksCmdline::default();
    for w in words.split_whitespace() {
        let (k, v) = match w.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (w, None),
        };
        assert_eq!(l.apply(k, v), Ok(true), "{w}");
    }
    l
}

fn tab(text: &str) -> Vec<CrypttabEntry> {
    let (entries, errors) = parse_crypttab(text);
    assert!(errors.is_empty(), "{errors:?}");
    entries
}

fn listed(s: (Selection, Vec<SpecError>)) -> (Vec<Volume>, Vec<SpecError>) {
    match s {
        (Selection::Listed(v), notes) => (v, notes),
        other => panic!("{other:?}"),
    }
}

fn quiet(s: (Selection, Vec<SpecError>)) -> Vec<Volume> {
    let (v, notes) = listed(s);
    assert!(notes.is_empty(), "{notes:?}");
    v
}

fn names(v: &[Volume]) -> Vec<&str> {
    v.iter().map(|v| v.name.as_str()).collect()
}

fn root(s: &str) -> DeviceSpec {
    DeviceSpec::parse(s).unwrap()
}

#[test]
fn rd_luks_uuid_only() {
    let l = cmdline(&format!("rd.luks.uuid={U1} rd.luks.uuid=luks-{U2}"));
    let v = quiet(select_volumes(&l, &[], None, &[]));
    assert_eq!(
        v[0],
        Volume {
            name: format!("luks-{U1}"),
            device: DeviceSpec::Uuid(U1.into()),
            key: KeySource::None,
            options: VolumeOptions::default(),
            origin: Origin::Cmdline,
        }
    );
    assert_eq!(names(&v), vec![format!("luks-{U1}"), format!("luks-{U2}")]);
}

#[test]
fn rd_luks_name() {
    let l = cmdline(&format!(
        "rd.luks.name={U1}=root rd.luks.uuid={U2} rd.luks.name={U2}=home"
    ));
    let v = quiet(select_volumes(
        &l,
        &[],
        Some(&root("/dev/mapper/root")),
        &[],
    ));
    assert_eq!(names(&v), vec!["home", "root"]);
    assert_eq!(v[1].device, DeviceSpec::Uuid(U1.into()));
}

#[test]
fn the_allow_list_takes_names_keys_and_options_from_crypttab() {
    let t = tab(&format!(
        "cryptroot UUID={U1} none discard\n\
         luks-{U2} /dev/vdb /etc/keys/b.key\n\
         data UUID={U3} none initramfs\n"
    ));
    let l = cmdline(&format!(
        "rd.luks.uuid={U1} rd.luks.uuid={U2} rd.luks.options={U2}=readonly"
    ));
    let (v, notes) = listed(select_volumes(&l, &t, None, &[]));
    assert_eq!(names(&v), vec!["cryptroot", &format!("luks-{U2}")]);
    assert_eq!(v[0].origin, Origin::Crypttab);
    assert!(v[0].options.discard);
    // The name luks-<uuid> ties the entry to rd.luks.uuid; per-UUID options override.
    assert_eq!(v[1].device, DeviceSpec::Path("/dev/vdb".into()));
    assert!(v[1].options.readonly && !v[1].options.discard);
    assert_eq!(
        v[1].key,
        KeySource::File {
            path: "/etc/keys/b.key".into(),
            device: None
        }
    );
    // The marked entry is not opened: the command line lists the volumes.
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].to_string().contains("`data`"), "{}", notes[0]);
}

#[test]
fn rd_luks_name_against_a_crypttab_name() {
    let t = tab(&format!("cryptroot UUID={U1}\n"));
    let l = cmdline(&format!("rd.luks.name={U1}=root"));
    let (v, notes) = listed(select_volumes(&l, &t, None, &[]));
    assert_eq!(names(&v), vec!["cryptroot"]);
    assert!(notes[0].reason.contains("`root`") && notes[0].reason.contains("`cryptroot`"));
}

#[test]
fn options_per_uuid_and_global() {
    let l = cmdline(&format!(
        "rd.luks.uuid={U1} rd.luks.uuid={U2} rd.luks.options=discard,tries=3 rd.luks.options={U2}=readonly"
    ));
    let v = quiet(select_volumes(&l, &[], None, &[]));
    assert!(v[0].options.discard && v[0].options.tries == Some(3));
    assert!(v[1].options.readonly && !v[1].options.discard && v[1].options.tries.is_none());
    // Global options do not apply to crypttab entries; per-UUID ones do.
    let t = tab(&format!(
        "a UUID={U1} none initramfs,tries=5\nb UUID={U2} none initramfs\n"
    ));
    let l = cmdline(&format!(
        "rd.luks.options=readonly rd.luks.options={U2}=no-read-workqueue"
    ));
    let v = quiet(select_volumes(&l, &t, None, &[]));
    assert_eq!(v[0].options.tries, Some(5));
    assert!(!v[0].options.readonly);
    assert!(v[1].options.no_read_workqueue && !v[1].options.initramfs);
    // dracut's rd.luks.allow-discards adds discard everywhere, or for one UUID.
    let l = cmdline(&format!(
        "rd.luks.uuid={U1} rd.luks.uuid={U2} rd.luks.allow-discards={U2}"
    ));
    let v = quiet(select_volumes(&l, &[], None, &[]));
    assert!(!v[0].options.discard && v[1].options.discard);
    let v = quiet(select_volumes(
        &cmdline("rd.luks.allow-discards"),
        &t,
        None,
        &[],
    ));
    assert!(v.iter().all(|v| v.options.discard));
}

#[test]
fn rd_luks_key_with_and_without_a_device() {
    let l = cmdline(&format!(
        "rd.luks.uuid={U1} rd.luks.uuid={U2} rd.luks.uuid={U3} rd.luks.key=/etc/all.key \
         rd.luks.key={U2}=/keys/b.key:LABEL=keys rd.luks.key=/c.key:/dev/sdb1:UUID={U3}"
    ));
    let v = quiet(select_volumes(&l, &[], None, &[]));
    let file = |p: &str, d: Option<&str>| KeySource::File {
        path: p.into(),
        device: d.map(|d| DeviceSpec::parse(d).unwrap()),
    };
    assert_eq!(v[0].key, file("/etc/all.key", None));
    assert_eq!(v[1].key, file("/keys/b.key", Some("LABEL=keys")));
    assert_eq!(v[2].key, file("/c.key", Some("/dev/sdb1")));
    // A crypttab entry keeps its own key; with none, a per-UUID key applies, not the global one.
    let t = tab(&format!(
        "a UUID={U1} /own.key initramfs\nb UUID={U2} none initramfs\nc UUID={U3} - initramfs\n"
    ));
    let l = cmdline(&format!(
        "rd.luks.key={U1}=/cmd.key rd.luks.key={U2}=/cmd2.key rd.luks.key=/global.key"
    ));
    let v = quiet(select_volumes(&l, &t, None, &[]));
    assert_eq!(v[0].key, file("/own.key", None));
    assert_eq!(v[1].key, file("/cmd2.key", None));
    assert_eq!(v[2].key, KeySource::None);
}

#[test]
fn rd_luks_0_disables_everything() {
    let t = tab(&format!("root UUID={U1} none initramfs\n"));
    let l = cmdline(&format!("rd.luks.uuid={U1} rd.luks=0"));
    assert_eq!(
        select_volumes(&l, &t, Some(&root("/dev/mapper/root")), &["root".into()]),
        (Selection::Disabled, vec![])
    );
}

#[test]
fn crypttab_entries_marked_for_the_initramfs() {
    let t = tab(&format!(
        "root UUID={U1} none luks,discard,initramfs\n\
         keys UUID={U2} none x-initrd.attach\n\
         swap /dev/vdc /etc/keys/swap.key\n\
         later UUID={U3} none initramfs,noauto\n\
         home /dev/vdd none\n"
    ));
    let v = quiet(select_volumes(&LuksCmdline::default(), &t, None, &[]));
    assert_eq!(names(&v), vec!["root", "keys"]);
    assert!(v.iter().all(|v| v.origin == Origin::Crypttab));
    // The config names more (noauto included when named).
    let v = quiet(select_volumes(
        &LuksCmdline::default(),
        &t,
        None,
        &["home".into(), "later".into()],
    ));
    assert_eq!(names(&v), vec!["root", "keys", "later", "home"]);
}

#[test]
fn the_crypttab_volume_that_holds_root() {
    let t = tab(&format!("cryptroot UUID={U1}\nother UUID={U2}\n"));
    let v = quiet(select_volumes(
        &LuksCmdline::default(),
        &t,
        Some(&root("/dev/mapper/cryptroot")),
        &[],
    ));
    assert_eq!(names(&v), vec!["cryptroot"]);
}

#[test]
fn nothing_given_discovers_every_luks_device() {
    let t = tab(&format!("other UUID={U2}\n"));
    let (s, notes) = select_volumes(
        &cmdline(&format!(
            "rd.luks.options=discard rd.luks.key=/k rd.luks.options={U2}=readonly"
        )),
        &t,
        Some(&root("UUID=aaaaaaaa-bbbb")),
        &[],
    );
    assert!(notes.is_empty(), "{notes:?}");
    let Selection::DiscoverAll {
        options,
        keys,
        options_by_uuid,
    } = &s
    else {
        panic!("{s:?}")
    };
    assert!(options.discard);
    assert_eq!(keys.len(), 1);
    assert_eq!(options_by_uuid.len(), 1);
    let v = s.discovered(&U1.to_uppercase()).unwrap();
    assert_eq!(v.name, format!("luks-{U1}"));
    assert_eq!(v.device, DeviceSpec::Uuid(U1.into()));
    assert_eq!(v.origin, Origin::Discovered);
    assert!(v.options.discard);
    assert_eq!(
        v.key,
        KeySource::File {
            path: "/k".into(),
            device: None
        }
    );
    let v2 = s.discovered(U2).unwrap();
    assert!(v2.options.readonly && !v2.options.discard);
    assert!(Selection::Disabled.discovered(U1).is_none());
    // rd.luks.crypttab=0: the crypttab is ignored, marked entries included.
    let t = tab(&format!("root UUID={U1} none initramfs\n"));
    let (s, _) = select_volumes(&cmdline("rd.luks.crypttab=0"), &t, None, &["root".into()]);
    assert!(matches!(s, Selection::DiscoverAll { .. }), "{s:?}");
}

#[test]
fn root_on_a_mapper_nobody_makes_is_noted() {
    let (s, notes) = select_volumes(
        &LuksCmdline::default(),
        &[],
        Some(&root("/dev/mapper/cryptroot")),
        &[],
    );
    assert!(matches!(s, Selection::DiscoverAll { .. }));
    assert!(
        notes[0].fix.contains("rd.luks.name=<LUKS UUID>=cryptroot"),
        "{}",
        notes[0]
    );
    // luks-<UUID> is what discovery makes: no note.
    let (_, notes) = select_volumes(
        &LuksCmdline::default(),
        &[],
        Some(&root(&format!("/dev/mapper/luks-{U1}"))),
        &[],
    );
    assert!(notes.is_empty());
    let (v, notes) = listed(select_volumes(
        &cmdline(&format!("rd.luks.name={U1}=root")),
        &[],
        Some(&root("/dev/mapper/rootfs")),
        &[],
    ));
    assert_eq!(names(&v), vec!["root"]);
    assert!(notes[0].reason.contains("(root)"), "{}", notes[0]);
}

#[test]
fn malformed_and_conflicting_inputs() {
    // A crypttab with bad lines: the good ones are used.
    let (t, errors) = parse_crypttab(&format!(
        "justaname\nroot UUID={U1} none initramfs\nbad/name /dev/vda\nx UUID=zz\ndup UUID={U2} none initramfs\n"
    ));
    assert_eq!(errors.len(), 3);
    let (v, notes) = listed(select_volumes(
        &LuksCmdline::default(),
        &t,
        None,
        &["nope".into()],
    ));
    assert_eq!(names(&v), vec!["root", "dup"]);
    assert!(notes[0].reason.contains("`nope`"), "{}", notes[0]);
    // Two names for one device, one name for two devices.
    let t = tab(&format!(
        "a UUID={U1} none initramfs\nb UUID={} none initramfs\n",
        U1.to_uppercase()
    ));
    let (v, notes) = listed(select_volumes(&LuksCmdline::default(), &t, None, &[]));
    assert_eq!(names(&v), vec!["a"]);
    assert!(notes[0].reason.contains("same device"), "{}", notes[0]);
    let t = tab(&format!("root UUID={U2} none\n"));
    let l = cmdline(&format!("rd.luks.name={U1}=root rd.luks.uuid={U2}"));
    let (v, notes) = listed(select_volumes(&l, &t, None, &[]));
    assert_eq!(names(&v), vec!["root"]);
    assert_eq!(v[0].device, DeviceSpec::Uuid(U2.into()));
    assert!(notes[0].reason.contains("`root`"), "{notes:?}");
    // Keys and options for a volume that is not opened.
    let l = cmdline(&format!(
        "rd.luks.uuid={U1} rd.luks.key={U2}=/k rd.luks.options={U3}=discard"
    ));
    let (_, notes) = listed(select_volumes(&l, &[], None, &[]));
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes
        .iter()
        .all(|n| n.reason.contains("not one of the volumes")));
    // A UUID so long that luks-<UUID> is no device-mapper name.
    let long = format!("0b3c5a1e{}", "f".repeat(130));
    let (v, notes) = listed(select_volumes(
        &cmdline(&format!("rd.luks.uuid={long}")),
        &[],
        None,
        &[],
    ));
    assert!(v.is_empty());
    assert!(notes[0].fix.contains("rd.luks.name="), "{}", notes[0]);
    // Words the parser rejects never reach select_volumes.
    let mut l = LuksCmdline::default();
    assert!(l.apply("rd.luks.uuid", Some("not-a-uuid")).is_err());
    assert!(l.apply("rd.luks.name", Some(&format!("{U1}=a/b"))).is_err());
    assert_eq!(select_volumes(&l, &[], None, &[]).1, vec![]);
}

#[test]
fn a_uuid_prefix_matches_the_crypttab_entry() {
    let t = tab(&format!("cryptroot UUID={U1} none\n"));
    let v = quiet(select_volumes(
        &cmdline("rd.luks.uuid=0b3c5a1e"),
        &t,
        None,
        &[],
    ));
    assert_eq!(names(&v), vec!["cryptroot"]);
    let v = quiet(select_volumes(
        &cmdline("rd.luks.uuid=0b3c5a1e"),
        &[],
        None,
        &[],
    ));
    assert_eq!(v[0].name, "luks-0b3c5a1e");
}
