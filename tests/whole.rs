//! End-to-end, the whole boot: an encrypted root unlocked over SSH reaching the real
//! root with the timeline and the network torn down; a missing disk hot-added and
//! `retry` over SSH; `rd.break` + `continue` over SSH; overlayroot on a tmpfs and on an
//! encrypted volume. Prints passphrase → real root latency from the timeline.

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use sesame_qemu::{Disk, DiskBus, LuksOptions, Nic, RootFs, SshClient, Vm};
use sesame_tests::{
    admin_up, assert_secret_absent, boot_to_marker, is_kernel_cmdline_echo, mount_of,
    wait_for_line, Fixture, BOOT_TIMEOUT,
};

const PASS: &str = "whole boot passphrase";
const CMD: Duration = Duration::from_secs(60);

/// Builds an image authorizing one operator key; returns (initrd, operator).
fn image_with_operator(fx: &Fixture) -> Result<(std::path::PathBuf, SshClient)> {
    let operator = SshClient::new(&fx.dir, "operator", 0)?;
    let keys = fx.authorized_keys(&[(&operator, "")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    Ok((initrd, operator))
}

fn mark(m: &serde_json::Value, event: &str) -> Option<f64> {
    m["timeline"]["marks"]
        .as_array()?
        .iter()
        .find(|e| e["event"] == event)?["t"]
        .as_f64()
}

#[test]
fn encrypted_root_unlocked_over_ssh_reaches_the_real_root() -> Result<()> {
    let fx = Fixture::new("encrypted_root_unlocked_over_ssh_reaches_the_real_root")?;
    let (initrd, operator) = image_with_operator(&fx)?;
    let (image, luks_uuid, _) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = Some(Nic::User { ssh: true });
    cfg.append =
        format!("rd.luks.name={luks_uuid}=root root=/dev/mapper/root sesame.marker.kmsg=1");
    let vm = Vm::start(cfg)?;
    let operator = operator.with_port(vm.ssh_port().context("no ssh port")?);
    operator.wait_banner(BOOT_TIMEOUT)?;
    vm.wait_for_console("ssh ready on", BOOT_TIMEOUT)?;
    let out = operator.run(&["unlock"], Some(PASS.as_bytes()), CMD)?;
    ensure!(out.status.success(), "unlock: {out:?}");
    let m = boot_to_marker(&vm)?;
    for e in [
        "init_start",
        "modules_loaded",
        "link_up",
        "lease_bound",
        "ssh_ready",
        "unlock_requested",
        "volumes_open",
        "root_found",
        "root_mounted",
        "switch_root",
        "initramfs_freed",
    ] {
        ensure!(
            mark(&m, e).is_some(),
            "the timeline lacks {e}: {}",
            m["timeline"]
        );
    }
    let eth0 = &m["net"]["eth0"];
    ensure!(
        admin_up(eth0) == Some(false) && eth0["operstate"] == "down",
        "the network was not torn down: {eth0}"
    );
    ensure!(
        mount_of(&m, "/").is_some_and(|r| r["fstype"] == "ext4"),
        "{}",
        m["mounts"]
    );
    if let (Some(asked), Some(switched)) = (mark(&m, "unlock_requested"), mark(&m, "switch_root")) {
        eprintln!(
            "passphrase received -> switch_root: {:.3} s (includes the PBKDF: pbkdf2, 1000 iterations)",
            switched - asked
        );
    }
    assert_secret_absent(&vm, PASS)
}

#[test]
fn missing_disk_hot_added_then_retry_over_ssh() -> Result<()> {
    let fx = Fixture::new("missing_disk_hot_added_then_retry_over_ssh")?;
    let (initrd, operator) = image_with_operator(&fx)?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let disk = Disk::new("late", &image).bus(DiskBus::Unplugged);
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(disk.clone());
    cfg.nic = Some(Nic::User { ssh: true });
    cfg.append = format!("root=UUID={uuid} rd.timeout=5");
    let vm = Vm::start(cfg)?;
    let operator = operator.with_port(vm.ssh_port().context("no ssh port")?);
    wait_for_line(
        &vm,
        "did not appear",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    let out = operator.run(&["status", "--json"], None, CMD)?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("status --json")?;
    ensure!(
        v["stage"].to_string().to_lowercase().contains("emergency"),
        "stage: {}",
        v["stage"]
    );
    let answer = vm.monitor(&disk.device_add_command())?;
    ensure!(answer.trim().is_empty(), "device_add: {answer}");
    vm.wait_for_console("virtio_blk", BOOT_TIMEOUT)?;
    let out = operator.run(&["retry"], None, CMD)?;
    ensure!(out.status.success(), "retry: {out:?}");
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    Ok(())
}

#[test]
fn rd_break_and_continue_over_ssh() -> Result<()> {
    let fx = Fixture::new("rd_break_and_continue_over_ssh")?;
    let (initrd, operator) = image_with_operator(&fx)?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = Some(Nic::User { ssh: true });
    cfg.append = format!("root=UUID={uuid} rd.break");
    let vm = Vm::start(cfg)?;
    let operator = operator.with_port(vm.ssh_port().context("no ssh port")?);
    wait_for_line(
        &vm,
        "rd.break: ",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    let out = operator.run(&["status", "--json"], None, CMD)?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("status --json")?;
    ensure!(
        v["stage"].to_string().to_lowercase().contains("break"),
        "stage: {}",
        v["stage"]
    );
    ensure!(
        !vm.console_log().contains("SESAME-MARKER"),
        "rd.break did not stop the boot"
    );
    let out = operator.run(&["continue"], None, CMD)?;
    ensure!(out.status.success(), "continue: {out:?}");
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    Ok(())
}

/// Whether `path` exists in the ext4 image (read with debugfs, no mount needed).
fn exists_in_ext4(image: &std::path::Path, path: &str) -> Result<bool> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("stat {path}")])
        .arg(image)
        .output()
        .context("debugfs (apt-get install -y e2fsprogs)")?;
    Ok(!String::from_utf8_lossy(&out.stderr).contains("File not found"))
}

#[test]
fn overlayroot_on_tmpfs_leaves_the_lower_untouched() -> Result<()> {
    let fx = Fixture::new("overlayroot_on_tmpfs_leaves_the_lower_untouched")?;
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!(
        "root=UUID={uuid} rd.sesame.overlayroot=tmpfs sesame.marker.write=/written-in-overlay"
    );
    let vm = Vm::start(cfg)?;
    let m = boot_to_marker(&vm)?;
    ensure!(
        m["written"]["ok"] == true,
        "the marker could not write: {}",
        m["written"]
    );
    let root = mount_of(&m, "/").context("no /")?;
    ensure!(root["fstype"] == "overlay", "/ is {root}");
    let lower = mount_of(&m, "/media/root-ro").context("no /media/root-ro")?;
    ensure!(
        lower["options"].as_str().unwrap_or("").starts_with("ro"),
        "lower: {lower}"
    );
    let upper = mount_of(&m, "/media/root-rw").context("no /media/root-rw")?;
    ensure!(upper["fstype"] == "tmpfs", "upper: {upper}");
    ensure!(
        !exists_in_ext4(&image, "/written-in-overlay")?,
        "the write reached the lower disk"
    );
    Ok(())
}

#[test]
fn overlayroot_on_an_encrypted_volume_keeps_the_write() -> Result<()> {
    let fx = Fixture::new("overlayroot_on_an_encrypted_volume_keeps_the_write")?;
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let (upper, upper_luks, _) =
        fx.encrypted("upper.img", &RootFs::empty()?, 16, &LuksOptions::new(PASS))?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.disks.push(Disk::new("upper", &upper));
    cfg.append = format!(
        "root=UUID={uuid} rd.luks.name={upper_luks}=upper rd.sesame.overlayroot=crypt:upper \
         rd.sesame.ssh=0 sesame.marker.write=/kept"
    );
    let vm = Vm::start(cfg)?;
    vm.wait_for_console("Passphrase for upper", BOOT_TIMEOUT)?;
    vm.send_console(format!("{PASS}\r").as_bytes())?;
    let m = boot_to_marker(&vm)?;
    ensure!(
        m["written"]["ok"] == true,
        "the marker could not write: {}",
        m["written"]
    );
    let upper = mount_of(&m, "/media/root-rw").context("no /media/root-rw")?;
    ensure!(upper["fstype"] == "ext4", "upper: {upper}");
    ensure!(
        upper["source"].as_str().unwrap_or("").contains("mapper")
            || upper["source"].as_str().unwrap_or("").contains("dm-"),
        "upper is not the opened volume: {upper}"
    );
    ensure!(
        !exists_in_ext4(&image, "/kept")?,
        "the write reached the lower disk"
    );
    assert_secret_absent(&vm, PASS)
}
