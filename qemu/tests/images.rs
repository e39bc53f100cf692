//! Disk images made in userspace: ext4 from a directory, LUKS2/LUKS1 around it.

use std::path::Path;
use std::process::Command;

use sesame_qemu::{
    ext4_image, luks_encrypt, luks_test_passphrase, random_uuid, require_tools, LuksOptions,
    LuksVersion, Pbkdf, RootFs,
};

fn dump(args: &[&str], image: &Path) -> String {
    let out = Command::new(sesame_qemu::tool_path(args[0]).unwrap())
        .args(&args[1..])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `text` with every run of whitespace made one space, to compare dump lines.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn ext4_image_has_the_uuid_label_and_files() {
    require_tools(&["mkfs.ext4", "dumpe2fs", "debugfs"]).unwrap();
    let root = RootFs::empty().unwrap();
    root.add_file("etc/hostname", "marker\n", 0o644).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("root.img");
    let uuid = ext4_image(&img, 16, Some("testroot"), root.path()).unwrap();
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 16 << 20);
    let head = dump(&["dumpe2fs", "-h"], &img);
    assert!(
        head.contains(&format!("Filesystem UUID:          {uuid}")),
        "{head}"
    );
    assert!(
        head.contains("Filesystem volume name:   testroot"),
        "{head}"
    );
    let cat = dump(&["debugfs", "-R", "cat /etc/hostname"], &img);
    assert_eq!(cat, "marker\n");
    let ls = dump(&["debugfs", "-R", "ls -l /"], &img);
    for d in ["dev", "proc", "sys", "run", "etc", "tmp", "sbin"] {
        assert!(ls.contains(&format!(" {d}")), "{d} missing: {ls}");
    }
}

fn fs_image(dir: &Path, name: &str) -> std::path::PathBuf {
    let root = RootFs::empty().unwrap();
    let img = dir.join(name);
    ext4_image(&img, 8, None, root.path()).unwrap();
    img
}

#[test]
fn luks2_cheap_pbkdf2_with_label_and_uuid() {
    require_tools(&["mkfs.ext4", "cryptsetup"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let img = fs_image(dir.path(), "a.img");
    let want = random_uuid().unwrap();
    let opts = LuksOptions::new(b"correct horse\n\x00\xff".to_vec())
        .label("cryptroot")
        .uuid(&want);
    let uuid = luks_encrypt(&img, &opts).unwrap();
    assert_eq!(uuid, want);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 40 << 20);
    assert!(luks_test_passphrase(&img, b"correct horse\n\x00\xff").unwrap());
    assert!(!luks_test_passphrase(&img, b"correct horse").unwrap());
    let dump = squash(&dump(&["cryptsetup", "luksDump"], &img));
    assert!(dump.contains("Version: 2"), "{dump}");
    assert!(dump.contains("Label: cryptroot"), "{dump}");
    assert!(dump.contains("PBKDF: pbkdf2"), "{dump}");
    assert!(dump.contains("Iterations: 1000"), "{dump}");
}

#[test]
fn luks2_cheap_argon2id() {
    require_tools(&["mkfs.ext4", "cryptsetup"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let img = fs_image(dir.path(), "b.img");
    let opts = LuksOptions::new("pw").pbkdf(Pbkdf::CheapArgon2id);
    let uuid = luks_encrypt(&img, &opts).unwrap();
    assert_eq!(uuid.len(), 36);
    assert!(luks_test_passphrase(&img, b"pw").unwrap());
    let dump = squash(&dump(&["cryptsetup", "luksDump"], &img));
    assert!(dump.contains("PBKDF: argon2id"), "{dump}");
    assert!(dump.contains("Time cost: 4"), "{dump}");
}

#[test]
fn luks1_by_conversion() {
    require_tools(&["mkfs.ext4", "cryptsetup"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let img = fs_image(dir.path(), "c.img");
    let want = random_uuid().unwrap();
    let opts = LuksOptions::new("old")
        .version(LuksVersion::Luks1)
        .uuid(&want);
    assert_eq!(luks_encrypt(&img, &opts).unwrap(), want);
    assert!(luks_test_passphrase(&img, b"old").unwrap());
    let dump = squash(&dump(&["cryptsetup", "luksDump"], &img));
    assert!(dump.contains("Version: 1"), "{dump}");
    // LUKS1 has no labels, nor argon2.
    assert!(luks_encrypt(
        &img,
        &LuksOptions::new("x").version(LuksVersion::Luks1).label("l")
    )
    .is_err());
}
