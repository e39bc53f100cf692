//! `sesame-marker`: the real root's `/sbin/init` in the end-to-end tests.
//!
//! It reports what the real system sees after sesame's `switch_root` as one JSON line
//! between `SESAME-MARKER-BEGIN` and `SESAME-MARKER-END` on the console, then syncs and
//! powers off (`sesame.marker.reboot=1`: reboots). With `sesame.marker.kmsg=1` it also
//! dumps the kernel log between `SESAME-MARKER-KMSG-BEGIN` and `SESAME-MARKER-KMSG-END`;
//! with `sesame.marker.read=1` it first prompts `SESAME-MARKER-READ> ` and reports the line
//! typed on the console as `console_input`.
//! It never panics: every probe that fails becomes `null` or an `"error"` entry.
//! When it is not PID 1 (run by hand on a host) it only prints: no mounts, no power-off.
//! `sesame-marker --systemd-report` is the same report made from a service of a real
//! systemd root, once systemd has finished starting (see `systemd.rs`).

mod systemd;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use serde_json::{json, Map, Value};

const TIMELINE: &str = "/run/sesame/timeline.json";

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--systemd-report") {
        return systemd_report();
    }
    let pid = std::process::id();
    let is_init = pid == 1;
    if is_init {
        // Opens no file descriptor, so the list below is still what we were given.
        mount_kernel_filesystems();
    }
    let fds = open_fds();
    let mut out = console(is_init);
    let cmdline = read_trimmed("/proc/cmdline");
    let words: Vec<&str> = cmdline
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let want_kmsg = words.contains(&"sesame.marker.kmsg=1");
    let want_reboot = words.contains(&"sesame.marker.reboot=1");

    // `sesame.marker.read=1`: read one line from the console first (tests of console input).
    let typed = words.contains(&"sesame.marker.read=1").then(|| {
        let _ = out.write_all(b"SESAME-MARKER-READ> ");
        let _ = out.flush();
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(_) => Value::String(line),
            Err(e) => json!({ "error": e.to_string() }),
        }
    });
    // `sesame.marker.write=<path>`: write a file into the new root first (overlayroot
    // tests check where it lands), and report whether that worked.
    let written = words
        .iter()
        .find_map(|w| w.strip_prefix("sesame.marker.write="))
        .map(|path| match fs::write(path, "written by the marker\n") {
            Ok(()) => json!({ "path": path, "ok": true }),
            Err(e) => json!({ "path": path, "ok": false, "error": e.to_string() }),
        });
    let mut report = report(pid, fds, cmdline.as_deref());
    if let (Some(typed), Some(obj)) = (typed, report.as_object_mut()) {
        obj.insert("console_input".into(), typed);
    }
    if let (Some(written), Some(obj)) = (written, report.as_object_mut()) {
        obj.insert("written".into(), written);
    }
    // A root may greet whoever watches the console (the demo does).
    let motd = fs::read_to_string("/etc/motd").unwrap_or_default();
    let mut text =
        format!("\n{motd}SESAME-MARKER-BEGIN\nSESAME-MARKER {report}\nSESAME-MARKER-END\n");
    if want_kmsg {
        text.push_str("SESAME-MARKER-KMSG-BEGIN\n");
        text.push_str(&read_kmsg());
        text.push_str("SESAME-MARKER-KMSG-END\n");
    }
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();

    if !is_init {
        return;
    }
    nix::unistd::sync();
    let mode = if want_reboot {
        RebootMode::RB_AUTOBOOT
    } else {
        RebootMode::RB_POWER_OFF
    };
    let err = match reboot(mode) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = writeln!(out, "SESAME-MARKER-ERROR reboot({mode:?}) failed: {err}");
    // Exiting as PID 1 panics the kernel: loud, and with panic=-1 QEMU stops.
    std::process::exit(1);
}

/// The report from a service of the real root's systemd: the marker's fields plus
/// `systemd`, then the boot's journal between `SESAME-JOURNAL-BEGIN` and
/// `SESAME-JOURNAL-END`, on the console; then a clean power-off through systemd.
fn systemd_report() {
    let systemd = systemd::report();
    // Kernel messages must not cut the report's line on the console.
    let _ = fs::write("/proc/sys/kernel/printk", "1");
    let fds = open_fds();
    let cmdline = read_trimmed("/proc/cmdline");
    let mut report = report(std::process::id(), fds, cmdline.as_deref());
    if let Some(obj) = report.as_object_mut() {
        obj.insert("systemd".into(), systemd);
    }
    let mut out = console(true);
    let text = format!(
        "\nSESAME-MARKER-BEGIN\nSESAME-MARKER {report}\nSESAME-MARKER-END\n\
         SESAME-JOURNAL-BEGIN\n{}SESAME-JOURNAL-END\n",
        systemd::full_journal()
    );
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    let said = systemd::power_off();
    if !said.trim().is_empty() {
        let _ = writeln!(out, "SESAME-MARKER-ERROR systemctl poweroff: {said}");
    }
}

/// Where the report goes: stdout if it is a console or a terminal (what the kernel or
/// sesame gave init), else `/dev/console` (stdout closed, or sent to /dev/null), else stdout.
/// Run by hand (not PID 1): always stdout.
fn console(is_init: bool) -> Box<dyn Write> {
    if !is_init {
        return Box::new(std::io::stdout());
    }
    // SAFETY: fd 1 is only borrowed for the fcntl probe below.
    let open = nix::fcntl::fcntl(unsafe { BorrowedFd::borrow_raw(1) }, nix::fcntl::F_GETFD).is_ok();
    let target = fs::read_link("/proc/self/fd/1").unwrap_or_default();
    let terminal = target.starts_with("/dev/console") || target.starts_with("/dev/tty");
    // Without /proc the target is unknown: trust an open stdout.
    if open && (terminal || target.as_os_str().is_empty()) {
        return Box::new(std::io::stdout());
    }
    match fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY)
        .open("/dev/console")
    {
        Ok(f) => Box::new(f),
        Err(_) => Box::new(std::io::stdout()),
    }
}

/// Mounts /proc, /sys and /dev (devtmpfs) when sesame did not hand them over.
fn mount_kernel_filesystems() {
    let none: Option<&str> = None;
    let table = [
        ("proc", "/proc", "/proc/self"),
        ("sysfs", "/sys", "/sys/kernel"),
        ("devtmpfs", "/dev", "/dev/null"),
    ];
    for (fstype, target, probe) in table {
        if Path::new(probe).exists() {
            continue;
        }
        let _ = fs::create_dir_all(target);
        let _ = mount(Some(fstype), target, Some(fstype), MsFlags::empty(), none);
    }
}

fn report(pid: u32, fds: Value, cmdline: Option<&str>) -> Value {
    let mounts = mounts();
    let root = mounts
        .as_array()
        .and_then(|m| m.iter().rev().find(|e| e["target"] == "/"))
        .cloned()
        .unwrap_or(Value::Null);
    let (timeline, timeline_error) = timeline();
    // sesame marks `initramfs_freed` from inside the new root, just before the exec.
    let initramfs_freed = match timeline.get("marks").and_then(Value::as_array) {
        Some(marks) => Value::Bool(marks.iter().any(|m| m["event"] == "initramfs_freed")),
        None => Value::Null,
    };
    let env: Map<String, Value> = std::env::vars_os()
        .map(|(k, v)| {
            let value = Value::String(v.to_string_lossy().into_owned());
            (k.to_string_lossy().into_owned(), value)
        })
        .collect();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let uname = nix::sys::utsname::uname().ok();
    json!({
        "pid": pid,
        "argv": argv,
        "env": env,
        "cmdline": cmdline,
        "uptime_s": read_trimmed("/proc/uptime")
            .and_then(|u| u.split_whitespace().next().and_then(|s| s.parse::<f64>().ok())),
        "kernel_release": uname.map(|u| u.release().to_string_lossy().into_owned()),
        "timeline": timeline,
        "timeline_error": timeline_error,
        "initramfs_freed": initramfs_freed,
        "root_fs": root["fstype"].clone(),
        "root": root,
        "mounts": mounts,
        "net": net(),
        "mapper": mapper(),
        "keyring": keyring(),
        "key_timeouts": key_timeouts(),
        "fds": fds,
        "processes": processes(pid),
        "meminfo": meminfo(),
    })
}

/// The device-mapper devices sesame left open: names under /dev/mapper (not `control`).
fn mapper() -> Value {
    let mut names: Vec<String> = fs::read_dir("/dev/mapper")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "control")
                .collect()
        })
        .unwrap_or_default();
    // devtmpfs names dm devices dm-N; their /sys entry holds the mapper name.
    if let Ok(d) = fs::read_dir("/sys/block") {
        for e in d.flatten() {
            if let Some(n) = read_trimmed(&format!(
                "/sys/block/{}/dm/name",
                e.file_name().to_string_lossy()
            )) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names.sort();
    json!(names)
}

/// The keys of the session and user keyrings as /proc/keys lists them (descriptions only).
fn keyring() -> Value {
    let keys: Vec<String> = fs::read_to_string("/proc/keys")
        .map(|t| {
            t.lines()
                .filter_map(|l| {
                    l.split_whitespace()
                        .nth(8)
                        .map(|d| d.trim_end_matches(':').to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    json!(keys)
}

/// Each key's expiry as /proc/keys shows it (`perm`, `2m`, `expd`…), by description.
fn key_timeouts() -> Value {
    let mut out = Map::new();
    for l in fs::read_to_string("/proc/keys").unwrap_or_default().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let (Some(timeout), Some(desc)) = (f.get(3), f.get(8)) {
            out.insert(desc.trim_end_matches(':').to_string(), json!(timeout));
        }
    }
    Value::Object(out)
}

/// The file's text, trimmed; bytes that are not UTF-8 (a command line of binary junk)
/// become U+FFFD instead of losing the whole file.
fn read_trimmed(path: &str) -> Option<String> {
    fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
}

/// `(parsed timeline or null, error or null)`: a missing file is not an error.
fn timeline() -> (Value, Value) {
    match fs::read(TIMELINE) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (v, Value::Null),
            Err(e) => (
                Value::Null,
                json!(format!(
                    "{TIMELINE} is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Value::Null, Value::Null),
        Err(e) => (Value::Null, json!(format!("reading {TIMELINE}: {e}"))),
    }
}

/// `/proc/self/mounts` as `[{source, target, fstype, options}]`.
fn mounts() -> Value {
    let Ok(text) = fs::read_to_string("/proc/self/mounts") else {
        return Value::Null;
    };
    let list: Vec<Value> = text
        .lines()
        .filter_map(|line| {
            let f: Vec<String> = line.split(' ').map(unescape_octal).collect();
            (f.len() >= 4)
                .then(|| json!({"source": f[0], "target": f[1], "fstype": f[2], "options": f[3]}))
        })
        .collect();
    Value::Array(list)
}

/// Undoes the kernel's `\040`-style escapes in mount table fields.
fn unescape_octal(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every interface in /sys/class/net with its state and addresses.
fn net() -> Value {
    let mut ifaces: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    if let Ok(dir) = fs::read_dir("/sys/class/net") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = format!("/sys/class/net/{name}");
            let mut m = Map::new();
            m.insert(
                "operstate".into(),
                json!(read_trimmed(&format!("{base}/operstate"))),
            );
            m.insert(
                "mac".into(),
                json!(read_trimmed(&format!("{base}/address"))),
            );
            m.insert(
                "flags".into(),
                json!(read_trimmed(&format!("{base}/flags"))),
            );
            m.insert("addresses".into(), json!([]));
            m.insert("addresses6".into(), json!([]));
            ifaces.insert(name, m);
        }
    }
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => {
            for a in addrs {
                let Some(addr) = a.address else { continue };
                let entry = ifaces.entry(a.interface_name.clone()).or_default();
                if let Some(v4) = addr.as_sockaddr_in() {
                    let prefix = a
                        .netmask
                        .as_ref()
                        .and_then(|n| n.as_sockaddr_in())
                        .map(|n| n.ip().to_bits().count_ones())
                        .unwrap_or(32);
                    push(entry, "addresses", format!("{}/{prefix}", v4.ip()));
                } else if let Some(v6) = addr.as_sockaddr_in6() {
                    let prefix = a
                        .netmask
                        .as_ref()
                        .and_then(|n| n.as_sockaddr_in6())
                        .map(|n| n.ip().to_bits().count_ones())
                        .unwrap_or(128);
                    push(entry, "addresses6", format!("{}/{prefix}", v6.ip()));
                }
            }
        }
        Err(e) => {
            let mut m = Map::new();
            m.insert("error".into(), json!(format!("getifaddrs: {e}")));
            ifaces.insert("error".into(), m);
        }
    }
    json!(ifaces)
}

fn push(entry: &mut Map<String, Value>, key: &str, value: String) {
    match entry.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.push(Value::String(value)),
        None => {
            entry.insert(key.into(), json!([value]));
        }
    }
}

/// This process's open file descriptors and what they point to.
fn open_fds() -> Value {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return Value::Null;
    };
    let mut fds = BTreeMap::new();
    for entry in dir.flatten() {
        let target = fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        fds.insert(entry.file_name().to_string_lossy().into_owned(), target);
    }
    // The directory handle read_dir used shows up too: it is gone now, drop it.
    fds.retain(|_, t| !t.starts_with("/proc/") || !t.ends_with("/fd"));
    json!(fds)
}

/// User-space processes other than this one (kernel threads have no cmdline).
fn processes(me: u32) -> Value {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Value::Null;
    };
    let mut list = Vec::new();
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if raw.is_empty() {
            continue;
        }
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let comm = read_trimmed(&format!("/proc/{pid}/comm"));
        list.push(json!({"pid": pid, "comm": comm, "argv": argv}));
    }
    Value::Array(list)
}

/// A few /proc/meminfo fields, in KiB.
fn meminfo() -> Value {
    let Ok(text) = fs::read_to_string("/proc/meminfo") else {
        return Value::Null;
    };
    let keep = ["MemTotal", "MemFree", "MemAvailable", "Cached", "Shmem"];
    let mut m = Map::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(val)) = (parts.next(), parts.next()) else {
            continue;
        };
        let key = key.trim_end_matches(':');
        if let (true, Ok(kib)) = (keep.contains(&key), val.parse::<u64>()) {
            m.insert(format!("{key}_kib"), json!(kib));
        }
    }
    Value::Object(m)
}

/// The kernel log so far, one record per line (`<level>,<seq>,<usec>,<flags>;text`
/// reduced to `[usec] text`), read without blocking until the end.
fn read_kmsg() -> String {
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open("/dev/kmsg")
    {
        Ok(f) => f,
        Err(e) => return format!("SESAME-MARKER-ERROR opening /dev/kmsg: {e}\n"),
    };
    let mut file = file;
    let mut out = String::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let record = String::from_utf8_lossy(&buf[..n]);
                let (head, text) = record.split_once(';').unwrap_or(("", &record));
                let usec = head.split(',').nth(2).unwrap_or("?");
                out.push_str(&format!("[{usec}] {}", text));
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
            // EPIPE: the record we were at was overwritten; the next read goes on.
            Err(e) if e.raw_os_error() == Some(nix::libc::EPIPE) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.push_str(&format!("SESAME-MARKER-ERROR reading /dev/kmsg: {e}\n"));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mount_fields() {
        assert_eq!(unescape_octal("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_octal("plain"), "plain");
        assert_eq!(unescape_octal("tail\\04"), "tail\\04");
        assert_eq!(unescape_octal("\\134x"), "\\x");
    }

    #[test]
    fn report_is_one_json_line() {
        let r = report(42, open_fds(), Some("root=UUID=x quiet"));
        let line = r.to_string();
        assert!(!line.contains('\n'));
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["pid"], 42);
        assert!(back["mounts"].is_array());
        assert!(back["net"].is_object());
    }
}
