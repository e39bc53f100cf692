//! The modules the image must carry for this host: the root filesystem's, and the driver
//! of every network interface with the firmware it asks for (without them SSH is
//! unreachable however well the rest works).

use std::path::Path;

use super::{error, ok, warn, Finding};
use crate::config::Config;
use crate::host::{Host, Inputs};
use crate::image::{elf, modset};
use crate::modules::index::ModuleIndex;
use crate::modules::load::{compression_of, decompress_bytes};

pub(super) fn check(
    host: &Host,
    inputs: &Inputs,
    index: &ModuleIndex,
    config: &Config,
    out: &mut Vec<Finding>,
) {
    // The same choice the builder makes, the root's filesystem included.
    let mounts = std::fs::read_to_string(host.path("/proc/self/mounts")).unwrap_or_default();
    let root_fs = modset::root_filesystems(config.boot.rootfstype.as_deref(), &mounts);
    let selection = match modset::select_with_root(index, &config.modules, &root_fs) {
        Ok(s) => s,
        Err(e) => {
            out.push(error(format!(
                "{e}; fix modules.include/load in the config"
            )));
            return;
        }
    };
    let shipped = |m: &str| selection.modules.contains(m) || index.is_builtin(m);
    if let Some(fstype) = root_fstype(host) {
        let resolved = index.resolve(&format!("fs-{fstype}"));
        let module = resolved.first().cloned().unwrap_or_else(|| fstype.clone());
        if shipped(&module) {
            out.push(ok(format!(
                "the root filesystem ({fstype}) is supported by the image"
            )));
        } else {
            out.push(error(format!(
                "this host's root filesystem is {fstype} but the image would not carry {module}; \
                 add \"{module}\" to modules.include in the config"
            )));
        }
    }
    for (iface, module) in nic_drivers(host) {
        if !shipped(&module) {
            out.push(error(format!(
                "{iface}: driver {module} would not be in the image, so SSH could not be reached \
                 through it; add \"{module}\" to modules.include in the config"
            )));
            continue;
        }
        if index.is_builtin(&module) {
            out.push(ok(format!(
                "{iface}: driver {module} is built into the kernel"
            )));
            continue;
        }
        let wanted = declared_firmware(&inputs.modules_dir, index, &module);
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|f| !firmware_present(&inputs.firmware_dir, f))
            .collect();
        let present = wanted.len() - missing.len();
        if missing.is_empty() {
            out.push(ok(format!(
                "{iface}: driver {module} is in the image{}",
                match present {
                    0 => String::new(),
                    n => format!(" with the {n} firmware file(s) it asks for"),
                }
            )));
        } else {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            out.push(warn(format!(
                "{iface}: driver {module} asks for firmware that is not in {} (so not in the image \
                 either): {}; if this NIC needs it, install the firmware package that ships it \
                 (Debian: firmware-misc-nonfree, firmware-bnx2, firmware-realtek…) and build again",
                inputs.firmware_dir.display(),
                list.join(", ")
            )));
        }
    }
}

/// The filesystem type of `/` on the host, from its mount table.
pub fn root_fstype(host: &Host) -> Option<String> {
    let mounts = std::fs::read_to_string(host.path("/proc/self/mounts")).ok()?;
    mounts
        .lines()
        .rev()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[1] == "/").then(|| f[2].to_string())
        })
        .next()
        .filter(|t| t != "rootfs" && t != "overlay" && t != "tmpfs")
}

/// `(interface, driver module)` for every network interface backed by a device. A
/// driver built into the running kernel has no `module` link: its driver's name stands
/// for the module, since the kernel the image is for may build it as one.
pub fn nic_drivers(host: &Host) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(host.path("/sys/class/net")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|e| {
            let driver = e.path().join("device/driver");
            let target = std::fs::read_link(driver.join("module"))
                .or_else(|_| std::fs::read_link(&driver))
                .ok()?;
            let name = target.file_name()?.to_string_lossy().into_owned();
            Some((e.file_name().to_string_lossy().into_owned(), name))
        })
        .collect();
    out.sort();
    out
}

/// The firmware files `module` declares (`modinfo -F firmware`).
fn declared_firmware(modules_dir: &Path, index: &ModuleIndex, module: &str) -> Vec<String> {
    let Some(entry) = index.modules.get(module) else {
        return Vec::new();
    };
    let path = modules_dir.join(&entry.path);
    std::fs::read(&path)
        .and_then(|raw| decompress_bytes(&raw, compression_of(&path)))
        .map(|body| elf::firmware(&body))
        .unwrap_or_default()
}

/// The builder takes a firmware file as is, or compressed as the kernel can load it.
fn firmware_present(dir: &Path, name: &str) -> bool {
    !name.contains("..")
        && ["", ".zst", ".xz"]
            .iter()
            .any(|ext| dir.join(format!("{name}{ext}")).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;
    use crate::image::cpio::Compression;

    /// A host with `eth0` on virtio_net, `/` on xfs, and a kernel whose `fwnic` module
    /// asks for `fw/nic.bin`.
    fn host() -> (tempfile::TempDir, Host, Inputs) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let host = Host::new(root);
        std::fs::create_dir_all(root.join("proc/self")).unwrap();
        std::fs::write(
            root.join("proc/self/mounts"),
            "rootfs / rootfs rw 0 0\n/dev/vda1 / xfs rw 0 0\nproc /proc proc rw 0 0\n",
        )
        .unwrap();
        let eth = root.join("sys/class/net/eth0/device/driver");
        std::fs::create_dir_all(&eth).unwrap();
        std::os::unix::fs::symlink("../../../../module/virtio_net", eth.join("module")).unwrap();
        std::fs::create_dir_all(root.join("sys/class/net/lo")).unwrap();
        // A driver built into the running kernel: no module link, named by the driver.
        std::fs::create_dir_all(root.join("sys/class/net/eth9/device")).unwrap();
        std::os::unix::fs::symlink(
            "../../../../bus/virtio/drivers/virtio_blk",
            root.join("sys/class/net/eth9/device/driver"),
        )
        .unwrap();
        let modules = root.join("lib/modules/6.1.0-1-test");
        std::fs::create_dir_all(modules.join("kernel")).unwrap();
        // A tiny module image whose .modinfo names its firmware, as elf::firmware reads it.
        std::fs::write(
            modules.join("kernel/fwnic.ko"),
            fake_module("firmware=fw/nic.bin"),
        )
        .unwrap();
        std::fs::write(
            modules.join("kernel/virtio_net.ko"),
            fake_module("license=GPL"),
        )
        .unwrap();
        let inputs = Inputs {
            config: None,
            authorized_keys: None,
            crypttab: None,
            host_key: None,
            modules_dir: modules,
            firmware_dir: root.join("lib/firmware"),
            compress: Compression::Zstd,
        };
        (dir, host, inputs)
    }

    /// A minimal ELF64 whose `.modinfo` section holds `modinfo` (as elf.rs's tests make it).
    fn fake_module(modinfo: &str) -> Vec<u8> {
        let shstrtab = b"\0.shstrtab\0.modinfo\0";
        let info = format!("{modinfo}\0").into_bytes();
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let strtab_off = elf.len();
        elf.extend_from_slice(shstrtab);
        let info_off = elf.len();
        elf.extend_from_slice(&info);
        while elf.len() % 8 != 0 {
            elf.push(0);
        }
        let shoff = elf.len();
        for (name, off, size) in [
            (0u32, 0, 0),
            (1, strtab_off, shstrtab.len()),
            (11, info_off, info.len()),
        ] {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        }
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        elf
    }

    fn index() -> ModuleIndex {
        ModuleIndex::parse(
            "kernel/virtio_net.ko:\nkernel/fwnic.ko:\n",
            "alias fs-xfs xfs\n",
            "",
            "",
        )
    }

    #[test]
    fn root_fstype_and_nic_drivers_from_a_fake_host() {
        let (_d, host, inputs) = host();
        assert_eq!(root_fstype(&host).as_deref(), Some("xfs"));
        assert_eq!(
            nic_drivers(&host),
            vec![
                ("eth0".into(), "virtio_net".into()),
                ("eth9".into(), "virtio_blk".into())
            ]
        );
        let mut out = Vec::new();
        check(&host, &inputs, &index(), &Config::default(), &mut out);
        assert!(out
            .iter()
            .any(|f| f.severity == Severity::Ok && f.text.contains("virtio_net")));
        let eth9 = out.iter().find(|f| f.text.starts_with("eth9")).unwrap();
        assert_eq!(eth9.severity, Severity::Error, "{eth9:?}");
        assert!(eth9.text.contains("driver virtio_blk"), "{eth9:?}");
        let xfs = out.iter().find(|f| f.text.contains("xfs")).unwrap();
        assert_eq!(xfs.severity, Severity::Error, "{xfs:?}");
        assert!(xfs.text.contains("modules.include"), "{xfs:?}");
    }

    #[test]
    fn the_hosts_root_filesystem_module_is_carried_without_config() {
        let (_d, host, inputs) = host();
        let index = ModuleIndex::parse(
            "kernel/virtio_net.ko:\nkernel/fs/xfs/xfs.ko:\n",
            "alias fs-xfs xfs\n",
            "",
            "",
        );
        let mut out = Vec::new();
        check(&host, &inputs, &index, &Config::default(), &mut out);
        let xfs = out.iter().find(|f| f.text.contains("xfs")).unwrap();
        assert_eq!(xfs.severity, Severity::Ok, "{xfs:?}");
    }

    #[test]
    fn a_nic_driver_outside_the_image_is_an_error_and_missing_firmware_a_warning() {
        let (_d, host, inputs) = host();
        let eth = host.path("/sys/class/net/eth1/device/driver");
        std::fs::create_dir_all(&eth).unwrap();
        std::os::unix::fs::symlink("../../../../module/fwnic", eth.join("module")).unwrap();
        let mut out = Vec::new();
        check(&host, &inputs, &index(), &Config::default(), &mut out);
        let eth1 = out.iter().find(|f| f.text.starts_with("eth1")).unwrap();
        assert_eq!(eth1.severity, Severity::Error, "{eth1:?}");
        assert!(
            eth1.text.contains("add \"fwnic\" to modules.include"),
            "{eth1:?}"
        );

        let mut config = Config::default();
        config.modules.include.push("fwnic".into());
        let mut out = Vec::new();
        check(&host, &inputs, &index(), &config, &mut out);
        let eth1 = out.iter().find(|f| f.text.starts_with("eth1")).unwrap();
        assert_eq!(eth1.severity, Severity::Warning, "{eth1:?}");
        assert!(eth1.text.contains("fw/nic.bin"), "{eth1:?}");

        std::fs::create_dir_all(inputs.firmware_dir.join("fw")).unwrap();
        std::fs::write(inputs.firmware_dir.join("fw/nic.bin.zst"), b"x").unwrap();
        let mut out = Vec::new();
        check(&host, &inputs, &index(), &config, &mut out);
        let eth1 = out.iter().find(|f| f.text.starts_with("eth1")).unwrap();
        assert_eq!(eth1.severity, Severity::Ok, "{eth1:?}");
        assert!(eth1.text.contains("1 firmware file"), "{eth1:?}");
    }
}
