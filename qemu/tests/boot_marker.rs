//! The harness end to end, without sesame: the Debian kernel boots a tiny initramfs whose
//! /init is the marker; the console, the monitor, the port forward and power-off all work.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sesame_qemu::{
    debian_kernel, marker_binary, parse_marker, parse_marker_kmsg, require_tools, Cpio, Disk,
    DiskBus, Nic, Vm, VmConfig,
};

const BOOT: Duration = Duration::from_secs(120);

/// An initramfs holding only /dev/console and the marker as /init.
fn marker_initramfs(dir: &Path) -> PathBuf {
    let path = dir.join("initrd.cpio");
    let mut c = Cpio::new();
    c.dir("dev", 0o755)
        .char_dev("dev/console", 0o600, 5, 1)
        .file_from("init", &marker_binary().unwrap(), 0o755)
        .unwrap();
    c.write_to(&path).unwrap();
    path
}

#[test]
fn marker_as_init_reports_and_powers_off() {
    require_tools(&["qemu-system-x86_64"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = VmConfig::new(
        debian_kernel().unwrap(),
        &marker_initramfs(dir.path()),
        dir.path(),
    );
    cfg.append = "quiet sesame.marker.kmsg=1 canary=\"two words\"".into();
    cfg.nic = Some(Nic::User { ssh: true });
    let t0 = Instant::now();
    let vm = Vm::start(cfg).unwrap();

    // The monitor answers while the guest runs.
    let status = vm.monitor("info status").unwrap();
    assert!(status.starts_with("VM status: running"), "{status:?}");

    // slirp listens on the forwarded loopback port (it accepts before the guest does).
    let port = vm.ssh_port().expect("a forwarded port");
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    let line = vm.wait_for_console("SESAME-MARKER-END", BOOT).unwrap();
    assert_eq!(line, "SESAME-MARKER-END");
    let booted = t0.elapsed();
    let exit = vm.wait_exit(Duration::from_secs(60)).unwrap();
    eprintln!(
        "QEMU start -> marker {booted:.2?}, -> exit {:.2?}",
        t0.elapsed()
    );
    assert!(exit.success(), "{exit}");

    let log = vm.console_log();
    let m = parse_marker(&log).unwrap();
    assert_eq!(m["pid"], 1, "{m}");
    assert_eq!(m["argv"][0], "/init", "{m}");
    assert!(m["timeline"].is_null(), "{m}");
    assert!(
        m["cmdline"]
            .as_str()
            .unwrap()
            .contains("canary=\"two words\""),
        "{m}"
    );
    let targets: Vec<&str> = m["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["target"].as_str())
        .collect();
    for t in ["/proc", "/sys", "/dev"] {
        assert!(targets.contains(&t), "{t} not mounted: {m}");
    }
    assert_eq!(m["root_fs"], "rootfs", "{m}");
    // No driver for virtio-net is loaded, and nobody set up lo.
    assert_eq!(m["net"]["lo"]["operstate"], "down", "{m}");
    assert_eq!(m["net"]["lo"]["addresses"], serde_json::json!([]), "{m}");
    assert!(m["net"].get("eth0").is_none(), "{m}");
    assert_eq!(m["fds"]["0"], "/dev/console", "{m}");
    eprintln!("guest uptime at marker: {}s", m["uptime_s"]);

    let kmsg = parse_marker_kmsg(&log).unwrap();
    assert!(kmsg.contains("Linux version"), "{kmsg}");
    assert!(kmsg.contains("Run /init as init process"), "{kmsg}");
    // The raw log on disk has everything too.
    let raw = std::fs::read(vm.console_log_path()).unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("SESAME-MARKER-END"));
}

#[test]
fn waiting_fails_fast_with_the_console_tail_when_qemu_exits() {
    require_tools(&["qemu-system-x86_64"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = VmConfig::new(
        debian_kernel().unwrap(),
        &marker_initramfs(dir.path()),
        dir.path(),
    );
    cfg.append = "sesame.marker.reboot=1".into();
    let vm = Vm::start(cfg).unwrap();
    // The marker reboots; under -no-reboot QEMU exits, long before the timeout.
    let t0 = Instant::now();
    let err = vm
        .wait_for_console("never printed", BOOT)
        .unwrap_err()
        .to_string();
    assert!(t0.elapsed() < BOOT, "{err}");
    assert!(err.contains("QEMU exited"), "{err}");
    assert!(err.contains("SESAME-MARKER-END"), "{err}");
    assert!(err.contains("console.log"), "{err}");
    // A mark taken now finds nothing new; one from the start finds the report.
    let mark = vm.console_mark();
    assert!(vm
        .wait_for_console_after(mark, "SESAME-MARKER", Duration::from_millis(100))
        .is_err());
    let m = vm
        .wait_for_console_from(0, "SESAME-MARKER-BEGIN", BOOT)
        .unwrap();
    assert!(vm
        .wait_for_console_after(m.end, "SESAME-MARKER {", BOOT)
        .unwrap()
        .contains("\"pid\":1"));
}

#[test]
fn console_input_reaches_the_guest() {
    require_tools(&["qemu-system-x86_64"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = VmConfig::new(
        debian_kernel().unwrap(),
        &marker_initramfs(dir.path()),
        dir.path(),
    );
    cfg.append = "quiet sesame.marker.read=1".into();
    let vm = Vm::start(cfg).unwrap();
    // The prompt has no newline: the wait matches the unfinished line.
    let prompt = vm.wait_for_console("SESAME-MARKER-READ>", BOOT).unwrap();
    assert_eq!(prompt.trim_end(), "SESAME-MARKER-READ>");
    vm.send_console(b"typed words\n").unwrap();
    vm.wait_for_console("SESAME-MARKER-END", BOOT).unwrap();
    let m = parse_marker(&vm.console_log()).unwrap();
    assert_eq!(m["console_input"], "typed words\n", "{m}");
    assert!(vm.wait_exit(Duration::from_secs(60)).unwrap().success());
}

#[test]
fn disks_show_in_the_monitor_and_hot_plug() {
    require_tools(&["qemu-system-x86_64"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.img");
    let late = dir.path().join("late.img");
    for p in [&first, &late] {
        std::fs::File::create(p).unwrap().set_len(1 << 20).unwrap();
    }
    let mut cfg = VmConfig::new(
        debian_kernel().unwrap(),
        &marker_initramfs(dir.path()),
        dir.path(),
    );
    cfg.append = "quiet sesame.marker.read=1".into();
    cfg.disks
        .push(Disk::new("root", &first).serial("ROOTSERIAL"));
    let late_disk = Disk::new("late", &late)
        .bus(DiskBus::Unplugged)
        .serial("LATE");
    cfg.disks.push(late_disk.clone());
    let vm = Vm::start(cfg).unwrap();
    let block = vm.monitor("info block").unwrap();
    assert!(block.contains("drive-root"), "{block}");
    assert!(block.contains("drive-late"), "{block}");
    let out = vm.monitor(&late_disk.device_add_command()).unwrap();
    assert_eq!(out, "", "device_add said: {out}");
    let tree = vm.monitor("info qtree").unwrap();
    assert!(tree.contains("serial = \"LATE\""), "{tree}");
    assert!(tree.contains("serial = \"ROOTSERIAL\""), "{tree}");
    let bad = vm.monitor("device_add no-such-device").unwrap();
    assert!(bad.contains("no-such-device"), "{bad}");
    // Let the marker finish so QEMU ends on its own.
    vm.wait_for_console("SESAME-MARKER-READ>", BOOT).unwrap();
    vm.send_console(b"\n").unwrap();
    assert!(vm.wait_exit(BOOT).unwrap().success());
}

#[test]
fn qemu_start_failure_shows_what_qemu_said() {
    require_tools(&["qemu-system-x86_64"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = VmConfig::new(
        debian_kernel().unwrap(),
        &marker_initramfs(dir.path()),
        dir.path(),
    );
    cfg.extra_args = vec!["-no-such-option".into()];
    let err = format!("{:#}", Vm::start(cfg).err().expect("QEMU must refuse"));
    assert!(err.contains("-no-such-option"), "{err}");
    assert!(err.contains("invalid option"), "{err}");
}
