//! Host tools the harness runs (QEMU, mkfs.ext4, cryptsetup, …): finding them, and failing
//! loudly with the exact `apt-get install` line when some are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Every external program a test, the harness, the bench (`xtask/src/bench`), the demo or
/// `cargo xtask test` runs on the host, with the Debian package that ships it: the single
/// source of truth. [`require_tools`] refuses a program missing here, and xtask's unit tests
/// check that each package is in `xtask/src/setup.rs`'s `PACKAGES` (what `cargo xtask test`
/// installs) and that every program named in the workspace's sources is here or in
/// [`UNPACKAGED_TOOLS`]. Programs that run inside a VM come from the guest's root and are
/// not listed.
pub const TOOL_PACKAGES: &[(&str, &str)] = &[
    // QEMU and the test kernel.
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("apt-get", "apt"),
    ("apt-cache", "apt"),
    ("dpkg-deb", "dpkg"),
    ("dpkg-query", "dpkg"),
    ("depmod", "kmod"),
    // The real Debian root and the bench's Debian chroot.
    ("debootstrap", "debootstrap"),
    ("unshare", "util-linux"),
    ("chroot", "coreutils"),
    // Disks: ext4, LUKS, partition tables, loop devices.
    ("cryptsetup", "cryptsetup-bin"),
    ("mkfs.ext2", "e2fsprogs"),
    ("mkfs.ext3", "e2fsprogs"),
    ("mkfs.ext4", "e2fsprogs"),
    ("dumpe2fs", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("sgdisk", "gdisk"),
    ("sfdisk", "fdisk"),
    ("losetup", "mount"),
    // The prober's references: blkid and partx, and a file system of every kind.
    ("blkid", "util-linux"),
    ("partx", "util-linux"),
    ("mkswap", "util-linux"),
    ("mkfs.vfat", "dosfstools"),
    ("fatlabel", "dosfstools"),
    ("mkfs.exfat", "exfatprogs"),
    ("mkfs.xfs", "xfsprogs"),
    ("mkfs.btrfs", "btrfs-progs"),
    ("mkfs.f2fs", "f2fs-tools"),
    ("mksquashfs", "squashfs-tools"),
    ("mkfs.erofs", "erofs-utils"),
    ("genisoimage", "genisoimage"),
    // Initramfs archives: the reference cpio, and the decompressors of initramfs_stats.
    ("cpio", "cpio"),
    ("zstd", "zstd"),
    ("gzip", "gzip"),
    ("xz", "xz-utils"),
    ("lz4", "lz4"),
    // SSH: the real OpenSSH client.
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("ssh-keyscan", "openssh-client"),
    ("ssh-agent", "openssh-client"),
    // Networks: namespaces, bridges, taps, and a real DHCP server.
    ("ip", "iproute2"),
    ("dnsmasq", "dnsmasq-base"),
    // Shells and coreutils (in shell lines too: `seq`, `sleep`).
    ("sh", "dash"),
    ("bash", "bash"),
    ("cp", "coreutils"),
    ("date", "coreutils"),
    ("id", "coreutils"),
    ("seq", "coreutils"),
    ("sha256sum", "coreutils"),
    ("sleep", "coreutils"),
    // `cargo xtask build` checks the binaries are static.
    ("file", "file"),
];

/// Programs run on the host that no Debian package provides here, with why.
pub const UNPACKAGED_TOOLS: &[(&str, &str)] = &[
    (
        "cargo",
        "the Rust toolchain (rustup), which builds everything; xtask runs it for clippy, \
         the tests and `cargo +nightly fuzz`",
    ),
    (
        "rustc",
        "the Rust toolchain (rustup); the bench compiles bench/probe.rs with it",
    ),
    (
        "sesame",
        "built by this workspace (`cargo xtask build`) and run by its path",
    ),
];

/// The Debian package that ships `tool`, when [`TOOL_PACKAGES`] has it.
pub fn package_of(tool: &str) -> Option<&'static str> {
    TOOL_PACKAGES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, p)| *p)
}

fn unpackaged(tool: &str) -> Option<&'static str> {
    UNPACKAGED_TOOLS
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, why)| *why)
}

/// Where `tool` is: the first match in `$PATH`, then `/usr/sbin` and `/sbin` (which a
/// normal user's `$PATH` often lacks on Debian).
pub fn tool_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Fails, naming every missing tool and the `apt-get install` line that provides them.
/// Tests call this first: a missing tool is an error, never a skipped test. A program with
/// no entry in [`TOOL_PACKAGES`] (or [`UNPACKAGED_TOOLS`]) fails at once, found or not: it
/// is a programming error that a fresh machine would only reveal as a failed test.
pub fn require_tools(tools: &[&str]) -> Result<()> {
    check_tools(tools, tool_path)
}

/// [`require_tools`] with `find` locating a tool.
fn check_tools(tools: &[&str], find: impl Fn(&str) -> Option<PathBuf>) -> Result<()> {
    let unknown: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| package_of(t).is_none() && unpackaged(t).is_none())
        .collect();
    if !unknown.is_empty() {
        bail!(
            "{} not in sesame_qemu::TOOL_PACKAGES (qemu/src/tools.rs): add each with the \
             Debian package that ships it, and add that package to PACKAGES in \
             xtask/src/setup.rs so `cargo xtask test` installs it",
            unknown.join(", ")
        );
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find(t).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().filter_map(|t| package_of(t)).collect();
    packages.sort_unstable();
    packages.dedup();
    let mut msg = format!(
        "missing host tools: {} (not found in $PATH, /usr/sbin or /sbin)",
        missing.join(", ")
    );
    if !packages.is_empty() {
        msg.push_str(&format!(
            "; install them with:\n    apt-get install -y {}",
            packages.join(" ")
        ));
    }
    for t in missing.iter().filter(|t| package_of(t).is_none()) {
        if let Some(why) = unpackaged(t) {
            msg.push_str(&format!("\n{t} is not a Debian package here: {why}"));
        }
    }
    bail!(msg)
}

/// A `Command` for `tool`, found with [`tool_path`]; fails like [`require_tools`].
pub fn command(tool: &str) -> Result<Command> {
    require_tools(&[tool])?;
    let path = tool_path(tool).with_context(|| format!("{tool} vanished"))?;
    Ok(Command::new(path))
}

/// Runs `cmd` to completion; returns its stdout, or fails with the command line, the exit
/// status and everything it wrote.
pub fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_missing_tools_and_packages() {
        let found = |t: &str| (t == "sh").then(|| PathBuf::from("/bin/sh"));
        let err = check_tools(&["sh", "dnsmasq", "ssh-keygen", "ssh", "rustc"], found)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dnsmasq, ssh-keygen, ssh, rustc"), "{err}");
        assert!(
            err.contains("apt-get install -y dnsmasq-base openssh-client\n"),
            "{err}"
        );
        assert!(err.contains("rustc is not a Debian package here"), "{err}");
        assert_eq!(package_of("cryptsetup"), Some("cryptsetup-bin"));
        assert_eq!(package_of("ssh-keygen"), Some("openssh-client"));
        assert_eq!(package_of("cargo"), None);
    }

    #[test]
    fn a_program_missing_from_the_table_fails_even_when_installed() {
        let everywhere = |t: &str| Some(PathBuf::from("/usr/bin").join(t));
        let unlisted = "not-in-the-table";
        let err = check_tools(&["sh", unlisted, "cp"], everywhere)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("not-in-the-table not in sesame_qemu::TOOL_PACKAGES"));
        assert!(err.contains("xtask/src/setup.rs"), "{err}");
        check_tools(&["sh", "cargo"], everywhere).unwrap();
        assert!(command(unlisted).is_err());
    }

    #[test]
    fn the_table_names_each_program_once() {
        let mut seen = std::collections::HashSet::new();
        for (t, p) in TOOL_PACKAGES.iter().chain(UNPACKAGED_TOOLS) {
            assert!(seen.insert(*t), "{t} is listed twice");
            assert!(!t.is_empty() && !p.is_empty() && !t.contains(char::is_whitespace));
        }
    }

    #[test]
    fn finds_sh() {
        require_tools(&["sh"]).unwrap();
        assert!(tool_path("sh").is_some());
    }
}
