//! Volumes that fail. A disk missing, then hot-added: tests/whole.rs
//! (`missing_disk_hot_added_then_retry_over_ssh`) covers it — the console says the root
//! did not appear, `status --json` says emergency, `retry` after the hot-add boots.
//!
//! - A LUKS header whose metadata is damaged beside the encrypted root: the console
//!   names the damaged device and says its header cannot be read; the root is still
//!   offered, and five wrong passphrases over SSH (each answered "wrong passphrase",
//!   exit 3) do not stop the right one from booting.
//! - Argon2id costing 1 GiB on a 256 MiB machine: the console says the key slot needs
//!   more memory than the machine has, and the prompt stays usable (no hang, no OOM
//!   kill, no kernel panic).
//!
//! Neither passphrase nor volume key appears in any log (console, kmsg, `log`, `status
//! --json`, `status`, `dmesg`, the timeline, the ssh client's output).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use sesame_qemu::{
    corrupt_luks2_metadata, luks_costly_argon2, luks_volume_key, Disk, LuksOptions, Nic, RootFs,
    SshClient, Vm,
};
use sesame_tests::{
    assert_secrets_absent, boot_to_marker, is_kernel_cmdline_echo, ssh_logs, wait_for_line,
    wait_for_whole_line, Fixture, NamedLog, BOOT_TIMEOUT,
};

const PASS: &str = "volumes fault passphrase";
const WRONG: [&str; 5] = [
    "wrong guess number one",
    "wrong guess number two",
    "wrong guess number three",
    "wrong guess number four",
    "wrong guess number five",
];
const CMD: Duration = Duration::from_secs(90);

/// The volume key of `image` in the forms a log could show it: raw, hex, spaced hex.
fn volume_key_forms(image: &std::path::Path) -> Result<Vec<Vec<u8>>> {
    let (raw, hex) = luks_volume_key(image, PASS.as_bytes())?;
    let spaced: Vec<String> = raw.iter().map(|b| format!("{b:02x}")).collect();
    Ok(vec![raw, hex.into_bytes(), spaced.join(" ").into_bytes()])
}

#[test]
fn damaged_header_is_named_root_still_offered_five_wrong_then_right() -> Result<()> {
    let fx = Fixture::new("damaged_header_is_named_root_still_offered_five_wrong_then_right")?;
    let operator = SshClient::new(&fx.dir, "operator", 0)?;
    let keys = fx.authorized_keys(&[(&operator, "")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    let (root, root_luks, root_fs) = fx.encrypted_marker_root(PASS)?;
    let (broken, broken_luks, _) =
        fx.encrypted("broken.img", &RootFs::empty()?, 16, &LuksOptions::new(PASS))?;
    corrupt_luks2_metadata(&broken)?;
    let mut secrets = volume_key_forms(&root)?;
    secrets.push(PASS.as_bytes().to_vec());
    secrets.extend(WRONG.iter().map(|w| w.as_bytes().to_vec()));

    let mut cfg = fx.vm_config(&initrd);
    // vda: the damaged volume, vdb: the root. No rd.luks.*: every LUKS device is offered.
    cfg.disks.push(Disk::new("broken", &broken));
    cfg.disks.push(Disk::new("root", &root));
    cfg.nic = Some(Nic::User { ssh: true });
    cfg.append = format!("root=UUID={root_fs} sesame.marker.kmsg=1");
    let vm = Vm::start(cfg)?;
    let operator = operator.with_port(vm.ssh_port().context("no ssh port")?);

    // What the user sees: the damaged device by name and why, the root still asked for.
    let said = wait_for_line(
        &vm,
        "/dev/vda",
        |l| !is_kernel_cmdline_echo(l) && l.to_lowercase().contains("header"),
        BOOT_TIMEOUT,
    )?;
    eprintln!("damaged: {said}");
    let prompt = format!("luks-{root_luks}");
    vm.wait_for_console(&format!("Passphrase for {prompt}"), BOOT_TIMEOUT)?;
    vm.wait_for_console("ssh ready on", BOOT_TIMEOUT)?;
    ensure!(
        !vm.console_log()
            .contains(&format!("Passphrase for luks-{broken_luks}")),
        "the damaged volume was offered as if it could open"
    );

    let mut logs: Vec<NamedLog> = Vec::new();
    for (n, wrong) in WRONG.iter().enumerate() {
        let out = operator.run(&["unlock", &prompt], Some(wrong.as_bytes()), CMD)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.code() == Some(3) && text.to_lowercase().contains("wrong passphrase"),
            "wrong passphrase {}: {:?}: {text}",
            n + 1,
            out.status
        );
        logs.push((format!("ssh unlock (wrong {})", n + 1), text.into_bytes()));
    }
    let status = operator.run(&["status", "--json"], None, CMD)?;
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).context("status --json")?;
    let errors = v["errors"].to_string();
    ensure!(
        errors.contains("/dev/vda") && errors.contains("damaged"),
        "status --json does not show the damaged header: {errors}"
    );
    logs.extend(ssh_logs(&operator)?);

    let out = operator.run(&["unlock", &prompt], Some(PASS.as_bytes()), CMD)?;
    ensure!(out.status.success(), "the right passphrase: {out:?}");
    logs.push((
        "ssh unlock (right)".into(),
        [out.stdout, out.stderr].concat(),
    ));
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    assert_secrets_absent(&vm, &logs, &secrets)
}

#[test]
fn argon2_needing_more_memory_than_the_machine_says_so() -> Result<()> {
    let fx = Fixture::new("argon2_needing_more_memory_than_the_machine_says_so")?;
    let initrd = fx.initramfs(&[])?;
    let (root, root_luks, _) = fx.encrypted_marker_root(PASS)?;
    let secrets = volume_key_forms(&root)?;
    // 1 GiB, 4 passes (argon2id's least): the host opens it in seconds; the guest has
    // 256 MiB.
    luks_costly_argon2(&root, PASS.as_bytes(), 1024 * 1024, 4)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &root));
    cfg.memory_mib = 256;
    cfg.append = format!("rd.luks.name={root_luks}=root root=/dev/mapper/root rd.sesame.ssh=0");
    let vm = Vm::start(cfg)?;
    vm.wait_for_console("Passphrase for root", BOOT_TIMEOUT)?;
    let mark = vm.console_mark();
    vm.send_console(format!("{PASS}\r").as_bytes())?;
    vm.wait_for_console_after(mark, "not enough memory", BOOT_TIMEOUT)?;
    let said = wait_for_whole_line(&vm, "not enough memory", BOOT_TIMEOUT)?;
    eprintln!("argon2: {said}");
    ensure!(
        said.contains("1024 MiB") && said.contains("/dev/vda"),
        "the message should say how much memory and which volume: {said}"
    );
    // Not a hang: the prompt comes back and the machine answers.
    vm.wait_for_console_after(mark, "Passphrase for root", BOOT_TIMEOUT)?;
    ensure!(
        !vm.console_log().contains("Kernel panic") && !vm.console_log().contains("Killed process"),
        "the OOM killer or a panic ran:{}",
        vm.diagnostics()
    );
    let mut all = secrets;
    all.push(PASS.as_bytes().to_vec());
    let all: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    assert_secrets_absent(&vm, &[], &all)
}
