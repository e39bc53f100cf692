//! SSH under abuse, on a tap in a network namespace (QEMU's user network forwards
//! connections too slowly for a crowd), in one boot:
//!
//! - a client killed while typing its passphrase at the `unlock` prompt: the volume stays
//!   locked and offered (`status --json`), nothing half-typed is used or logged;
//! - 200 connections opened at once and left idle, plus 20 slowloris connections that
//!   send an SSH version line and then one byte a second, never finishing the key
//!   exchange;
//! - meanwhile an operator connects and unlocks: the boot reaches the real root.
//!
//! Neither passphrase nor volume key appears in any log.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use sesame_qemu::{connect_crowd, luks_volume_key, Disk, NetNs, Nic, Slowloris, SshClient, Vm};
use sesame_tests::{
    assert_secrets_absent, boot_to_marker, is_kernel_cmdline_echo, ssh_logs, wait_for_line,
    Fixture, BOOT_TIMEOUT,
};

const PASS: &str = "ssh abuse fault passphrase";
const CMD: Duration = Duration::from_secs(120);
const GUEST: &str = "10.96.0.2";

#[test]
fn killed_client_crowd_and_slowloris_while_an_operator_unlocks() -> Result<()> {
    let fx = Fixture::new("killed_client_crowd_and_slowloris_while_an_operator_unlocks")?;
    let ns = NetNs::new()?;
    ns.bridge_with_tap("10.96.0.1/24", "tap0")?;
    let operator = SshClient::new(&fx.dir, "operator", 0)?;
    let quitter = SshClient::new(&fx.dir, "quitter", 0)?;
    let keys = fx.authorized_keys(&[(&operator, ""), (&quitter, "")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    let (root, luks, _) = fx.encrypted_marker_root(PASS)?;
    let (raw_key, hex_key) = luks_volume_key(&root, PASS.as_bytes())?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &root));
    cfg.nic = Some(Nic::Tap {
        ifname: "tap0".into(),
        mac: "52:54:00:96:00:02".into(),
    });
    cfg.netns = Some(ns.name.clone());
    cfg.append = format!(
        "rd.luks.name={luks}=root root=/dev/mapper/root sesame.marker.kmsg=1 \
         ip={GUEST}::10.96.0.1:255.255.255.0::eth0:off"
    );
    let vm = Vm::start(cfg)?;
    wait_for_line(
        &vm,
        &format!("ssh ready on {GUEST}:22"),
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    let operator = operator.in_netns(&ns.name, GUEST, 22);
    let quitter = quitter.in_netns(&ns.name, GUEST, 22);

    // Killed mid-unlock: half the passphrase typed, then the client dies.
    let mut session = quitter.interactive(&["unlock"])?;
    session.expect("Passphrase for root", CMD)?;
    session.send(&PASS.as_bytes()[..12])?;
    let typed = session.text();
    session.kill();
    let status = operator.run(&["status", "--json"], None, CMD)?;
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).context("status --json")?;
    let root_state = v["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|x| x["name"] == "root"))
        .map(|x| x["state"].to_string().to_lowercase())
        .context("status --json lists no volume `root`")?;
    ensure!(
        root_state.contains("locked"),
        "after the killed client, root is {root_state}"
    );

    // The crowd and the slowloris, then the operator.
    let addr: SocketAddr = format!("{GUEST}:22").parse()?;
    let loris = Slowloris::start(&ns.name, addr, 20, Duration::from_secs(1))?;
    let crowd = connect_crowd(&ns.name, addr, 200, b"SSH-2.0-crowd_0.1\r\n")?;
    eprintln!("crowd: {} connections open", crowd.len());
    let mut logs = ssh_logs(&operator)?;
    let out = operator.run(&["unlock"], Some(PASS.as_bytes()), CMD)?;
    ensure!(
        out.status.success(),
        "the operator could not unlock under load: {out:?}"
    );
    logs.push((
        "ssh unlock (operator)".into(),
        [out.stdout, out.stderr].concat(),
    ));
    logs.push(("ssh unlock (killed client)".into(), typed.into_bytes()));
    eprintln!("slowloris: {:?}", loris.stats());
    let m = boot_to_marker(&vm)?;
    ensure!(m["pid"] == 1, "{m}");
    drop(crowd);
    drop(loris);
    assert_secrets_absent(&vm, &logs, &[PASS.as_bytes(), &raw_key, hex_key.as_bytes()])
}
