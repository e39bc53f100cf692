//! Networks that fail. (A DHCP server that never answers, and no NIC for a whole boot:
//! tests/net.rs shows the console prompt still comes.)
//!
//! - No NIC at boot, then one hot-added through QEMU's monitor: the console says there is
//!   no interface yet and prompts for the passphrase meanwhile; once the card appears it
//!   gets DHCP, the console prints `ssh ready on 10.0.2.15:22`, and an operator unlocks
//!   over SSH through the new card.
//! - A DHCP server silent at boot that appears 30 s later, then is replaced by one that
//!   knows nothing of the lease and NAKs the renewal: the console says it is still asking
//!   (`no answer to DHCPDISCOVER yet … still trying`), binds when the server appears,
//!   says the lease was lost to the NAK and the address removed, binds the new server's
//!   address, and an operator unlocks over SSH at that new address.
//!
//! Neither passphrase nor volume key appears in any log.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use sesame_qemu::{luks_volume_key, Disk, Dnsmasq, LateNic, NetNs, Nic, SshClient, Vm};
use sesame_tests::{
    assert_secrets_absent, boot_to_marker, is_kernel_cmdline_echo, ssh_logs, wait_for_line,
    wait_for_whole_line, Fixture, NamedLog, BOOT_TIMEOUT,
};

const PASS: &str = "network fault passphrase";
const CMD: Duration = Duration::from_secs(90);

/// An image authorizing one operator key and the encrypted marker root: (initrd,
/// operator, root image, LUKS UUID).
fn encrypted_setup(
    fx: &Fixture,
) -> Result<(std::path::PathBuf, SshClient, std::path::PathBuf, String)> {
    let operator = SshClient::new(&fx.dir, "operator", 0)?;
    let keys = fx.authorized_keys(&[(&operator, "")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    let (root, luks, _) = fx.encrypted_marker_root(PASS)?;
    Ok((initrd, operator, root, luks))
}

/// The passphrase and the volume key (raw and hex).
fn secrets_of(root: &std::path::Path) -> Result<Vec<Vec<u8>>> {
    let (raw, hex) = luks_volume_key(root, PASS.as_bytes())?;
    Ok(vec![PASS.as_bytes().to_vec(), raw, hex.into_bytes()])
}

/// `ssh_logs` while locked, then `unlock` with the passphrase; returns every ssh output.
fn unlock_over_ssh(client: &SshClient) -> Result<Vec<NamedLog>> {
    let mut logs = ssh_logs(client)?;
    let out = client.run(&["unlock"], Some(PASS.as_bytes()), CMD)?;
    ensure!(out.status.success(), "unlock: {out:?}");
    logs.push(("ssh unlock".into(), [out.stdout, out.stderr].concat()));
    Ok(logs)
}

fn not_echo(l: &str) -> bool {
    !is_kernel_cmdline_echo(l)
}

#[test]
fn no_nic_then_one_hot_added_unlocks_over_ssh() -> Result<()> {
    let fx = Fixture::new("no_nic_then_one_hot_added_unlocks_over_ssh")?;
    let (initrd, operator, root, luks) = encrypted_setup(&fx)?;
    let secrets = secrets_of(&root)?;
    let nic = LateNic::new("late", "52:54:00:12:34:77", 20)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &root));
    cfg.nic = None;
    cfg.extra_args.extend(nic.extra_args());
    cfg.append = format!("rd.luks.name={luks}=root root=/dev/mapper/root sesame.marker.kmsg=1");
    let vm = Vm::start(cfg)?;
    // What the user sees without a card: sesame says so, and the console asks meanwhile.
    wait_for_line(&vm, "no interface to configure yet", not_echo, BOOT_TIMEOUT)?;
    vm.wait_for_console("Passphrase for root", BOOT_TIMEOUT)?;
    ensure!(
        !vm.console_log().contains("ssh ready on"),
        "ssh ready without a network card"
    );
    let answer = vm.monitor(&nic.device_add_command())?;
    ensure!(answer.trim().is_empty(), "device_add: {answer}");
    let ready = wait_for_line(&vm, "ssh ready on 10.0.2.15:22", not_echo, BOOT_TIMEOUT)?;
    eprintln!("after the hot-add: {ready}");
    let client = operator.with_port(nic.ssh_port);
    client.wait_banner(BOOT_TIMEOUT)?;
    let logs = unlock_over_ssh(&client)?;
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    assert_secrets_absent(&vm, &logs, &secrets)
}

/// A lease of 2 minutes (dnsmasq's minimum) renewed after 8 s (T1), so the NAK comes
/// soon after the server is replaced.
const LEASE_OPTIONS: [&str; 3] = [
    "--dhcp-option=58,8",
    "--dhcp-option=59,100",
    "--dhcp-option=option:router,10.97.0.1",
];

#[test]
fn dhcp_silent_then_appearing_then_nak_mid_lease() -> Result<()> {
    let fx = Fixture::new("dhcp_silent_then_appearing_then_nak_mid_lease")?;
    let ns = NetNs::new()?;
    ns.bridge_with_tap("10.97.0.1/24", "tap0")?;
    let (initrd, operator, root, luks) = encrypted_setup(&fx)?;
    let secrets = secrets_of(&root)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &root));
    cfg.nic = Some(Nic::Tap {
        ifname: "tap0".into(),
        mac: "52:54:00:97:00:02".into(),
    });
    cfg.netns = Some(ns.name.clone());
    cfg.append = format!("rd.luks.name={luks}=root root=/dev/mapper/root sesame.marker.kmsg=1");
    let vm = Vm::start(cfg)?;

    // Silent: sesame keeps asking and says so; the console prompt does not wait for it.
    let asking = wait_for_line(&vm, "no answer to DHCPDISCOVER yet", not_echo, BOOT_TIMEOUT)?;
    eprintln!("silent server: {asking}");
    vm.wait_for_console("Passphrase for root", BOOT_TIMEOUT)?;
    std::thread::sleep(Duration::from_secs(30));

    // The server appears.
    let mut first = Dnsmasq::start(
        &ns.name,
        &[
            &[
                "--dhcp-range=10.97.0.50,10.97.0.59,255.255.255.0,2m",
                "--dhcp-authoritative",
            ][..],
            &LEASE_OPTIONS[..],
        ]
        .concat(),
        &fx.dir.join("dnsmasq-first.log"),
    )?;
    let bound = wait_for_whole_line(&vm, "bound 10.97.0.5", BOOT_TIMEOUT)?;
    eprintln!("server appeared: {bound}");

    // Replaced by a server that never gave that lease and is authoritative: it NAKs the
    // renewal at T1, and sesame starts over and binds an address of the new range.
    first.stop();
    let mark = vm.console_mark();
    let _second = Dnsmasq::start(
        &ns.name,
        &[
            &[
                "--dhcp-range=10.97.0.100,10.97.0.109,255.255.255.0,2m",
                "--dhcp-authoritative",
            ][..],
            &LEASE_OPTIONS[..],
        ]
        .concat(),
        &fx.dir.join("dnsmasq-second.log"),
    )?;
    vm.wait_for_console_after(mark, "DHCPNAK", BOOT_TIMEOUT)?;
    let nak = wait_for_whole_line(&vm, "DHCPNAK", BOOT_TIMEOUT)?;
    eprintln!("NAK: {nak}");
    ensure!(
        nak.contains("10.97.0.5") && nak.contains("removed"),
        "the NAK line should say which address was removed: {nak}"
    );
    let rebound = wait_for_whole_line(&vm, "bound 10.97.0.10", BOOT_TIMEOUT)?;
    eprintln!("after the NAK: {rebound}");
    let address = rebound
        .split_whitespace()
        .find(|w| w.starts_with("10.97.0.10"))
        .and_then(|w| w.split('/').next())
        .context("no address in the bound line")?
        .to_string();

    let client = operator.in_netns(&ns.name, &address, 22);
    let logs = unlock_over_ssh(&client)?;
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    assert_secrets_absent(&vm, &logs, &secrets)
}
