//! What a fresh Debian/Ubuntu machine needs before the tests can run: the apt packages
//! (installed when we are root, else the exact command is printed), the static
//! libcryptsetup (scripts/), the Debian test kernel (sesame-qemu fetches it).

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Debian packages the build and the tests use, with why. Every package of
/// `sesame_qemu::TOOL_PACKAGES` (the programs the tests, the harness, the bench and xtask
/// run) must be here: a unit test checks it, so a fresh machine gets them all.
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
    (
        "util-linux",
        "blkid and partx, the prober's reference; mkswap; unshare for the bench",
    ),
    ("mount", "losetup for the key-device test"),
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
    ("zstd", "the bench unpacks zstd initramfs images"),
    ("gzip", "initramfs_stats unpacks gzip initramfs images"),
    ("xz-utils", "initramfs_stats unpacks xz initramfs images"),
    ("lz4", "initramfs_stats unpacks lz4 initramfs images"),
    (
        "openssh-client",
        "the real ssh client (ssh, ssh-keygen, ssh-keyscan, ssh-agent) in e2e tests",
    ),
    (
        "iproute2",
        "ip: network namespaces, bridges and taps of the network tests",
    ),
    ("dnsmasq-base", "the real DHCP server of the network tests"),
    (
        "debootstrap",
        "the real Debian root of the hand-over tests, the bench's Debian chroot",
    ),
    ("file", "checking the binary is static"),
    ("dpkg-dev", "apt-get source for the static libcryptsetup"),
    // Always there on Debian (essential or required); listed because the tests run them.
    ("apt", "apt-get and apt-cache fetch the test kernel"),
    (
        "dpkg",
        "dpkg-deb unpacks the test kernel; dpkg-query checks this list",
    ),
    ("coreutils", "sha256sum, chroot, cp, id, date, seq, sleep"),
    ("bash", "scripts/, bench/debian.sh and shell lines in tests"),
    ("dash", "/bin/sh: package hooks in tests, apt-get here"),
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

#[cfg(test)]
mod tests {
    use super::PACKAGES;

    #[test]
    fn every_package_of_the_harness_tool_list_is_installed() {
        let missing: Vec<String> = sesame_qemu::TOOL_PACKAGES
            .iter()
            .filter(|(_, pkg)| !PACKAGES.iter().any(|(p, _)| p == pkg))
            .map(|(tool, pkg)| format!("{pkg} (for {tool})"))
            .collect();
        assert!(
            missing.is_empty(),
            "packages of sesame_qemu::TOOL_PACKAGES missing from PACKAGES in \
             xtask/src/setup.rs (a fresh machine would not get them): {}",
            missing.join(", ")
        );
    }

    #[test]
    fn packages_are_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (p, why) in PACKAGES {
            assert!(seen.insert(p), "{p} is listed twice");
            assert!(!why.is_empty(), "{p} says not why");
        }
    }
}
