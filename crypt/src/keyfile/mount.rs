//! Mounting a key device read-only on a private directory, and unmounting it: the
//! syscalls behind `MountingKeyfileReader`.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// File systems tried first, in this order; then the rest of /proc/filesystems.
const PREFERRED: &[&str] = &["ext4", "vfat", "xfs", "btrfs", "ext3", "ext2", "iso9660"];

/// A device mounted by the reader.
#[derive(Debug)]
pub(super) struct Mounted {
    pub device: PathBuf,
    pub at: PathBuf,
}

impl Mounted {
    /// Unmounts (lazily if busy) and removes the mount point.
    pub fn unmount(self) -> Result<(), String> {
        let result = umount2(&self.at, MntFlags::empty())
            .or_else(|_| umount2(&self.at, MntFlags::MNT_DETACH))
            .map_err(|e| {
                format!(
                    "cannot unmount the key device {} from {}: {e}",
                    self.device.display(),
                    self.at.display()
                )
            });
        let _ = std::fs::remove_dir(&self.at);
        result
    }
}

/// Mounts `device` read-only on `<base>/<n>-<device name>`, trying each block file
/// system the kernel knows.
pub(super) fn mount_read_only(device: &Path, base: &Path, n: usize) -> Result<Mounted, String> {
    let stem: String = device
        .to_string_lossy()
        .trim_start_matches("/dev/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let at = base.join(format!("{n}-{stem}"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&at)
        .map_err(|e| format!("cannot make the mount point {}: {e}", at.display()))?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let types = filesystem_types(&std::fs::read_to_string("/proc/filesystems").unwrap_or_default());
    let mut last = None;
    for t in &types {
        match mount(Some(device), &at, Some(t.as_str()), flags, None::<&str>) {
            Ok(()) => {
                log::debug!(
                    "key device {} mounted ({t}) on {}",
                    device.display(),
                    at.display()
                );
                return Ok(Mounted {
                    device: device.to_path_buf(),
                    at,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    let _ = std::fs::remove_dir(&at);
    Err(format!(
        "cannot mount the key device {} read-only (tried {}): {}; is its file system's module loaded?",
        device.display(),
        types.join(", "),
        last.map_or_else(|| "no file system types".to_string(), |e| e.to_string())
    ))
}

/// The block file systems of /proc/filesystems (not `nodev`), the usual ones first.
/// Without /proc, the usual ones.
pub(super) fn filesystem_types(proc_filesystems: &str) -> Vec<String> {
    let known: Vec<&str> = proc_filesystems
        .lines()
        .filter(|l| !l.starts_with("nodev"))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if known.is_empty() {
        return PREFERRED.iter().map(|t| t.to_string()).collect();
    }
    let mut out: Vec<String> = PREFERRED
        .iter()
        .filter(|p| known.contains(p))
        .map(|t| t.to_string())
        .collect();
    for t in known {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}
