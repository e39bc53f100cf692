//! Coldplug: the devices the kernel found before we listened for uevents. Every
//! `modalias` under `/sys/devices` is matched against the image's aliases and the
//! drivers are loaded; passes repeat while loading drivers reveals new devices (a PCI
//! virtio driver creates virtio devices that need their own drivers).

use std::collections::BTreeSet;
use std::path::Path;

use super::load::Loader;

/// What coldplug did.
#[derive(Debug, Default)]
pub struct ColdplugReport {
    /// Distinct modaliases seen in sysfs.
    pub modaliases: usize,
    /// Modules inserted, in order.
    pub loaded: Vec<String>,
    /// Modules that matched a device but failed, with the reason.
    pub failed: Vec<String>,
}

/// How many passes at most: each pass only follows devices the previous one created.
const MAX_PASSES: usize = 5;
/// sysfs is a tree without cycles when symlinks are not followed; bound depth anyway.
const MAX_DEPTH: usize = 40;

/// Which devices a coldplug pass handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// Bus devices (disks, NICs, and the devices their drivers create, such as virtio
    /// children of virtio_pci): what the boot waits for.
    Buses,
    /// Everything: CPU-feature and platform modules too (aesni, crc32c, ACPI drivers,
    /// slow to load under emulation).
    All,
}

/// Loads the drivers of the devices present in `sys_devices` (normally /sys/devices),
/// pass after pass until no new device appears.
pub fn coldplug(loader: &Loader, sys_devices: &Path, which: Devices) -> ColdplugReport {
    let mut report = ColdplugReport::default();
    let mut handled = BTreeSet::new();
    for _ in 0..MAX_PASSES {
        let mut aliases = BTreeSet::new();
        collect_modaliases(sys_devices, 0, &mut aliases);
        report.modaliases = aliases.len();
        let new: Vec<String> = aliases
            .difference(&handled)
            .filter(|a| which == Devices::All || is_bus_device(a))
            .cloned()
            .collect();
        if new.is_empty() {
            break;
        }
        for alias in new {
            load_for(loader, &alias, &mut report);
            handled.insert(alias);
        }
    }
    report
}

/// Loads the drivers for one modalias (from coldplug or a uevent); failures are logged
/// at debug level: many aliases match drivers for hardware variants that are absent.
pub fn load_for(loader: &Loader, modalias: &str, report: &mut ColdplugReport) {
    if loader.index().resolve(modalias).is_empty() {
        return;
    }
    match loader.load(modalias) {
        Ok(mut inserted) => {
            for m in &inserted {
                log::debug!("loaded {m} for {modalias}");
            }
            report.loaded.append(&mut inserted);
        }
        Err(e) => {
            log::debug!("{modalias}: {e}");
            report.failed.push(e.to_string());
        }
    }
}

/// Devices on buses that carry disks and NICs (PCI, virtio, USB, SCSI, NVMe, Xen, Hyper-V).
fn is_bus_device(modalias: &str) -> bool {
    [
        "pci:", "virtio:", "usb:", "scsi:", "nvme:", "xen:", "vmbus:", "hid:",
    ]
    .iter()
    .any(|p| modalias.starts_with(p))
}

fn collect_modaliases(dir: &Path, depth: usize, out: &mut BTreeSet<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        if kind.is_dir() {
            collect_modaliases(&entry.path(), depth + 1, out);
        } else if kind.is_file() && name == "modalias" {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                let alias = text.trim();
                if !alias.is_empty() {
                    out.insert(alias.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_devices_sort_first() {
        let mut v = vec![
            "cpu:type:x86".to_string(),
            "virtio:d1".into(),
            "acpi:PNP".into(),
            "pci:v1".into(),
        ];
        v.sort_by_key(|a| (!is_bus_device(a), a.clone()));
        assert_eq!(v, vec!["pci:v1", "virtio:d1", "acpi:PNP", "cpu:type:x86"]);
    }

    #[test]
    fn modaliases_are_collected_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("pci0000:00/0000:00:02.0");
        std::fs::create_dir_all(dev.join("virtio0")).unwrap();
        std::fs::write(dev.join("modalias"), "pci:v00001AF4d00001000\n").unwrap();
        std::fs::write(dev.join("virtio0/modalias"), "virtio:d00000001v00001AF4\n").unwrap();
        std::fs::write(dev.join("virtio0/uevent"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path(), dev.join("loop")).unwrap();
        let mut out = BTreeSet::new();
        collect_modaliases(dir.path(), 0, &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            vec!["pci:v00001AF4d00001000", "virtio:d00000001v00001AF4"]
        );
    }
}
