//! Mounting the real root on `/sysroot`: the filesystem type (`rootfstype=` or what the
//! prober saw), its module, `rootflags=` split into mount flags and data, `ro`/`rw`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};

use crate::modules::load::Loader;
use sesame_storage::scan::BlockDevice;

/// Where the real root is mounted before switch_root.
pub const SYSROOT: &str = "/sysroot";

/// How to mount the root, from the command line and config.
#[derive(Debug, Clone, Default)]
pub struct RootMount {
    pub fstype: Option<String>,
    pub flags: Option<String>,
    /// `ro`/`rw`; the kernel's default is read-only.
    pub read_only: Option<bool>,
}

/// Splits mount options as mount(8) does: known flags become `MsFlags`, the rest is
/// passed to the filesystem as data.
pub fn parse_mount_options(opts: &str) -> (MsFlags, MsFlags, String) {
    let mut set = MsFlags::empty();
    let mut clear = MsFlags::empty();
    let mut data = Vec::new();
    for opt in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let (on, flag) = match opt {
            "ro" => (true, MsFlags::MS_RDONLY),
            "rw" => (false, MsFlags::MS_RDONLY),
            "nosuid" => (true, MsFlags::MS_NOSUID),
            "suid" => (false, MsFlags::MS_NOSUID),
            "nodev" => (true, MsFlags::MS_NODEV),
            "dev" => (false, MsFlags::MS_NODEV),
            "noexec" => (true, MsFlags::MS_NOEXEC),
            "exec" => (false, MsFlags::MS_NOEXEC),
            "sync" => (true, MsFlags::MS_SYNCHRONOUS),
            "async" => (false, MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (true, MsFlags::MS_DIRSYNC),
            "noatime" => (true, MsFlags::MS_NOATIME),
            "atime" => (false, MsFlags::MS_NOATIME),
            "nodiratime" => (true, MsFlags::MS_NODIRATIME),
            "diratime" => (false, MsFlags::MS_NODIRATIME),
            "relatime" => (true, MsFlags::MS_RELATIME),
            "norelatime" => (false, MsFlags::MS_RELATIME),
            "strictatime" => (true, MsFlags::MS_STRICTATIME),
            "lazytime" => (true, MsFlags::MS_LAZYTIME),
            "nolazytime" => (false, MsFlags::MS_LAZYTIME),
            "defaults" => continue,
            other => {
                data.push(other);
                continue;
            }
        };
        if on {
            set |= flag;
            clear &= !flag;
        } else {
            clear |= flag;
            set &= !flag;
        }
    }
    (set, clear, data.join(","))
}

/// The final flags and data for the root mount. `ro`/`rw` on the command line win over
/// `rootflags=`; neither means read-only, as the kernel does.
pub fn root_flags(spec: &RootMount) -> (MsFlags, String) {
    let (set, clear, data) = parse_mount_options(spec.flags.as_deref().unwrap_or(""));
    let mut flags = set;
    let read_only = match spec.read_only {
        Some(ro) => ro,
        None => !clear.contains(MsFlags::MS_RDONLY),
    };
    flags.set(MsFlags::MS_RDONLY, read_only);
    (flags, data)
}

/// Filesystems the kernel knows now that need a device (`/proc/filesystems` without `nodev`).
pub fn block_filesystems(proc_filesystems: &str) -> Vec<String> {
    proc_filesystems
        .lines()
        .filter(|l| !l.starts_with("nodev"))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Mounts `dev` on `target`, loading the filesystem's module first.
pub fn mount_root(
    dev: &BlockDevice,
    spec: &RootMount,
    loader: Option<&Loader>,
    target: &Path,
) -> Result<String> {
    let _ = std::fs::create_dir_all(target);
    let (flags, data) = root_flags(spec);
    let data = (!data.is_empty()).then_some(data);
    let detected = dev
        .fs
        .as_ref()
        .filter(|f| f.fstype.is_mountable())
        .map(|f| f.fstype.kernel_name().to_string());
    let candidates: Vec<String> = match (&spec.fstype, detected) {
        // rootfstype= may list several types, tried in order (as the kernel does).
        (Some(t), _) => t
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        // Kernels without the ext2/ext3 drivers mount both with ext4.
        (None, Some(t)) if t == "ext2" || t == "ext3" => vec![t, "ext4".into()],
        (None, Some(t)) => vec![t],
        (None, None) => {
            if let Some(fs) = &dev.fs {
                bail!(
                    "{} holds {}, which is not a mountable filesystem (root= names the wrong device?)",
                    dev.node.display(),
                    fs.fstype.kernel_name()
                );
            }
            log::warn!(
                "no filesystem recognised on {}; trying every type the kernel knows",
                dev.node.display()
            );
            block_filesystems(&std::fs::read_to_string("/proc/filesystems").unwrap_or_default())
        }
    };
    let mut errors = Vec::new();
    for fstype in &candidates {
        // Built-in filesystems have no module; a missing module shows in the mount error.
        if let Some(loader) = loader {
            let _ = loader.load(&format!("fs-{fstype}"));
        }
        match mount(
            Some(&dev.mount_path()),
            target,
            Some(fstype.as_str()),
            flags,
            data.as_deref(),
        ) {
            Ok(()) => return Ok(fstype.clone()),
            Err(e) => errors.push(format!("{fstype}: {}", e.desc())),
        }
    }
    Err(anyhow::anyhow!(
        "mounting {} on {} failed ({}); check rootfstype= and rootflags=, and `dmesg` for the filesystem's own message",
        dev.mount_path().display(),
        target.display(),
        errors.join("; ")
    ))
    .context("mounting the root filesystem")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (set, clear, data) =
            parse_mount_options("noatime,subvol=@,compress=zstd,nodev,defaults");
        assert!(set.contains(MsFlags::MS_NOATIME | MsFlags::MS_NODEV));
        assert!(clear.is_empty());
        assert_eq!(data, "subvol=@,compress=zstd");
        let (set, clear, data) = parse_mount_options("ro,rw");
        assert!(!set.contains(MsFlags::MS_RDONLY));
        assert!(clear.contains(MsFlags::MS_RDONLY));
        assert_eq!(data, "");
        let (set, _, data) = parse_mount_options(" , ,,");
        assert!(set.is_empty() && data.is_empty());
    }

    #[test]
    fn read_only_is_the_default_and_the_command_line_wins() {
        let ro = |flags: Option<&str>, read_only| {
            let spec = RootMount {
                fstype: None,
                flags: flags.map(str::to_string),
                read_only,
            };
            root_flags(&spec).0.contains(MsFlags::MS_RDONLY)
        };
        assert!(ro(None, None));
        assert!(!ro(Some("rw"), None));
        assert!(ro(Some("rw"), Some(true)));
        assert!(!ro(Some("ro"), Some(false)));
        assert!(!ro(None, Some(false)));
    }

    #[test]
    fn proc_filesystems_without_nodev() {
        let text = "nodev\tsysfs\nnodev\ttmpfs\n\text4\n\tvfat\n";
        assert_eq!(block_filesystems(text), vec!["ext4", "vfat"]);
    }
}
