//! Unit tests of key-file reading: offset/size slicing, limits, files in the image, and a
//! real read-only mount of a loop device when the host allows it.

use std::io::Cursor;
use std::process::Command;

use super::*;

fn key(data: &[u8], offset: Option<u64>, size: Option<u64>) -> Result<Vec<u8>, String> {
    read_key(&mut Cursor::new(data), offset, size).map(|p| p.as_bytes().to_vec())
}

#[test]
fn offset_and_size_slicing() {
    let data = b"0123456789";
    assert_eq!(key(data, None, None).unwrap(), data);
    assert_eq!(key(data, Some(2), None).unwrap(), b"23456789");
    assert_eq!(key(data, Some(2), Some(3)).unwrap(), b"234");
    assert_eq!(key(data, None, Some(4)).unwrap(), b"0123");
    assert_eq!(key(data, Some(6), Some(4)).unwrap(), b"6789");
    // keyfile-size=0 means the whole file, as in crypttab(5).
    assert_eq!(key(data, Some(8), Some(0)).unwrap(), b"89");
    // A trailing newline is part of the key, as for cryptsetup --key-file.
    assert_eq!(key(b"pw\n", None, None).unwrap(), b"pw\n");
}

#[test]
fn slicing_errors() {
    let data = b"0123456789";
    assert!(key(data, Some(11), None).unwrap_err().contains("beyond"));
    assert!(key(data, Some(10), None).unwrap_err().contains("empty"));
    assert!(key(b"", None, None).unwrap_err().contains("empty"));
    let e = key(data, Some(8), Some(3)).unwrap_err();
    assert!(e.contains("keyfile-size=3") && e.contains("2 bytes"), "{e}");
    // Nothing of the data leaks into the message.
    assert!(!e.contains("89"), "{e}");
}

#[test]
fn size_limit() {
    let big = vec![7u8; (MAX_KEYFILE_SIZE + 1) as usize];
    assert!(key(&big, None, None).unwrap_err().contains("keyfile-size="));
    assert_eq!(
        key(&big, Some(1), None).unwrap().len() as u64,
        MAX_KEYFILE_SIZE
    );
    assert_eq!(key(&big, None, Some(16)).unwrap(), vec![7u8; 16]);
}

#[test]
fn files_in_the_image() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/keys")).unwrap();
    std::fs::write(
        dir.path().join("etc/keys/data.key"),
        b"HEADERkey-bytesTRAILER",
    )
    .unwrap();
    let r = MountingKeyfileReader::with_root(dir.path());
    let k = r
        .read("/etc/keys/data.key", None, Some(6), Some(9))
        .unwrap();
    assert_eq!(k.as_bytes(), b"key-bytes");
    let e = r
        .read("/etc/keys/missing.key", None, None, None)
        .unwrap_err();
    assert!(e.contains("/etc/keys/missing.key"), "{e}");
    r.release();
}

#[test]
fn filesystem_order() {
    let proc = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text2\n\text4\n\tsquashfs\n\tvfat\n";
    assert_eq!(
        mount::filesystem_types(proc),
        vec!["ext4", "vfat", "ext3", "ext2", "squashfs"]
    );
    assert_eq!(mount::filesystem_types("")[0], "ext4");
}

/// A loop device holding an ext4 file system with a key file: mounted read-only on a
/// private directory, read at an offset, unmounted by `release`. Skipped where the host
/// has no loop devices (a container, not root); fails without mkfs.ext4 or losetup.
#[test]
fn a_key_device_is_mounted_read_only_and_released() {
    sesame_qemu::require_tools(&["mkfs.ext4", "losetup"]).unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("content");
    std::fs::create_dir_all(content.join("keys")).unwrap();
    std::fs::write(content.join("keys/data.key"), b"xxkey-on-device").unwrap();
    let img = dir.path().join("keys.img");
    std::fs::write(&img, vec![0u8; 8 << 20]).unwrap();
    let mkfs = tool("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&content)
        .arg(&img)
        .output()
        .unwrap();
    assert!(mkfs.status.success(), "mkfs.ext4: {mkfs:?}");
    let out = tool("losetup")
        .args(["-f", "--show", "-r"])
        .arg(&img)
        .output();
    let loopdev = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            eprintln!("skipped: no loop device");
            return;
        }
    };
    let root = dir.path().join("root");
    let r = MountingKeyfileReader::with_root(&root);
    let result = r.read("/keys/data.key", Some(Path::new(&loopdev)), Some(2), None);
    let second = r.read("keys/data.key", Some(Path::new(&loopdev)), None, Some(2));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    r.release();
    let after = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let _ = tool("losetup").arg("-d").arg(&loopdev).status();
    match result {
        Ok(k) => assert_eq!(k.as_bytes(), b"key-on-device"),
        Err(e) if e.contains("cannot mount") => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    assert_eq!(second.unwrap().as_bytes(), b"xx");
    let base = root.join("run/sesame/keys");
    let line = mounts
        .lines()
        .find(|l| l.contains(base.to_str().unwrap()))
        .expect("mounted under run/sesame/keys");
    assert!(
        line.contains(" ro,") && line.contains("nosuid") && line.contains("nodev"),
        "{line}"
    );
    // Mounted once for both reads, and gone after release.
    assert_eq!(
        mounts.matches(base.to_str().unwrap()).count(),
        1,
        "{mounts}"
    );
    assert!(!after.contains(base.to_str().unwrap()), "{after}");
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
}

/// A `Command` for a host tool, found by the harness ([`sesame_qemu::command`]).
fn tool(name: &str) -> Command {
    sesame_qemu::command(name).unwrap_or_else(|e| panic!("{e:#}"))
}
