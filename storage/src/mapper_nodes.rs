//! `/dev/mapper/<name>` as udev leaves it: a symlink to `../dm-N`. libdevmapper, run
//! without udev in the initramfs, makes a device node there instead; the real root's
//! udev then cannot put its link in place ("Failed to create/update device symlink
//! '/dev/mapper/root', ignoring: File exists"). Before switch_root sesame replaces each
//! such node with the link udev would have made (the devtmpfs moves to the real root).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::udev_db::DmDevice;

/// Replaces each `dev_dir/mapper/<name>` that is the device node of one of `devices`
/// with a symlink to `../<kernel name>` (when `dev_dir/<kernel name>` exists), atomically.
/// Returns the names relinked and the problems met; anything else is left as it is.
pub fn link_mapper_nodes(dev_dir: &Path, devices: &[DmDevice]) -> (Vec<String>, Vec<String>) {
    let mut linked = Vec::new();
    let mut problems = Vec::new();
    for d in devices {
        if d.name.is_empty() || d.name.contains('/') || d.name.starts_with('.') {
            continue;
        }
        let node = dev_dir.join("mapper").join(&d.name);
        let Ok(meta) = fs::symlink_metadata(&node) else {
            continue;
        };
        let rdev = meta.rdev();
        let same = meta.file_type().is_block_device()
            && nix::sys::stat::major(rdev) == u64::from(d.major)
            && nix::sys::stat::minor(rdev) == u64::from(d.minor);
        if !same || !dev_dir.join(&d.kernel_name).exists() {
            continue;
        }
        let tmp = dev_dir
            .join("mapper")
            .join(format!(".{}.sesame-link", d.name));
        let _ = fs::remove_file(&tmp);
        let target = format!("../{}", d.kernel_name);
        match std::os::unix::fs::symlink(&target, &tmp).and_then(|()| fs::rename(&tmp, &node)) {
            Ok(()) => linked.push(d.name.clone()),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                problems.push(format!("linking {} to {target}: {e}", node.display()));
            }
        }
    }
    (linked, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, kernel: &str, minor: u32) -> DmDevice {
        DmDevice {
            kernel_name: kernel.into(),
            major: 253,
            minor,
            name: name.into(),
            uuid: String::new(),
            suspended: false,
        }
    }

    /// Without the right to mknod (unit tests run unprivileged too), only the cases that
    /// need no device node: a link already there, a regular file, a missing node.
    #[test]
    fn anything_but_the_devices_own_node_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::create_dir_all(d.join("mapper")).unwrap();
        fs::write(d.join("dm-0"), "").unwrap();
        std::os::unix::fs::symlink("../dm-0", d.join("mapper/root")).unwrap();
        fs::write(d.join("mapper/control"), "").unwrap();
        fs::write(d.join("mapper/home"), "not a node").unwrap();
        let devices = [
            dev("root", "dm-0", 0),
            dev("home", "dm-1", 1),
            dev("gone", "dm-2", 2),
        ];
        let (linked, problems) = link_mapper_nodes(d, &devices);
        assert!(
            linked.is_empty() && problems.is_empty(),
            "{linked:?} {problems:?}"
        );
        assert_eq!(
            fs::read_link(d.join("mapper/root")).unwrap(),
            Path::new("../dm-0")
        );
        assert_eq!(
            fs::read_to_string(d.join("mapper/home")).unwrap(),
            "not a node"
        );
    }

    /// With mknod (root, as the QEMU tests' builder runs): the node becomes the link.
    #[test]
    fn the_devices_node_becomes_a_link() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::create_dir_all(d.join("mapper")).unwrap();
        let node = d.join("mapper/root");
        let made = nix::sys::stat::mknod(
            &node,
            nix::sys::stat::SFlag::S_IFBLK,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(253, 0),
        );
        if made.is_err() {
            eprintln!("no mknod here ({made:?}); the QEMU hand-over tests cover it");
            return;
        }
        fs::write(d.join("dm-0"), "").unwrap();
        // Another device's numbers: left alone.
        let (linked, _) = link_mapper_nodes(d, &[dev("root", "dm-0", 7)]);
        assert!(linked.is_empty());
        let (linked, problems) = link_mapper_nodes(d, &[dev("root", "dm-0", 0)]);
        assert_eq!(linked, ["root"], "{problems:?}");
        assert_eq!(fs::read_link(&node).unwrap(), Path::new("../dm-0"));
        assert!(!d.join("mapper/.root.sesame-link").exists());
    }
}
