//! What the user typed, or left, is wrong.
//!
//! - A command line carrying the whole corpus of malformed words
//!   (tests/faults/cmdline_corpus.txt: typos, bad numbers, bad addresses, empty values)
//!   plus binary junk that is not UTF-8: the console names every word with the reason
//!   and the fix, still prompts for the encrypted root, and the boot reaches the real
//!   root; neither passphrase nor volume key appears in any log.
//! - A real root whose `/sbin/init` is not executable and that has no other init: the
//!   console says which paths were tried and why each failed (`/sbin/init: not
//!   executable; /etc/init: missing; …`) and how to fix it (`init=<path>`), and waits in the emergency state (`retry` says it again, no
//!   panic); the operator swaps in a good disk (QEMU's monitor) and `retry` boots it.

use anyhow::{ensure, Result};
use sesame_qemu::{luks_volume_key, marker_binary, Disk, DiskBus, RootFs, Vm};
use sesame_tests::{
    assert_secrets_absent, boot_to_marker, is_kernel_cmdline_echo, wait_for_whole_line, Fixture,
    BOOT_TIMEOUT, COMMANDS_PROMPT,
};

const CORPUS: &str = include_str!("cmdline_corpus.txt");
const PASS: &str = "malformed-words boot pass 7f3";

/// Words that are not UTF-8 (added to the command line as raw bytes), and what the
/// console shows of each (invalid bytes as U+FFFD).
const BINARY: [(&[u8], &str); 3] = [
    (b"rd.timeout=\xff\xfe", "rd.timeout=\u{fffd}\u{fffd}"),
    (
        b"rd.luks.uuid=\xc3\x28\x80",
        "rd.luks.uuid=\u{fffd}(\u{fffd}",
    ),
    (
        b"rd.sesame.ssh.port=\xf0\x9f\x92",
        "rd.sesame.ssh.port=\u{fffd}",
    ),
];

#[test]
fn malformed_command_line_corpus_is_reported_and_the_boot_goes_on() -> Result<()> {
    let fx = Fixture::new("malformed_command_line_corpus_is_reported_and_the_boot_goes_on")?;
    let words: Vec<&str> = CORPUS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    ensure!(words.len() >= 30, "the corpus has {} words", words.len());
    let initrd = fx.initramfs(&[])?;
    let (image, luks, _) = fx.encrypted_marker_root(PASS)?;
    let (raw_key, hex_key) = luks_volume_key(&image, PASS.as_bytes())?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    // The valid words come last: later words win, the malformed ones are reported.
    cfg.append = format!(
        "{} rd.luks.name={luks}=root root=/dev/mapper/root sesame.marker.kmsg=1",
        words.join(" ")
    );
    for (raw, _) in BINARY {
        cfg.append_raw.extend_from_slice(raw);
        cfg.append_raw.push(b' ');
    }
    let vm = Vm::start(cfg)?;
    vm.wait_for_console("Passphrase for root", BOOT_TIMEOUT)?;
    vm.send_console(format!("{PASS}\r").as_bytes())?;
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    let console = vm.console_log();
    let reported: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("sesame:") && !is_kernel_cmdline_echo(l))
        .collect();
    let mut silent = Vec::new();
    for shown in words
        .iter()
        .copied()
        .chain(BINARY.iter().map(|(_, shown)| *shown))
    {
        let quoted = format!("`{shown}`");
        match reported.iter().find(|l| l.contains(&quoted)) {
            Some(l) => ensure!(l.contains(';'), "no reason and fix for {shown}: {l}"),
            None => silent.push(shown),
        }
    }
    ensure!(
        silent.is_empty(),
        "the console does not report {silent:?} (see {})",
        vm.console_log_path().display()
    );
    eprintln!(
        "{} malformed words reported, the real root reached",
        words.len() + BINARY.len()
    );
    assert_secrets_absent(&vm, &[], &[PASS.as_bytes(), &raw_key, hex_key.as_bytes()])
}

#[test]
fn root_without_a_usable_init_says_why_and_retry_boots_the_fixed_disk() -> Result<()> {
    let fx = Fixture::new("root_without_a_usable_init_says_why_and_retry_boots_the_fixed_disk")?;
    let initrd = fx.initramfs(&[])?;
    // Both disks carry the label `realroot`; the broken one's /sbin/init is mode 0644 and
    // there is no /etc/init nor /bin/init.
    let broken = RootFs::empty()?;
    broken.copy_file("sbin/init", &marker_binary()?, 0o644)?;
    let broken_img = fx.dir.join("broken.img");
    broken.ext4_image(&broken_img, 64, Some("realroot"))?;
    let good_img = fx.dir.join("good.img");
    RootFs::new()?.ext4_image(&good_img, 64, Some("realroot"))?;
    // Both on hot-plug ports (q35's root bus cannot unplug): the broken one is plugged
    // in at once, the good one after.
    let broken_disk = Disk::new("broken", &broken_img).bus(DiskBus::Unplugged);
    let good = Disk::new("good", &good_img).bus(DiskBus::Unplugged);
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(broken_disk.clone());
    cfg.disks.push(good.clone());
    cfg.append = "root=LABEL=realroot rd.sesame.ssh=0".into();
    let vm = Vm::start(cfg)?;
    let answer = vm.monitor(&broken_disk.device_add_command())?;
    ensure!(answer.trim().is_empty(), "device_add: {answer}");
    let said = wait_for_whole_line(&vm, "no usable init", BOOT_TIMEOUT)?;
    vm.wait_for_console(COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    eprintln!("the user sees: {said}");
    for needle in [
        "/sbin/init: not executable",
        "/etc/init: missing",
        "init=<path>",
    ] {
        ensure!(said.contains(needle), "`{said}` does not say `{needle}`");
    }
    let mark = vm.console_mark();
    vm.send_console(b"retry\r")?;
    vm.wait_for_console_after(mark, "no usable init", BOOT_TIMEOUT)?;
    vm.wait_for_console_after(mark, COMMANDS_PROMPT, BOOT_TIMEOUT)?;
    ensure!(
        !vm.console_log().contains("Kernel panic"),
        "{}",
        vm.diagnostics()
    );
    // The fix: the broken disk out, a good one in, `retry`.
    let answer = vm.monitor("device_del broken")?;
    ensure!(answer.trim().is_empty(), "device_del: {answer}");
    let answer = vm.monitor(&good.device_add_command())?;
    ensure!(answer.trim().is_empty(), "device_add: {answer}");
    vm.wait_for_console_after(mark, "virtio_blk", BOOT_TIMEOUT)?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    vm.send_console(b"retry\r")?;
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    Ok(())
}
