//! Network namespaces a test makes for itself (never the host's networks): a bridge
//! with an address and a tap device for QEMU, a real dnsmasq DHCP server inside, and
//! commands run inside. Everything is removed on drop, even after a failed test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};

use crate::tools::require_tools;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace of the test's own.
pub struct NetNs {
    pub name: String,
    children: Vec<Child>,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl NetNs {
    /// Makes a fresh namespace with `lo` up. Needs root and iproute2.
    pub fn new() -> Result<NetNs> {
        require_tools(&["ip"])?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { nix::libc::geteuid() } != 0 {
            bail!("network namespace tests need root (run `cargo xtask test` as root)");
        }
        let name = format!(
            "sesame-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        let ns = NetNs {
            name,
            children: Vec::new(),
        };
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `program args…` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command inside the namespace and checks it succeeded.
    pub fn run(&self, argv: &[&str]) -> Result<()> {
        let (program, args) = argv.split_first().context("empty command")?;
        let out = self.command(program).args(args).output()?;
        if !out.status.success() {
            bail!(
                "{}: {}",
                argv.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// A bridge `br0` with `address` (e.g. 10.99.0.1/24) and a tap device `tap` on it,
    /// for QEMU's `-netdev tap,ifname=<tap>`.
    pub fn bridge_with_tap(&self, address: &str, tap: &str) -> Result<()> {
        self.run(&["ip", "link", "add", "br0", "type", "bridge"])?;
        self.run(&["ip", "addr", "add", address, "dev", "br0"])?;
        self.run(&["ip", "link", "set", "br0", "up"])?;
        self.run(&["ip", "tuntap", "add", "dev", tap, "mode", "tap"])?;
        self.run(&["ip", "link", "set", tap, "master", "br0"])?;
        self.run(&["ip", "link", "set", tap, "up"])
    }

    /// Starts dnsmasq as a DHCP server only (`--port=0`) on br0 with `options`, logging
    /// every DHCP exchange to `log`.
    pub fn dnsmasq(&mut self, options: &[&str], log: &Path) -> Result<PathBuf> {
        require_tools(&["dnsmasq"])?;
        let leases = log.with_extension("leases");
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = self
            .command("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=br0",
            ])
            .args(["--bind-interfaces", "--log-dhcp", "--log-facility=-"])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .args(options)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .context("starting dnsmasq")?;
        self.children.push(child);
        Ok(log.to_path_buf())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}
