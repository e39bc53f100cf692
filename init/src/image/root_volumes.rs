//! Which crypttab volumes the host's root needs, found as cryptsetup-initramfs finds
//! them, so the image opens them under the names the real system's crypttab gives them
//! (and systemd-cryptsetup@<name> then finds them open instead of failing on "device
//! already in use") even without the `initramfs` option:
//! - the sources of `/` and `/usr` in the host's fstab: `/dev/mapper/<name>` names an
//!   entry;
//! - on the running system, the device the root filesystem is on, followed through
//!   sysfs (`slaves/`, down through LVM or md) to each dm-crypt device under it: its dm
//!   name, or the entry whose `UUID=` is its LUKS UUID.

use std::path::Path;

use sesame_crypt::crypttab::CrypttabEntry;
use sesame_crypt::device::DeviceSpec;

use crate::host::Host;

/// The mount points whose volumes the initramfs must open.
const EARLY_MOUNTS: [&str; 2] = ["/", "/usr"];

/// Names of the crypttab `entries` the host's root (and /usr) sit on, in crypttab order.
pub fn names(host: &Host, entries: &[CrypttabEntry]) -> Vec<String> {
    let wanted = wanted(host);
    entries
        .iter()
        .filter(|e| wanted.iter().any(|w| w.is(e)))
        .map(|e| e.name.clone())
        .collect()
}

/// Where the image would open a volume the root needs under a name the host does not
/// use: each a sentence with the fix, for `sesame check`.
pub fn name_mismatches(host: &Host, entries: &[CrypttabEntry]) -> Vec<String> {
    mismatches_of(wanted(host), entries)
}

fn mismatches_of(wanted: Vec<Under>, entries: &[CrypttabEntry]) -> Vec<String> {
    let mut out = Vec::new();
    for w in wanted {
        let by_name = entries
            .iter()
            .find(|e| matches!(&w, Under::Name(n) if &e.name == n));
        match (&w, by_name) {
            (Under::Name(_), Some(_)) => {}
            (Under::Name(n), None) => out.push(format!(
                "/etc/fstab mounts the root from /dev/mapper/{n}, but crypttab has no entry \
                 `{n}`: sesame would open the volume as luks-<UUID> and the real system would \
                 wait for /dev/mapper/{n}; add `{n} UUID=<LUKS UUID> none luks` to crypttab"
            )),
            (Under::Crypt { name, luks_uuid }, _) => match entries.iter().find(|e| w.is(e)) {
                Some(e) if &e.name == name => {}
                Some(e) => out.push(format!(
                    "the root's volume (LUKS UUID {luks_uuid}) is open as {name} on this \
                 system, but crypttab calls it {}: sesame opens it as {} (as \
                 cryptsetup-initramfs would) and whatever names /dev/mapper/{name} \
                 would wait for it; use one name in crypttab and fstab",
                    e.name, e.name
                )),
                None => out.push(format!(
                    "the root's volume (LUKS UUID {luks_uuid}) is open as {name} on this \
                 system, but crypttab has no entry for it: sesame would open it as \
                 luks-{luks_uuid}; add `{name} UUID={luks_uuid} none luks` to crypttab"
                )),
            },
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The dm-crypt devices the root and /usr need: named by fstab, and on the running
/// system found under the root filesystem.
fn wanted(host: &Host) -> Vec<Under> {
    let fstab = std::fs::read_to_string(host.path("/etc/fstab")).unwrap_or_default();
    let mut wanted: Vec<Under> = fstab_sources(&fstab)
        .into_iter()
        .filter_map(|source| source.strip_prefix("/dev/mapper/").map(str::to_string))
        .map(Under::Name)
        .collect();
    if host.is_system() {
        wanted.extend(live_root_crypt_devices(Path::new("/sys")));
    }
    wanted
}

/// A dm-crypt device found under the root: by its name, and (from sysfs) its LUKS UUID.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Under {
    Name(String),
    Crypt { name: String, luks_uuid: String },
}

impl Under {
    fn is(&self, e: &CrypttabEntry) -> bool {
        match self {
            Under::Name(n) => &e.name == n,
            Under::Crypt { name, luks_uuid } => {
                &e.name == name
                    || matches!(&e.device, DeviceSpec::Uuid(u) if u.eq_ignore_ascii_case(luks_uuid))
            }
        }
    }
}

/// The fstab sources of [`EARLY_MOUNTS`] (octal escapes undone), in file order.
pub fn fstab_sources(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let source = f.next()?;
            let target = unescape(f.next()?);
            let target = match target.trim_end_matches('/') {
                "" => "/",
                t => t,
            };
            EARLY_MOUNTS.contains(&target).then(|| unescape(source))
        })
        .collect()
}

/// Undoes fstab's `\040`-style octal escapes.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The dm-crypt devices under the running system's root filesystem.
fn live_root_crypt_devices(sys: &Path) -> Vec<Under> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata("/") else {
        return Vec::new();
    };
    let dev = meta.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    crypt_devices_under(sys, &format!("{major}:{minor}"))
}

/// Walks from block device `majmin` down its `slaves/` (bounded, so a looped tree cannot
/// hold the build) and returns each dm-crypt device met.
fn crypt_devices_under(sys: &Path, majmin: &str) -> Vec<Under> {
    let mut out = Vec::new();
    let mut todo = vec![sys.join("dev/block").join(majmin)];
    let mut visited = 0;
    while let Some(dir) = todo.pop() {
        visited += 1;
        if visited > 64 {
            break;
        }
        let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).map(|s| s.trim().to_string());
        if let (Ok(name), Ok(uuid)) = (read("dm/name"), read("dm/uuid")) {
            if let Some(luks_uuid) = luks_uuid_of_dm(&uuid) {
                out.push(Under::Crypt { name, luks_uuid });
            }
        }
        if let Ok(slaves) = std::fs::read_dir(dir.join("slaves")) {
            for s in slaves.flatten() {
                todo.push(sys.join("class/block").join(s.file_name()));
            }
        }
    }
    out
}

/// The LUKS UUID in a dm-crypt device's dm UUID (`CRYPT-LUKS2-<32 hex>-<name>`, as
/// libcryptsetup names them), with its dashes back in.
pub fn luks_uuid_of_dm(dm_uuid: &str) -> Option<String> {
    let rest = dm_uuid
        .strip_prefix("CRYPT-LUKS2-")
        .or_else(|| dm_uuid.strip_prefix("CRYPT-LUKS1-"))?;
    let hex = rest.get(..32)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_crypt::crypttab::parse_crypttab;

    const TAB: &str = "\
root_crypt UUID=0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab none luks,discard
home UUID=11111111-2222-3333-4444-555555555555 none luks
usr UUID=66666666-7777-8888-9999-000000000000 none luks
";

    #[test]
    fn fstab_sources_of_root_and_usr() {
        let fstab = "# comment\n\
                     /dev/mapper/root_crypt / ext4 errors=remount-ro 0 1\n\
                     UUID=abcd /boot ext4 defaults 0 2\n\
                     /dev/mapper/home /home ext4 defaults 0 2\n\
                     /dev/mapper/usr\\040x /usr/ ext4 defaults 0 2\n\
                     lonely\n\n";
        assert_eq!(
            fstab_sources(fstab),
            ["/dev/mapper/root_crypt", "/dev/mapper/usr x"]
        );
        assert!(fstab_sources("").is_empty());
        assert_eq!(unescape("a\\1"), "a\\1");
        assert_eq!(unescape("a\\777b"), "a\\777b");
    }

    #[test]
    fn the_root_entry_is_found_by_its_fstab_name() {
        let d = tempfile::tempdir().unwrap();
        let host = Host::new(d.path());
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/fstab"),
            "/dev/mapper/root_crypt / ext4 defaults 0 1\n/dev/mapper/home /home ext4 defaults 0 2\n",
        )
        .unwrap();
        let (entries, _) = parse_crypttab(TAB);
        assert_eq!(names(&host, &entries), ["root_crypt"]);
        // No fstab: nothing is known to be needed.
        let empty = tempfile::tempdir().unwrap();
        assert!(names(&Host::new(empty.path()), &entries).is_empty());
    }

    #[test]
    fn a_root_name_crypttab_does_not_know_is_warned_about() {
        let d = tempfile::tempdir().unwrap();
        let host = Host::new(d.path());
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/fstab"),
            "/dev/mapper/sda2_crypt / ext4 defaults 0 1\n",
        )
        .unwrap();
        let (entries, _) = parse_crypttab(TAB);
        let w = name_mismatches(&host, &entries);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("no entry `sda2_crypt`"), "{w:?}");
        std::fs::write(
            d.path().join("etc/fstab"),
            "/dev/mapper/root_crypt / ext4 defaults 0 1\n",
        )
        .unwrap();
        assert!(name_mismatches(&host, &entries).is_empty());
    }

    #[test]
    fn a_live_root_open_under_another_name_is_warned_about() {
        let (entries, _) = parse_crypttab(TAB);
        let live = |name: &str, uuid: &str| Under::Crypt {
            name: name.into(),
            luks_uuid: uuid.into(),
        };
        let same = live("root_crypt", "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab");
        assert!(mismatches_of(vec![same], &entries).is_empty());
        let other = live("cryptroot", "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab");
        let w = mismatches_of(vec![other], &entries);
        assert!(
            w.len() == 1
                && w[0].contains("open as cryptroot")
                && w[0].contains("calls it root_crypt"),
            "{w:?}"
        );
        let unknown = live("cryptroot", "99999999-9f1d-4c2b-8a7e-1234567890ab");
        let w = mismatches_of(vec![unknown], &entries);
        assert!(w.len() == 1 && w[0].contains("no entry for it"), "{w:?}");
    }

    #[test]
    fn dm_uuids_of_crypt_devices() {
        assert_eq!(
            luks_uuid_of_dm("CRYPT-LUKS2-0b3c5a1e9f1d4c2b8a7e1234567890ab-root_crypt").as_deref(),
            Some("0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab")
        );
        assert!(luks_uuid_of_dm("CRYPT-LUKS1-0b3c5a1e9f1d4c2b8a7e1234567890ab-x").is_some());
        for bad in [
            "LVM-abc",
            "CRYPT-PLAIN-x",
            "CRYPT-LUKS2-short",
            "CRYPT-LUKS2-zz3c5a1e9f1d4c2b8a7e1234567890ab-x",
            "",
        ] {
            assert_eq!(luks_uuid_of_dm(bad), None, "{bad}");
        }
    }

    /// sysfs as a root on LVM on LUKS shows it: dm-1 (the LV) has dm-0 (crypt) as slave,
    /// which has vda2.
    #[test]
    fn sysfs_is_followed_down_to_the_crypt_device() {
        let d = tempfile::tempdir().unwrap();
        let sys = d.path();
        let dev = |kernel: &str, majmin: &str, dm: Option<(&str, &str)>, slaves: &[&str]| {
            let dir = sys.join("devices/virtual/block").join(kernel);
            std::fs::create_dir_all(dir.join("slaves")).unwrap();
            if let Some((name, uuid)) = dm {
                std::fs::create_dir_all(dir.join("dm")).unwrap();
                std::fs::write(dir.join("dm/name"), format!("{name}\n")).unwrap();
                std::fs::write(dir.join("dm/uuid"), format!("{uuid}\n")).unwrap();
            }
            for s in slaves {
                std::fs::write(dir.join("slaves").join(s), "").unwrap();
            }
            std::fs::create_dir_all(sys.join("dev/block")).unwrap();
            std::fs::create_dir_all(sys.join("class/block")).unwrap();
            std::os::unix::fs::symlink(&dir, sys.join("dev/block").join(majmin)).unwrap();
            std::os::unix::fs::symlink(&dir, sys.join("class/block").join(kernel)).unwrap();
        };
        dev(
            "dm-0",
            "253:0",
            Some((
                "vda2_crypt",
                "CRYPT-LUKS2-0b3c5a1e9f1d4c2b8a7e1234567890ab-vda2_crypt",
            )),
            &["vda2"],
        );
        dev("dm-1", "253:1", Some(("vg-root", "LVM-xyz")), &["dm-0"]);
        dev("vda2", "254:2", None, &[]);
        let found = crypt_devices_under(sys, "253:1");
        assert_eq!(
            found,
            [Under::Crypt {
                name: "vda2_crypt".into(),
                luks_uuid: "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab".into()
            }]
        );
        // The crypttab names it differently: the UUID still finds the entry.
        let (entries, _) = parse_crypttab(TAB);
        assert!(found[0].is(&entries[0]));
        assert!(!found[0].is(&entries[1]));
        assert!(crypt_devices_under(sys, "9:9").is_empty());
    }
}
