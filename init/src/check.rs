//! `sesame check`: what would break the boot, found on the host before it happens — a
//! config that does not parse, modules the image would lack (the root filesystem's, the
//! NIC drivers this host uses), no usable authorized key, a host key others can read, an
//! /init that is not static. Each finding says what to do.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{default_authorized_keys, default_config, modules_dir, InputArgs};
use crate::config::{self, Config};
use crate::image::{elf, modset};
use crate::modules::index::ModuleIndex;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
}

fn ok(text: String) -> Finding {
    Finding {
        severity: Severity::Ok,
        text,
    }
}
fn warn(text: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        text,
    }
}
fn error(text: String) -> Finding {
    Finding {
        severity: Severity::Error,
        text,
    }
}

/// Where the host's files are; `/` normally, a scratch tree in tests.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
}

impl Host {
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }
}

/// Runs every check and prints the findings; exit code 1 when any is an error.
pub fn run(inputs: &InputArgs) -> Result<i32> {
    let host = Host {
        root: PathBuf::from("/"),
    };
    let findings = check_all(&host, inputs)?;
    for f in &findings {
        let tag = match f.severity {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        println!("{tag}: {}", f.text);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors > 0 {
        println!("{errors} problem(s) would break the boot; fix them before installing the image");
        return Ok(1);
    }
    Ok(0)
}

/// Every check, in the order a reader wants them.
pub fn check_all(host: &Host, inputs: &InputArgs) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let config = check_config(default_config(inputs).as_deref(), &mut out);
    let dir = modules_dir(&inputs.kernel)?;
    match ModuleIndex::read_dir(&dir) {
        Err(e) => out.push(error(format!(
            "{e}; give --modules-dir or --kernel-version"
        ))),
        Ok(index) => check_modules(host, &index, &config, &mut out),
    }
    check_authorized_keys(default_authorized_keys(inputs).as_deref(), &mut out);
    check_host_key(host, inputs.host_key.as_deref(), &mut out);
    check_self_static(&mut out);
    Ok(out)
}

fn check_config(path: Option<&Path>, out: &mut Vec<Finding>) -> Config {
    let Some(path) = path else {
        out.push(ok("no config file; defaults apply".into()));
        return Config::default();
    };
    match std::fs::read_to_string(path) {
        Err(e) => {
            out.push(error(format!("{}: {e}", path.display())));
            Config::default()
        }
        Ok(text) => match config::parse(&text, &path.display().to_string()) {
            Ok(c) => {
                out.push(ok(format!("config {} parses", path.display())));
                c
            }
            Err(e) => {
                out.push(error(format!("{e}")));
                Config::default()
            }
        },
    }
}

fn check_modules(host: &Host, index: &ModuleIndex, config: &Config, out: &mut Vec<Finding>) {
    let selection = match modset::select(index, &config.modules) {
        Ok(s) => s,
        Err(e) => {
            out.push(error(format!(
                "{e}; fix modules.include/load in the config"
            )));
            return;
        }
    };
    let shipped = |m: &str| selection.modules.contains(m) || index.is_builtin(m);
    if let Some(fstype) = root_fstype(host) {
        let resolved = index.resolve(&format!("fs-{fstype}"));
        let module = resolved.first().cloned().unwrap_or_else(|| fstype.clone());
        if shipped(&module) {
            out.push(ok(format!(
                "the root filesystem ({fstype}) is supported by the image"
            )));
        } else {
            out.push(error(format!(
                "this host's root filesystem is {fstype} but the image would not carry {module}; \
                 add it to modules.include in the config"
            )));
        }
    }
    for (iface, module) in nic_drivers(host) {
        if shipped(&module) {
            out.push(ok(format!("{iface}: driver {module} is in the image")));
        } else {
            out.push(error(format!(
                "{iface}: driver {module} would not be in the image, so SSH could not be reached \
                 through it; add \"{module}\" to modules.include in the config"
            )));
        }
    }
}

/// The filesystem type of `/` on the host, from its mount table.
pub fn root_fstype(host: &Host) -> Option<String> {
    let mounts = std::fs::read_to_string(host.path("/proc/self/mounts")).ok()?;
    mounts
        .lines()
        .rev()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[1] == "/").then(|| f[2].to_string())
        })
        .next()
        .filter(|t| t != "rootfs" && t != "overlay" && t != "tmpfs")
}

/// `(interface, driver module)` for every network interface backed by a device.
pub fn nic_drivers(host: &Host) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(host.path("/sys/class/net")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|e| {
            let module = std::fs::read_link(e.path().join("device/driver/module")).ok()?;
            let name = module.file_name()?.to_string_lossy().into_owned();
            Some((e.file_name().to_string_lossy().into_owned(), name))
        })
        .collect();
    out.sort();
    out
}

fn check_authorized_keys(path: Option<&Path>, out: &mut Vec<Finding>) {
    let Some(path) = path else {
        out.push(error(
            "no authorized_keys (/etc/sesame/authorized_keys or /root/.ssh/authorized_keys): \
             nobody could unlock over SSH; put your public key there"
                .into(),
        ));
        return;
    };
    match std::fs::read_to_string(path) {
        Err(e) => out.push(error(format!("{}: {e}", path.display()))),
        Ok(text) => {
            let (keys, errors) = sesame_remote::authorized_keys::parse(&text);
            for e in errors {
                out.push(error(format!("{}: {e}", path.display())));
            }
            if keys.is_empty() {
                out.push(error(format!("{} holds no public key", path.display())));
            } else {
                out.push(ok(format!("{}: {} key(s)", path.display(), keys.len())));
            }
        }
    }
}

fn check_host_key(host: &Host, explicit: Option<&Path>, out: &mut Vec<Finding>) {
    use std::os::unix::fs::PermissionsExt;
    let candidates = [
        host.path("/etc/sesame/ssh_host_ed25519_key"),
        host.path("/etc/ssh/ssh_host_ed25519_key"),
    ];
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| candidates.iter().find(|p| p.exists()).cloned());
    let Some(path) = path else {
        out.push(ok(
            "no host key yet: `sesame build` will generate one and keep it".into(),
        ));
        return;
    };
    match sesame_remote::hostkey::HostKey::read(&path) {
        Err(e) => out.push(error(format!("{e}"))),
        Ok(k) => out.push(ok(format!(
            "host key {} ({})",
            path.display(),
            k.fingerprint()
        ))),
    }
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.permissions().mode() & 0o044 != 0 {
            out.push(warn(format!(
                "{} is readable by other users; chmod 600 it",
                path.display()
            )));
        }
    }
}

fn check_self_static(out: &mut Vec<Finding>) {
    let Ok(me) = std::env::current_exe().and_then(std::fs::read) else {
        return;
    };
    if elf::needs_interpreter(&me) == Some(true) {
        out.push(warn(
            "this sesame binary is dynamically linked and cannot be /init; `sesame build` needs \
             the static one (cargo xtask build) or --init-binary"
                .into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_fstype_and_nic_drivers_from_a_fake_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host {
            root: dir.path().to_path_buf(),
        };
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(
            dir.path().join("proc/self/mounts"),
            "rootfs / rootfs rw 0 0\n/dev/vda1 / xfs rw 0 0\nproc /proc proc rw 0 0\n",
        )
        .unwrap();
        assert_eq!(root_fstype(&host).as_deref(), Some("xfs"));
        let eth = dir.path().join("sys/class/net/eth0/device/driver");
        std::fs::create_dir_all(&eth).unwrap();
        std::os::unix::fs::symlink("../../../../module/virtio_net", eth.join("module")).unwrap();
        std::fs::create_dir_all(dir.path().join("sys/class/net/lo")).unwrap();
        assert_eq!(
            nic_drivers(&host),
            vec![("eth0".into(), "virtio_net".into())]
        );

        let index = ModuleIndex::parse("kernel/virtio_net.ko:\n", "alias fs-xfs xfs\n", "", "");
        let mut out = Vec::new();
        check_modules(&host, &index, &Config::default(), &mut out);
        assert!(out
            .iter()
            .any(|f| f.severity == Severity::Ok && f.text.contains("virtio_net")));
        let xfs = out.iter().find(|f| f.text.contains("xfs")).unwrap();
        assert_eq!(xfs.severity, Severity::Error, "{xfs:?}");
    }

    #[test]
    fn authorized_keys_findings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ak");
        std::fs::write(&p, "# nothing\n").unwrap();
        let mut out = Vec::new();
        check_authorized_keys(Some(&p), &mut out);
        assert_eq!(out[0].severity, Severity::Error);
        let mut out = Vec::new();
        check_authorized_keys(None, &mut out);
        assert!(out[0].text.contains("put your public key"));
    }
}
