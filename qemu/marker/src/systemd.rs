//! `sesame-marker --systemd-report`: run as a service of the real Debian root's systemd
//! (the harness installs it), it waits until systemd has finished starting the system,
//! then adds to the marker's report what a hand-over test judges: the state systemd
//! reached, failed units, jobs still waiting, device units, swaps, the device-mapper
//! devices and their udev database records, sesame's journal lines, the addresses and
//! routes, systemd's own start-up times. It prints the whole journal of the boot after
//! the report (so the tests grep it for secrets), then powers the machine off.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// How long systemd may take to finish starting under TCG before the report says so.
const BOOT_WAIT: Duration = Duration::from_secs(600);

/// The `systemd` part of the report.
pub fn report() -> Value {
    let state = wait_for_state();
    json!({
        "state": state,
        "failed": first_words(&run(&["systemctl", "list-units", "--failed", "--plain",
            "--no-legend", "--no-pager"])),
        "jobs": lines(&run(&["systemctl", "list-jobs", "--no-legend", "--no-pager"])),
        "devices": devices(&run(&["systemctl", "list-units", "--type=device", "--all",
            "--plain", "--no-legend", "--no-pager"])),
        "swaps": swaps(&std::fs::read_to_string("/proc/swaps").unwrap_or_default()),
        "dm": dmsetup(&run(&["dmsetup", "info", "-c", "-o", "name,uuid", "--noheadings",
            "--separator", " "])),
        "udev_db": udev_db(),
        "journal_sesame": journal(&run(&["journalctl", "-b", "-t", "sesame", "-o", "json",
            "--no-pager"])),
        "times": properties(&run(&["systemctl", "show", "-p", "UserspaceTimestampMonotonic",
            "-p", "FinishTimestampMonotonic", "-p", "KernelTimestampMonotonic"])),
        "ip_addr": json_output(&run(&["ip", "-j", "address", "show"])),
        "ip_route": json_output(&run(&["ip", "-j", "route", "show"])),
        "crypttab_units": first_words(&run(&["systemctl", "list-units", "--all", "--plain",
            "--no-legend", "--no-pager", "systemd-cryptsetup@*"])),
    })
}

/// The whole journal of this boot, for the secrets check.
pub fn full_journal() -> String {
    run(&["journalctl", "-b", "-o", "short-monotonic", "--no-pager"])
}

/// Asks systemd to power off once this process has printed (`--no-block`: the job is
/// queued, the service is stopped as part of it).
pub fn power_off() -> String {
    run(&["systemctl", "poweroff", "--no-block"])
}

/// `systemctl is-system-running --wait`, bounded by [`BOOT_WAIT`]: the state it reports
/// (`running`, `degraded`, …), or `timeout: <state now>`.
fn wait_for_state() -> String {
    let child = Command::new("systemctl")
        .args(["is-system-running", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("error: systemctl: {e}"),
    };
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => {
                let mut out = String::new();
                if let Some(mut s) = child.stdout.take() {
                    let _ = s.read_to_string(&mut out);
                }
                return out.trim().to_string();
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let now = run(&["systemctl", "is-system-running"]);
                return format!("timeout: {}", now.trim());
            }
            Err(e) => return format!("error: waiting for systemctl: {e}"),
        }
    }
}

/// A command's standard output (its error, if it could not run, as text).
fn run(argv: &[&str]) -> String {
    match Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => format!("error: {}: {e}", argv[0]),
    }
}

fn lines(text: &str) -> Value {
    json!(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>())
}

/// The first word of each non-empty line (unit names of `systemctl list-units --plain`).
fn first_words(text: &str) -> Value {
    json!(text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect::<Vec<_>>())
}

/// `systemctl list-units --type=device --plain --no-legend`: unit, load, active, sub,
/// description.
fn devices(text: &str) -> Value {
    let list: Vec<Value> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| json!({"unit": f[0], "load": f[1], "active": f[2], "sub": f[3]}))
        })
        .collect();
    Value::Array(list)
}

/// `/proc/swaps`: the devices or files in use.
fn swaps(text: &str) -> Value {
    json!(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect::<Vec<_>>())
}

/// `dmsetup info -c -o name,uuid --noheadings --separator ' '`.
fn dmsetup(text: &str) -> Value {
    let list: Vec<Value> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            Some(json!({"name": name, "uuid": f.next().unwrap_or("")}))
        })
        .collect();
    Value::Array(list)
}

/// The udev database record of every device-mapper device, by its dm name.
fn udev_db() -> Value {
    let mut out = Map::new();
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return Value::Object(out);
    };
    for e in dir.flatten() {
        let base = e.path();
        let (Ok(name), Ok(dev)) = (
            std::fs::read_to_string(base.join("dm/name")),
            std::fs::read_to_string(base.join("dev")),
        ) else {
            continue;
        };
        let record = std::fs::read_to_string(format!("/run/udev/data/b{}", dev.trim()))
            .map(Value::String)
            .unwrap_or(Value::Null);
        out.insert(name.trim().to_string(), record);
    }
    Value::Object(out)
}

/// `journalctl -o json` lines reduced to priority and message.
fn journal(text: &str) -> Value {
    let list: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            let priority = e["PRIORITY"].as_str().and_then(|p| p.parse::<u8>().ok());
            json!({
                "priority": priority,
                "identifier": e["SYSLOG_IDENTIFIER"],
                "message": e["MESSAGE"],
            })
        })
        .collect();
    Value::Array(list)
}

/// `systemctl show` output (`Key=value` lines) as an object; numbers as numbers.
fn properties(text: &str) -> Value {
    let mut m = Map::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once('=') {
            let value = v.parse::<u64>().map(Value::from).unwrap_or(json!(v));
            m.insert(k.to_string(), value);
        }
    }
    Value::Object(m)
}

fn json_output(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({ "unparsed": text }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_systemctl_and_friends() {
        assert_eq!(
            first_words("home.mount loaded failed failed /home\nx.service loaded failed\n"),
            json!(["home.mount", "x.service"])
        );
        let d = devices("dev-mapper-root.device loaded active plugged /dev/mapper/root\nbad\n");
        assert_eq!(d[0]["unit"], "dev-mapper-root.device");
        assert_eq!(d[0]["sub"], "plugged");
        assert_eq!(d.as_array().map(Vec::len), Some(1));
        assert_eq!(
            swaps("Filename Type Size Used Priority\n/dev/dm-2 partition 1 0 -2\n"),
            json!(["/dev/dm-2"])
        );
        assert_eq!(
            dmsetup("root CRYPT-LUKS2-abc-root\nlone\n"),
            json!([{"name": "root", "uuid": "CRYPT-LUKS2-abc-root"}, {"name": "lone", "uuid": ""}])
        );
        let j = journal(
            "{\"PRIORITY\":\"4\",\"SYSLOG_IDENTIFIER\":\"sesame\",\"MESSAGE\":\"m\"}\nnot json\n",
        );
        assert_eq!(
            j,
            json!([{"priority": 4, "identifier": "sesame", "message": "m"}])
        );
        let p = properties("FinishTimestampMonotonic=123\nX=a=b\n");
        assert_eq!(p["FinishTimestampMonotonic"], 123);
        assert_eq!(p["X"], "a=b");
        assert_eq!(json_output("[1]"), json!([1]));
        assert!(json_output("oops")["unparsed"].is_string());
        assert_eq!(lines(" a \n\n b"), json!(["a", "b"]));
    }
}
