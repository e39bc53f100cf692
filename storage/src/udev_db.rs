//! The udev database records of the device-mapper devices sesame made, written before
//! switch_root into `/run/udev/data/b<major>:<minor>` (the real root inherits `/run`).
//!
//! Why: when the real root's udevd coldplugs, lvm2's `10-dm.rules` takes an `add` event
//! of a dm device as a proper activation only if the device's record says its last
//! event came from libdevmapper (`DM_UDEV_PRIMARY_SOURCE_FLAG=1`, imported from the
//! database since a coldplug event carries no cookie). Without it the rules disable the
//! device (`DM_UDEV_DISABLE_OTHER_RULES_FLAG=1`), systemd's `99-systemd.rules` marks it
//! `SYSTEMD_READY=0`, and every `.device` unit for `/dev/mapper/…` waits 90 s (lvm2
//! issues #31, #153). A udev-based initramfs leaves these records behind; sesame has no
//! udevd, so it writes what libdevmapper's callers would have flagged:
//! - every dm device: `DM_UDEV_PRIMARY_SOURCE_FLAG` (libdevmapper adds it to each of
//!   its own events) and the rules version `10-dm.rules` records;
//! - devices of libcryptsetup (`CRYPT-…` UUIDs) and lvm2 (`LVM-…`):
//!   `DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG`, which both set because they leave the
//!   nodes to udev; nothing else: the disk and other rules must run for them.
//!
//! The name, UUID and suspended state are recorded as `10-dm.rules` would have stored
//! them; the real udev recomputes everything else (links, filesystem probe) on coldplug.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A device-mapper device as sysfs shows it (`/sys/block/dm-N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmDevice {
    /// `dm-0`.
    pub kernel_name: String,
    pub major: u32,
    pub minor: u32,
    /// `/sys/block/dm-N/dm/name`: what `/dev/mapper/<name>` is called.
    pub name: String,
    /// `/sys/block/dm-N/dm/uuid` (may be empty).
    pub uuid: String,
    pub suspended: bool,
}

/// What the record of `dev` holds (the file's text), or why none can be written.
pub fn record(dev: &DmDevice) -> Result<String, String> {
    for (what, value) in [("name", &dev.name), ("UUID", &dev.uuid)] {
        // sd-device reads the database splitting at both '\n' and '\r' (NEWLINE).
        if value.contains(['\n', '\r', '\0']) {
            return Err(format!(
                "{}: its dm {what} holds a line break, which a udev record cannot carry",
                dev.kernel_name
            ));
        }
    }
    let mut flags = Vec::new();
    if dev.uuid.starts_with("CRYPT-") || dev.uuid.starts_with("LVM-") {
        flags.push("DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG");
    }
    flags.push("DM_UDEV_PRIMARY_SOURCE_FLAG");
    let mut text = String::new();
    for f in flags {
        text.push_str(&format!("E:{f}=1\n"));
    }
    text.push_str("E:DM_UDEV_RULES_VSN=2\n");
    text.push_str(&format!("E:DM_NAME={}\n", dev.name));
    if !dev.uuid.is_empty() {
        text.push_str(&format!("E:DM_UUID={}\n", dev.uuid));
    }
    text.push_str(&format!(
        "E:DM_SUSPENDED={}\n",
        if dev.suspended { 1 } else { 0 }
    ));
    Ok(text)
}

/// Parses `major:minor` (the `dev` attribute).
pub fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The dm devices under `sys_block` (`/sys/block`), sorted by kernel name. A device
/// whose attributes cannot be read is reported in the second list.
pub fn dm_devices(sys_block: &Path) -> (Vec<DmDevice>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = fs::read_dir(sys_block) else {
        return (found, problems);
    };
    for e in entries.flatten() {
        let kernel_name = e.file_name().to_string_lossy().into_owned();
        if !kernel_name.starts_with("dm-") {
            continue;
        }
        let base = e.path();
        let read = |rel: &str| fs::read_to_string(base.join(rel)).map(|s| s.trim().to_string());
        match (read("dev"), read("dm/name"), read("dm/uuid")) {
            (Ok(dev), Ok(name), Ok(uuid)) => match parse_dev(&dev) {
                Some((major, minor)) => found.push(DmDevice {
                    kernel_name,
                    major,
                    minor,
                    name,
                    uuid,
                    suspended: read("dm/suspended").is_ok_and(|s| s == "1"),
                }),
                None => problems.push(format!("{kernel_name}: unreadable dev `{dev}`")),
            },
            (dev, name, uuid) => {
                let why = [dev.err(), name.err(), uuid.err()]
                    .into_iter()
                    .flatten()
                    .map(|e| e.to_string())
                    .next()
                    .unwrap_or_default();
                problems.push(format!("{kernel_name}: reading its dm attributes: {why}"));
            }
        }
    }
    found.sort_by(|a, b| a.kernel_name.cmp(&b.kernel_name));
    (found, problems)
}

/// The record's path for `dev` under `data_dir` (`/run/udev/data`).
pub fn record_path(data_dir: &Path, dev: &DmDevice) -> PathBuf {
    data_dir.join(format!("b{}:{}", dev.major, dev.minor))
}

/// Writes the record of each of `devices` (from [`dm_devices`]) into `data_dir` (made if
/// missing), each atomically; a record already there (written by a udevd) is kept.
/// Returns the names recorded and the problems met (the boot goes on either way: a
/// missing record costs the real system a wait, not its boot).
pub fn write_records(devices: &[DmDevice], data_dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut written = Vec::new();
    if devices.is_empty() {
        return (written, problems);
    }
    if let Err(e) = fs::create_dir_all(data_dir) {
        problems.push(format!("making {}: {e}", data_dir.display()));
        return (written, problems);
    }
    for dev in devices {
        let path = record_path(data_dir, dev);
        if path.exists() {
            continue;
        }
        match record(dev).and_then(|text| write_atomically(&path, &text)) {
            Ok(()) => written.push(dev.name.clone()),
            Err(e) => problems.push(e),
        }
    }
    (written, problems)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("sesame-tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("writing {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypt() -> DmDevice {
        DmDevice {
            kernel_name: "dm-0".into(),
            major: 253,
            minor: 0,
            name: "root".into(),
            uuid: "CRYPT-LUKS2-0b3c5a1e9f1d4c2b8a7e1234567890ab-root".into(),
            suspended: false,
        }
    }

    #[test]
    fn a_crypt_record_is_what_libcryptsetup_and_10_dm_rules_leave() {
        assert_eq!(
            record(&crypt()).unwrap(),
            "E:DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG=1\n\
             E:DM_UDEV_PRIMARY_SOURCE_FLAG=1\n\
             E:DM_UDEV_RULES_VSN=2\n\
             E:DM_NAME=root\n\
             E:DM_UUID=CRYPT-LUKS2-0b3c5a1e9f1d4c2b8a7e1234567890ab-root\n\
             E:DM_SUSPENDED=0\n"
        );
    }

    #[test]
    fn other_devices_get_the_primary_source_flag_only() {
        let dev = DmDevice {
            uuid: String::new(),
            name: "plain".into(),
            suspended: true,
            ..crypt()
        };
        let text = record(&dev).unwrap();
        assert!(
            text.starts_with("E:DM_UDEV_PRIMARY_SOURCE_FLAG=1\n"),
            "{text}"
        );
        assert!(!text.contains("DM_UUID") && text.contains("DM_SUSPENDED=1"));
        let lvm = DmDevice {
            uuid: "LVM-abc".into(),
            ..crypt()
        };
        assert!(record(&lvm).unwrap().contains("LIBRARY_FALLBACK"));
    }

    #[test]
    fn line_breaks_cannot_be_recorded() {
        let dev = DmDevice {
            name: "a\nE:DM_UDEV_DISABLE_DM_RULES_FLAG=1".into(),
            ..crypt()
        };
        assert!(record(&dev).unwrap_err().contains("line break"));
    }

    #[test]
    fn a_name_that_looks_like_a_property_stays_in_its_line() {
        let dev = DmDevice {
            name: "x_FLAG=1 E:DM_UDEV_DISABLE_OTHER_RULES_FLAG=1".into(),
            ..crypt()
        };
        let text = record(&dev).unwrap();
        assert_eq!(text.split_terminator('\n').count(), 6);
        // udev's reader also ends a line at '\r'
        for name in ["a\rE:DM_UDEV_DISABLE_DM_RULES_FLAG=1", "a\0b"] {
            let dev = DmDevice {
                name: name.into(),
                ..crypt()
            };
            assert!(record(&dev).is_err(), "{name:?}");
        }
    }

    #[test]
    fn dev_numbers() {
        assert_eq!(parse_dev("253:0\n"), Some((253, 0)));
        for bad in ["", "253", "a:b", "253:-1", ":1", "1:"] {
            assert_eq!(parse_dev(bad), None, "{bad:?}");
        }
    }

    fn fake_dm(sys: &Path, kernel: &str, dev: &str, name: &str, uuid: &str) {
        let d = sys.join(kernel);
        fs::create_dir_all(d.join("dm")).unwrap();
        fs::write(d.join("dev"), format!("{dev}\n")).unwrap();
        fs::write(d.join("dm/name"), format!("{name}\n")).unwrap();
        fs::write(d.join("dm/uuid"), format!("{uuid}\n")).unwrap();
        fs::write(d.join("dm/suspended"), "0\n").unwrap();
    }

    #[test]
    fn writes_each_record_once_and_keeps_existing_ones() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path().join("sys/block");
        let data = t.path().join("run/udev/data");
        fake_dm(&sys, "dm-0", "253:0", "root", "CRYPT-LUKS2-aa-root");
        fake_dm(&sys, "dm-1", "253:1", "home", "CRYPT-LUKS2-bb-home");
        fs::create_dir_all(sys.join("vda")).unwrap();
        fs::create_dir_all(sys.join("dm-2")).unwrap(); // no attributes
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("b253:1"), "E:FROM_UDEVD=1\n").unwrap();
        let (devices, unreadable) = dm_devices(&sys);
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        assert!(unreadable[0].starts_with("dm-2:"), "{unreadable:?}");
        let (written, problems) = write_records(&devices, &data);
        assert_eq!(written, ["root"]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(fs::read_to_string(data.join("b253:0"))
            .unwrap()
            .contains("E:DM_NAME=root\n"));
        assert_eq!(
            fs::read_to_string(data.join("b253:1")).unwrap(),
            "E:FROM_UDEVD=1\n"
        );
        // Again: nothing new.
        let (again, _) = write_records(&devices, &data);
        assert!(again.is_empty());
        // No dm devices: nothing made.
        let (none, p) = dm_devices(&t.path().join("none"));
        assert!(none.is_empty() && p.is_empty());
        let (w, p) = write_records(&none, &t.path().join("nodata"));
        assert!(w.is_empty() && p.is_empty() && !t.path().join("nodata").exists());
    }
}
