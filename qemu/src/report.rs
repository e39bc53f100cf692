//! The report service of the real Debian root: the marker run by systemd as
//! `sesame-report.service` once the boot is under way ([`install`]), and what a
//! hand-over test reads from it ([`RealRootReport`]): the state systemd reached, failed
//! units, jobs still waiting, devices, swaps, device-mapper devices and their udev
//! records, sesame's journal lines, addresses, and the boot's whole journal.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::binaries::marker_binary;
use crate::console::clean_console;
use crate::marker::parse_marker;
use crate::rootfs::RootFs;

/// Where the report program lives in the real root.
const PROGRAM: &str = "usr/local/sbin/sesame-report";
const UNIT: &str = "etc/systemd/system/sesame-report.service";

/// The unit: started with the rest of multi-user.target, active as soon as it runs
/// (`Type=exec`), so the boot does not wait for it while it waits for the boot.
const UNIT_TEXT: &str = "\
[Unit]
Description=sesame tests: report what systemd reached, then power off

[Service]
Type=exec
ExecStart=/usr/local/sbin/sesame-report --systemd-report

[Install]
WantedBy=multi-user.target
";

/// Puts the report program (the marker) and its enabled unit into `root`.
pub(crate) fn install(root: &RootFs) -> Result<()> {
    root.copy_file(PROGRAM, &marker_binary()?, 0o755)?;
    root.add_file(UNIT, UNIT_TEXT, 0o644)?;
    root.add_symlink(
        "etc/systemd/system/multi-user.target.wants/sesame-report.service",
        "/etc/systemd/system/sesame-report.service",
    )?;
    Ok(())
}

/// What the real root reported after its boot.
#[derive(Clone, Debug)]
pub struct RealRootReport {
    /// The marker's report with its `systemd` part.
    pub raw: Value,
    /// The boot's journal (`journalctl -b -o short-monotonic`).
    pub journal: String,
}

impl RealRootReport {
    /// The first real-root report on `console_log`.
    pub fn parse(console_log: &str) -> Result<RealRootReport> {
        let raw = parse_marker(console_log)?;
        if !raw["systemd"].is_object() {
            bail!("the report has no `systemd` part: was the real root booted with the marker as init?");
        }
        let text = clean_console(console_log.as_bytes());
        let journal = between(&text, "SESAME-JOURNAL-BEGIN\n", "SESAME-JOURNAL-END")
            .context("the report printed no journal")?;
        Ok(RealRootReport {
            raw,
            journal: journal.to_string(),
        })
    }

    fn systemd(&self) -> &Value {
        &self.raw["systemd"]
    }

    /// `systemctl is-system-running --wait`: `running`, `degraded`, `timeout: …`.
    pub fn state(&self) -> &str {
        self.systemd()["state"].as_str().unwrap_or("")
    }

    /// Failed units.
    pub fn failed(&self) -> Vec<String> {
        strings(&self.systemd()["failed"])
    }

    /// Jobs still queued when the report was made.
    pub fn jobs(&self) -> Vec<String> {
        strings(&self.systemd()["jobs"])
    }

    /// Active swaps (`/proc/swaps` names, e.g. `/dev/dm-2`).
    pub fn swaps(&self) -> Vec<String> {
        strings(&self.systemd()["swaps"])
    }

    /// `(name, uuid)` of every device-mapper device (`dmsetup info`).
    pub fn dm(&self) -> Vec<(String, String)> {
        self.systemd()["dm"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        let s = |k: &str| d[k].as_str().unwrap_or("").to_string();
                        (s("name"), s("uuid"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The udev database record of the device-mapper device `name`, if any.
    pub fn udev_record(&self, name: &str) -> Option<&str> {
        self.systemd()["udev_db"][name].as_str()
    }

    /// The state of a device unit (`active`/`plugged`…), if systemd knows it.
    pub fn device(&self, unit: &str) -> Option<(String, String)> {
        self.systemd()["devices"].as_array()?.iter().find_map(|d| {
            (d["unit"] == unit).then(|| {
                (
                    d["active"].as_str().unwrap_or("").to_string(),
                    d["sub"].as_str().unwrap_or("").to_string(),
                )
            })
        })
    }

    /// sesame's journal lines as `(priority, message)`.
    pub fn sesame_journal(&self) -> Vec<(u8, String)> {
        self.systemd()["journal_sesame"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["priority"].as_u64().unwrap_or(255) as u8,
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The mount of `target` as `(source, fstype, options)`, the last one wins.
    pub fn mount(&self, target: &str) -> Option<(String, String, String)> {
        self.raw["mounts"].as_array()?.iter().rev().find_map(|m| {
            (m["target"] == target).then(|| {
                let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
                (s("source"), s("fstype"), s("options"))
            })
        })
    }

    /// The IPv4 addresses of `iface` (`ip -j address`), as `address/prefix`.
    pub fn ipv4(&self, iface: &str) -> Vec<String> {
        let Some(links) = self.systemd()["ip_addr"].as_array() else {
            return Vec::new();
        };
        links
            .iter()
            .filter(|l| l["ifname"] == iface)
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["family"] == "inet")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
            .collect()
    }

    /// Every IPv4 address outside loopback (`ip -j address`), as `(interface, address/prefix)`.
    pub fn ipv4_addresses(&self) -> Vec<(String, String)> {
        let Some(links) = self.systemd()["ip_addr"].as_array() else {
            return Vec::new();
        };
        links
            .iter()
            .filter(|l| l["ifname"] != "lo")
            .flat_map(|l| {
                let name = l["ifname"].as_str().unwrap_or("").to_string();
                l["addr_info"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| a["family"] == "inet")
                    .map(move |a| {
                        let addr =
                            format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]);
                        (name.clone(), addr)
                    })
            })
            .collect()
    }

    /// The IPv4 default routes (`ip -j route`), as `(gateway, interface)`.
    pub fn default_routes(&self) -> Vec<(String, String)> {
        let Some(routes) = self.systemd()["ip_route"].as_array() else {
            return Vec::new();
        };
        routes
            .iter()
            .filter(|r| r["dst"] == "default")
            .map(|r| {
                (
                    r["gateway"].as_str().unwrap_or("").to_string(),
                    r["dev"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// systemd's own start-up: from its start to the end of the boot, in seconds.
    pub fn userspace_seconds(&self) -> Option<f64> {
        let t = &self.systemd()["times"];
        let start = t["UserspaceTimestampMonotonic"].as_u64()?;
        let end = t["FinishTimestampMonotonic"].as_u64()?;
        Some(end.checked_sub(start)? as f64 / 1e6)
    }

    /// The whole report, for an error message.
    pub fn describe(&self) -> String {
        serde_json::to_string_pretty(self.systemd()).unwrap_or_default()
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn between<'a>(text: &'a str, begin: &str, end: &str) -> Option<&'a str> {
    let start = text.find(begin)? + begin.len();
    let len = text[start..].find(end)?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report() {
        let log = "boot\r\nSESAME-MARKER-BEGIN\r\nSESAME-MARKER {\"mounts\":[{\"source\":\"/dev/mapper/root\",\
                   \"target\":\"/\",\"fstype\":\"ext4\",\"options\":\"rw\"}],\"systemd\":{\"state\":\"running\",\
                   \"failed\":[],\"jobs\":[],\"swaps\":[\"/dev/dm-1\"],\"dm\":[{\"name\":\"root\",\"uuid\":\"CRYPT-LUKS2-x-root\"}],\
                   \"udev_db\":{\"root\":\"E:DM_UDEV_PRIMARY_SOURCE_FLAG=1\\n\"},\
                   \"devices\":[{\"unit\":\"dev-mapper-root.device\",\"active\":\"active\",\"sub\":\"plugged\"}],\
                   \"journal_sesame\":[{\"priority\":6,\"message\":\"sesame 0.1.0 starting\"}],\
                   \"times\":{\"UserspaceTimestampMonotonic\":1000000,\"FinishTimestampMonotonic\":3500000},\
                   \"ip_addr\":[{\"ifname\":\"eth0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.2.15\",\"prefixlen\":24},\
                   {\"family\":\"inet6\",\"local\":\"fe80::1\",\"prefixlen\":64}]},\
                   {\"ifname\":\"lo\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8}]}],\
                   \"ip_route\":[{\"dst\":\"default\",\"gateway\":\"10.0.2.2\",\"dev\":\"eth0\"},\
                   {\"dst\":\"10.0.2.0/24\",\"dev\":\"eth0\"}]}}\r\nSESAME-MARKER-END\r\n\
                   SESAME-JOURNAL-BEGIN\r\n[ 1.0] box sesame[1]: hello\r\nSESAME-JOURNAL-END\r\n";
        let r = RealRootReport::parse(log).unwrap();
        assert_eq!(r.state(), "running");
        assert!(r.failed().is_empty() && r.jobs().is_empty());
        assert_eq!(r.swaps(), ["/dev/dm-1"]);
        assert_eq!(
            r.dm(),
            [("root".to_string(), "CRYPT-LUKS2-x-root".to_string())]
        );
        assert!(r.udev_record("root").unwrap().contains("PRIMARY_SOURCE"));
        assert_eq!(
            r.device("dev-mapper-root.device"),
            Some(("active".into(), "plugged".into()))
        );
        assert_eq!(r.sesame_journal()[0].0, 6);
        assert_eq!(r.mount("/").unwrap().0, "/dev/mapper/root");
        assert_eq!(r.ipv4("eth0"), ["10.0.2.15/24"]);
        assert_eq!(
            r.ipv4_addresses(),
            [("eth0".to_string(), "10.0.2.15/24".to_string())]
        );
        assert_eq!(
            r.default_routes(),
            [("10.0.2.2".to_string(), "eth0".to_string())]
        );
        assert_eq!(r.userspace_seconds(), Some(2.5));
        assert_eq!(r.journal, "[ 1.0] box sesame[1]: hello\n");
    }

    #[test]
    fn a_marker_report_is_not_a_real_root_report() {
        let log = "SESAME-MARKER {\"pid\":1}\nSESAME-MARKER-END\n";
        assert!(RealRootReport::parse(log).is_err());
    }
}
