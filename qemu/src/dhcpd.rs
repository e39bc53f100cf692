//! A dnsmasq DHCP server a test starts, stops and restarts at will inside its network
//! namespace (a server that answers late, or that forgets its leases and refuses a
//! renewal with a NAK). Killed on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::tools::require_tools;

/// A running dnsmasq (DHCP only, `--port=0`) on `br0` of a namespace.
pub struct Dnsmasq {
    child: Option<Child>,
    /// Its log (every DHCP exchange, `--log-dhcp`).
    pub log: PathBuf,
    /// Its lease file (a fresh one for each server: a restarted one knows no lease).
    pub leases: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq in network namespace `netns` with `options`, logging to `log`
    /// (the lease file is `log` with the extension `leases`, emptied first).
    pub fn start(netns: &str, options: &[&str], log: &Path) -> Result<Dnsmasq> {
        require_tools(&["ip", "dnsmasq"])?;
        let leases = log.with_extension("leases");
        std::fs::write(&leases, "").with_context(|| format!("emptying {}", leases.display()))?;
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", netns, "dnsmasq"])
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=br0",
                "--bind-interfaces",
                "--log-dhcp",
                "--log-facility=-",
            ])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .args(options)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .context("starting dnsmasq")?;
        Ok(Dnsmasq {
            child: Some(child),
            log: log.to_path_buf(),
            leases,
        })
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it (and waits for it), so the port is free for the next server.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}
