//! PID 1 never dies: `rd.sesame.test.panic=<stage>` (compiled only into the binary with
//! test hooks) makes the boot panic at that stage; the user sees the internal error and
//! the emergency prompt on the console, `retry` runs the boot again (and lands there
//! again), `poweroff` powers off — never a kernel panic.

use anyhow::{ensure, Result};
use sesame_qemu::{Disk, Vm};
use sesame_tests::{
    console_and_exit, is_kernel_cmdline_echo, wait_for_line, Fixture, BOOT_TIMEOUT, COMMANDS_PROMPT,
};

fn panic_at(stage: &str) -> Result<()> {
    let fx = Fixture::with_test_hooks(&format!("panic_at_{stage}"))?;
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!("root=UUID={uuid} rd.timeout=30 rd.sesame.test.panic={stage}");
    let vm = Vm::start(cfg)?;
    let said = wait_for_line(
        &vm,
        "failing on purpose",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    ensure!(said.contains("internal error"), "{said}");
    let stopped = wait_for_line(
        &vm,
        "the boot stopped",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    eprintln!("{stage}: {said}\n{stage}: {stopped}");
    vm.wait_for_console(COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    ensure!(
        !vm.console_log().contains("SESAME-MARKER"),
        "the boot went on after the panic at {stage}"
    );
    // `retry` is answered: the boot runs again and stops at the same place.
    let mark = vm.console_mark();
    vm.send_console(b"retry\r")?;
    vm.wait_for_console_after(mark, "failing on purpose", BOOT_TIMEOUT)?;
    vm.wait_for_console_after(mark, COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    console_and_exit(&vm, "poweroff")
}

#[test]
fn panic_while_preparing_lands_in_the_emergency_state() -> Result<()> {
    panic_at("prepare")
}

#[test]
fn panic_while_finding_the_root_lands_in_the_emergency_state() -> Result<()> {
    panic_at("root")
}

#[test]
fn panic_before_switch_root_lands_in_the_emergency_state() -> Result<()> {
    panic_at("switch")
}
