//! Helpers shared by the integration tests: LUKS images made by the real `cryptsetup`
//! on plain files (no device-mapper needed), with a cheap PBKDF unless asked otherwise.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cryptsetup` with `args`, panicking with its output on failure.
pub fn cryptsetup(args: &[&str]) {
    let out = Command::new("cryptsetup")
        .args(args)
        .output()
        .expect("cryptsetup is needed: apt-get install -y cryptsetup-bin");
    assert!(
        out.status.success(),
        "cryptsetup {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 20 MiB file formatted as LUKS (`luks1` or `luks2`) with `key_file` in slot 0,
/// PBKDF2 at 1000 iterations, plus `extra` arguments.
pub fn luks_image(dir: &Path, name: &str, kind: &str, key_file: &Path, extra: &[&str]) -> PathBuf {
    let img = dir.join(name);
    std::fs::write(&img, vec![0u8; 20 << 20]).unwrap();
    let mut args = vec![
        "luksFormat",
        "-q",
        "--type",
        kind,
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        key_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(img.to_str().unwrap());
    cryptsetup(&args);
    img
}

pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}
