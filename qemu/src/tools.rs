//! Host tools the harness runs (QEMU, mkfs.ext4, cryptsetup, …): finding them, and failing
//! loudly with the exact `apt-get install` line when some are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The Debian package that ships each tool the harness or the tests may run.
const PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("cryptsetup", "cryptsetup-bin"),
    ("mkfs.ext4", "e2fsprogs"),
    ("dumpe2fs", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("depmod", "kmod"),
    ("modinfo", "kmod"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("dnsmasq", "dnsmasq-base"),
    ("ip", "iproute2"),
    ("dpkg-deb", "dpkg"),
    ("apt-get", "apt"),
    ("apt-cache", "apt"),
    ("cpio", "cpio"),
    ("truncate", "coreutils"),
];

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
/// Tests call this first: a missing tool is an error, never a skipped test.
pub fn require_tools(tools: &[&str]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| tool_path(t).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|t| package_of(t)).collect();
    packages.sort_unstable();
    packages.dedup();
    bail!(
        "missing host tools: {} (not found in $PATH, /usr/sbin or /sbin); install them with:\n    \
         apt-get install -y {}",
        missing.join(", "),
        packages.join(" ")
    )
}

fn package_of(tool: &str) -> &str {
    PACKAGES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, p)| *p)
        .unwrap_or(tool)
}

/// A `Command` for `tool`, found with [`tool_path`]; fails like [`require_tools`].
pub(crate) fn command(tool: &str) -> Result<Command> {
    require_tools(&[tool])?;
    let path = tool_path(tool).with_context(|| format!("{tool} vanished"))?;
    Ok(Command::new(path))
}

/// Runs `cmd` to completion; returns its stdout, or fails with the command line, the exit
/// status and everything it wrote.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
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
        let err = require_tools(&["sh", "no-such-tool-xyz", "dnsmasq-not-here"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no-such-tool-xyz, dnsmasq-not-here"), "{err}");
        assert!(err.contains("apt-get install -y"), "{err}");
        assert_eq!(package_of("cryptsetup"), "cryptsetup-bin");
        assert_eq!(package_of("ssh-keygen"), "openssh-client");
    }

    #[test]
    fn finds_sh() {
        require_tools(&["sh"]).unwrap();
        assert!(tool_path("sh").is_some());
    }
}
