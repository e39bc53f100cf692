//! What a fresh Debian/Ubuntu machine needs before the tests can run: the apt packages
//! (installed when we are root, else the exact command is printed), the static
//! libcryptsetup (scripts/), the Debian test kernel (sesame-qemu fetches it).

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Debian packages the build and the tests use, with why.
pub const PACKAGES: &[(&str, &str)] = &[
    ("build-essential", "C compiler for -sys crates"),
    ("pkg-config", "finding libcryptsetup"),
    ("clang", "bindgen for libcryptsetup-rs"),
    ("libclang-dev", "bindgen for libcryptsetup-rs"),
    (
        "libcryptsetup-dev",
        "host builds and unit tests link the system libcryptsetup",
    ),
    ("cryptsetup-bin", "making LUKS test disks"),
    ("e2fsprogs", "making ext4 test disks"),
    ("util-linux", "blkid and partx, the prober's reference"),
    ("dosfstools", "prober tests (vfat)"),
    ("exfatprogs", "prober tests (exFAT)"),
    ("xfsprogs", "prober tests (xfs)"),
    ("btrfs-progs", "prober tests (btrfs)"),
    ("f2fs-tools", "prober tests (f2fs)"),
    ("squashfs-tools", "prober tests (squashfs)"),
    ("erofs-utils", "prober tests (erofs)"),
    ("genisoimage", "prober tests (iso9660)"),
    ("fdisk", "partition table tests (MBR)"),
    ("gdisk", "partition table tests (GPT)"),
    ("qemu-system-x86", "booting the test VMs"),
    ("kmod", "depmod for the test kernel"),
    ("cpio", "checking images with the reference cpio"),
    ("openssh-client", "the real ssh client in e2e tests"),
    ("file", "checking the binary is static"),
    ("dpkg-dev", "apt-get source for the static libcryptsetup"),
];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs what is missing (as root), or fails with the command to run.
pub fn ensure_packages() -> Result<()> {
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!(
            "this is not a Debian/Ubuntu machine (no dpkg-query); install the equivalents of: {}",
            PACKAGES
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !nix_is_root() {
        bail!("missing packages; run:\n  sudo apt-get update && sudo {line}");
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    crate::run(Command::new("apt-get").args(["update", "-q"]))?;
    crate::run(
        Command::new("sh")
            .args(["-c", &line])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("installing packages")
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
