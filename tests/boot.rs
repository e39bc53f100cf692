//! End-to-end boots of the initramfs built by `sesame build` on the real Debian kernel:
//! a plain (unencrypted) ext4 root found by UUID or by the config's LABEL, a damaged
//! command line, and the states where the boot waits for an operator (a missing root, a
//! root without init, `rd.break`) — each answering the console.

use std::time::Duration;

use anyhow::{ensure, Result};
use sesame_qemu::{Disk, RootFs, Vm};
use sesame_tests::{
    boot_to_marker, is_kernel_cmdline_echo, mount_of, wait_for_line, Fixture, BOOT_TIMEOUT,
};

/// The prompt sesame prints when it waits for an operator on the console.
const COMMANDS_PROMPT: &str = "sesame: commands:";

/// Types `line` on the console and waits for QEMU to exit (poweroff or reboot: the VM
/// runs with -no-reboot), checking the kernel did not panic.
fn type_and_expect_exit(vm: &Vm, line: &str) -> Result<()> {
    vm.send_console(format!("{line}\r").as_bytes())?;
    let status = vm.wait_exit(Duration::from_secs(60))?;
    let log = vm.console_log();
    ensure!(
        !log.contains("Kernel panic"),
        "the kernel panicked:{}",
        vm.diagnostics()
    );
    ensure!(
        status.success(),
        "QEMU exited with {status}{}",
        vm.diagnostics()
    );
    Ok(())
}

#[test]
fn plain_root_by_uuid_reaches_marker() -> Result<()> {
    let fx = Fixture::new("plain_root_by_uuid_reaches_marker")?;
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!("root=UUID={uuid} rd.timeout=30");
    let vm = Vm::start(cfg)?;
    let m = boot_to_marker(&vm)?;

    ensure!(m["pid"] == 1, "the marker is not PID 1: {m}");
    ensure!(
        m["timeline"].is_object() || m["timeline"].is_array(),
        "no /run/sesame/timeline.json after switch_root ({}): {m}",
        m["timeline_error"]
    );
    ensure!(m["root_fs"] == "ext4", "/ is not the ext4 root: {m}");
    let root = mount_of(&m, "/").expect("a / mount");
    ensure!(root["fstype"] == "ext4", "/ is {root}");
    for t in ["/proc", "/sys", "/dev", "/run"] {
        ensure!(mount_of(&m, t).is_some(), "{t} was not handed over: {m}");
    }
    let events: Vec<&str> = m["timeline"]["marks"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["event"].as_str()).collect())
        .unwrap_or_default();
    for e in [
        "init_start",
        "modules_loaded",
        "root_found",
        "root_mounted",
        "switch_root",
    ] {
        ensure!(events.contains(&e), "timeline lacks {e}: {events:?}");
    }
    ensure!(
        m["initramfs_freed"] == true,
        "the initramfs was not freed: {m}"
    );
    ensure!(
        root["options"].as_str().unwrap_or("").starts_with("ro"),
        "root not read-only: {root}"
    );
    Ok(())
}

#[test]
fn config_names_the_root_by_label() -> Result<()> {
    let fx = Fixture::new("config_names_the_root_by_label")?;
    let config = fx.dir.join("config.toml");
    std::fs::write(
        &config,
        "[boot]\nroot = \"LABEL=cfgroot\"\nread_only = false\n",
    )?;
    let initrd = fx.initramfs(&["--config", config.to_str().unwrap_or_default()])?;
    let image = fx.dir.join("root.img");
    RootFs::new()?.ext4_image(&image, 64, Some("cfgroot"))?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = "rd.timeout=30".into();
    let vm = Vm::start(cfg)?;
    let m = boot_to_marker(&vm)?;
    let root = mount_of(&m, "/").expect("a / mount");
    ensure!(root["fstype"] == "ext4", "/ is {root}");
    ensure!(
        root["options"].as_str().unwrap_or("").starts_with("rw"),
        "the config's read_only = false was not applied: {root}"
    );
    Ok(())
}

#[test]
fn missing_root_waits_in_emergency_and_powers_off_on_request() -> Result<()> {
    let fx = Fixture::new("missing_root_waits_in_emergency_and_powers_off_on_request")?;
    let initrd = fx.initramfs(&[])?;
    let (image, _uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("other", &image));
    cfg.append = "root=UUID=00000000-1111-2222-3333-444444444444 rd.timeout=3".into();
    let vm = Vm::start(cfg)?;
    // The failure names what was asked for and every device that was seen.
    let line = wait_for_line(
        &vm,
        "did not appear",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    ensure!(
        line.contains("UUID=00000000-1111-2222-3333-444444444444"),
        "{line}"
    );
    ensure!(
        line.contains("vda ext4"),
        "the seen devices are not listed: {line}"
    );
    vm.wait_for_console(COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    vm.send_console(b"frobnicate\r")?;
    vm.wait_for_console("unknown command `frobnicate`", BOOT_TIMEOUT)?;
    ensure!(
        !vm.console_log().contains("SESAME-MARKER"),
        "booted without a root?"
    );
    type_and_expect_exit(&vm, "poweroff")
}

#[test]
fn empty_root_word_is_explained_and_reboot_works() -> Result<()> {
    let fx = Fixture::new("empty_root_word_is_explained_and_reboot_works")?;
    let initrd = fx.initramfs(&[])?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.append = "root= rd.timeout=2".into();
    let vm = Vm::start(cfg)?;
    let word = wait_for_line(&vm, "`root=`", |l| !is_kernel_cmdline_echo(l), BOOT_TIMEOUT)?;
    eprintln!("sesame said: {word}");
    vm.wait_for_console("no root device", BOOT_TIMEOUT)?;
    vm.wait_for_console(COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    type_and_expect_exit(&vm, "reboot")
}

#[test]
fn root_without_init_is_an_emergency_not_a_panic() -> Result<()> {
    let fx = Fixture::new("root_without_init_is_an_emergency_not_a_panic")?;
    let initrd = fx.initramfs(&[])?;
    let image = fx.dir.join("root.img");
    let uuid = RootFs::empty()?.ext4_image(&image, 32, None)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!("root=UUID={uuid} rd.timeout=30");
    let vm = Vm::start(cfg)?;
    let line = wait_for_line(
        &vm,
        "no usable init",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    ensure!(line.contains("/sbin/init"), "{line}");
    vm.wait_for_console(COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    // `retry` runs the boot again and lands in the same place: still alive.
    let mark = vm.console_mark();
    vm.send_console(b"retry\r")?;
    vm.wait_for_console_after(mark, "no usable init", BOOT_TIMEOUT)?;
    vm.wait_for_console_after(mark, COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    type_and_expect_exit(&vm, "poweroff")
}

#[test]
fn rd_break_waits_for_continue() -> Result<()> {
    let fx = Fixture::new("rd_break_waits_for_continue")?;
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!("root=UUID={uuid} rd.break");
    let vm = Vm::start(cfg)?;
    wait_for_line(
        &vm,
        "rd.break: ",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    vm.wait_for_console(COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        !vm.console_log().contains("SESAME-MARKER"),
        "rd.break did not stop the boot"
    );
    vm.send_console(b"continue\r")?;
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "the marker is not PID 1: {m}");
    Ok(())
}

#[test]
fn malformed_cmdline_still_boots() -> Result<()> {
    let fx = Fixture::new("malformed_cmdline_still_boots")?;
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!("root=UUID={uuid} rd.timeout=abc \"stray");
    let vm = Vm::start(cfg)?;

    // sesame's own report of the bad word (the word, the reason, the fix), not the
    // kernel's echo of its command line nor the marker's copy of it.
    let line = wait_for_line(
        &vm,
        "rd.timeout=abc",
        |l| !is_kernel_cmdline_echo(l) && !l.contains("SESAME-MARKER"),
        BOOT_TIMEOUT,
    )?;
    eprintln!("sesame said: {line}");
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "the marker is not PID 1: {m}");
    ensure!(m["root_fs"] == "ext4", "/ is not the ext4 root: {m}");
    Ok(())
}

/// A GPT disk whose second partition holds the root: found by PARTUUID, which only the
/// partition table knows (the kernel does not export it, and there is no udev).
#[test]
fn partitioned_root_by_partuuid() -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    use std::process::Command;
    let fx = Fixture::new("partitioned_root_by_partuuid")?;
    sesame_qemu::require_tools(&["sgdisk"])?;
    let initrd = fx.initramfs(&[])?;
    let (fs_image, _uuid) = fx.marker_root("rootfs.img", 48)?;
    let disk = fx.dir.join("disk.img");
    std::fs::File::create(&disk)?.set_len(64 << 20)?;
    let partuuid = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    let out = Command::new("sgdisk")
        .args([
            "-o",
            "-n",
            "1:2048:+8M",
            "-c",
            "1:spare",
            "-n",
            "2:0:0",
            "-c",
            "2:rootpart",
        ])
        .args(["-u", &format!("2:{partuuid}")])
        .arg(&disk)
        .output()?;
    ensure!(out.status.success(), "sgdisk failed: {out:?}");
    // Partition 2 starts right after partition 1: sector 2048 + 8 MiB.
    let start = 2048 * 512 + (8 << 20);
    let mut f = std::fs::OpenOptions::new().write(true).open(&disk)?;
    f.seek(SeekFrom::Start(start))?;
    f.write_all(&std::fs::read(&fs_image)?)?;
    drop(f);
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("disk", &disk));
    cfg.append = format!("root=PARTUUID={} rd.timeout=30", partuuid.to_uppercase());
    let vm = Vm::start(cfg)?;
    let m = boot_to_marker(&vm)?;
    let root = mount_of(&m, "/").expect("a / mount");
    ensure!(root["source"] == "/dev/vda2", "/ is {root}");
    Ok(())
}
