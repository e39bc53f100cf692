//! End-to-end network: DHCP from QEMU's user network, the static `ip=` form, a real
//! dnsmasq on a tap in a network namespace the test makes (short lease renewed while the
//! box waits, classless routes, DNS and search), and the console prompt appearing
//! promptly with no NIC at all or with a DHCP server that never answers.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use sesame_qemu::{Disk, NetNs, Nic, SshClient, Vm};
use sesame_tests::{
    admin_up, boot_to_marker, is_kernel_cmdline_echo, wait_for_line, Fixture, BOOT_TIMEOUT,
};

const PASS: &str = "network test passphrase";

fn iface<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &m["net"][name]
}

/// Boots a plain marker root with `rd.break`, so the network has time to come up before
/// switch_root, and returns the VM waiting at the break.
fn boot_at_break(fx: &Fixture, nic: Nic, append: &str) -> Result<Vm> {
    let initrd = fx.initramfs(&[])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = Some(nic);
    cfg.append = format!("root=UUID={uuid} rd.break {append}");
    let vm = Vm::start(cfg)?;
    wait_for_line(
        &vm,
        "rd.break: ",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    Ok(vm)
}

#[test]
fn dhcp_on_the_user_network_kept_for_the_real_system() -> Result<()> {
    let fx = Fixture::new("dhcp_on_the_user_network_kept_for_the_real_system")?;
    let vm = boot_at_break(&fx, Nic::User { ssh: false }, "rd.sesame.net.keep=1")?;
    let line = vm.wait_for_console("10.0.2.15", BOOT_TIMEOUT)?;
    eprintln!("lease: {line}");
    vm.wait_for_console("sesame: commands:", BOOT_TIMEOUT)?;
    vm.send_console(b"continue\r")?;
    let m = boot_to_marker(&vm)?;
    let eth0 = iface(&m, "eth0");
    ensure!(admin_up(eth0) == Some(true), "eth0 was not kept up: {eth0}");
    ensure!(
        eth0["addresses"].to_string().contains("10.0.2.15"),
        "eth0: {eth0}"
    );
    let timeline = m["timeline"].to_string();
    ensure!(
        timeline.contains("lease_bound"),
        "no lease_bound in the timeline: {timeline}"
    );
    Ok(())
}

#[test]
fn static_ip_form_is_applied() -> Result<()> {
    let fx = Fixture::new("static_ip_form_is_applied")?;
    let vm = boot_at_break(
        &fx,
        Nic::User { ssh: false },
        "ip=10.0.2.77::10.0.2.2:255.255.255.0:vault:eth0:off rd.sesame.net.keep=1",
    )?;
    let line = wait_for_line(
        &vm,
        "10.0.2.77/24",
        |l| !is_kernel_cmdline_echo(l),
        BOOT_TIMEOUT,
    )?;
    eprintln!("static: {line}");
    vm.wait_for_console("sesame: commands:", BOOT_TIMEOUT)?;
    vm.send_console(b"continue\r")?;
    let m = boot_to_marker(&vm)?;
    let eth0 = iface(&m, "eth0");
    ensure!(
        eth0["addresses"].to_string().contains("10.0.2.77/24"),
        "eth0: {eth0}"
    );
    Ok(())
}

/// dnsmasq with a 2-minute lease (its minimum): the box waits at rd.break past T1
/// (60 s) and renews; `status --json` over SSH shows the lease's DNS and search list;
/// after `continue` the network is torn down for the real system.
#[test]
fn dnsmasq_in_a_namespace_lease_renewed_while_waiting() -> Result<()> {
    let fx = Fixture::new("dnsmasq_in_a_namespace_lease_renewed_while_waiting")?;
    let mut ns = NetNs::new()?;
    ns.bridge_with_tap("10.99.0.1/24", "tap0")?;
    let mac = "52:54:00:99:00:55";
    let log = ns.dnsmasq(
        &[
            "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,2m",
            &format!("--dhcp-host={mac},10.99.0.55"),
            "--dhcp-option=option:router,10.99.0.1",
            "--dhcp-option=option:classless-static-route,192.0.2.0/24,10.99.0.1,0.0.0.0/0,10.99.0.1",
            "--dhcp-option=option:dns-server,10.99.0.53",
            "--dhcp-option=option:domain-search,example.test",
        ],
        &fx.dir.join("dnsmasq.log"),
    )?;
    let operator = SshClient::new(&fx.dir, "operator", 22)?;
    let keys = fx.authorized_keys(&[(&operator, "")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    let (image, uuid) = fx.marker_root("root.img", 64)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = Some(Nic::Tap {
        ifname: "tap0".into(),
        mac: mac.into(),
    });
    cfg.netns = Some(ns.name.clone());
    cfg.append = format!("root=UUID={uuid} rd.break");
    let vm = Vm::start(cfg)?;
    vm.wait_for_console("10.99.0.55", BOOT_TIMEOUT)?;
    let client = operator.in_netns(&ns.name, "10.99.0.55", 22);
    let out = client.run(&["status", "--json"], None, Duration::from_secs(60))?;
    ensure!(out.status.success(), "status --json: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("status --json")?;
    let net = v["network"].to_string();
    ensure!(net.contains("10.99.0.53"), "no DNS from the lease: {net}");
    ensure!(
        net.contains("example.test"),
        "no search list from the lease: {net}"
    );
    // T1 of a 120 s lease is 60 s after binding: wait for the renewal.
    let renewed = vm.wait_for_console("renew", Duration::from_secs(150))?;
    eprintln!("renewal: {renewed}");
    let dhcp = std::fs::read_to_string(&log)?;
    ensure!(
        dhcp.matches("DHCPACK").count() >= 2,
        "dnsmasq saw no renewal:\n{dhcp}"
    );
    let out = client.run(&["continue"], None, Duration::from_secs(60))?;
    ensure!(out.status.success(), "continue: {out:?}");
    let m = boot_to_marker(&vm)?;
    let eth0 = iface(&m, "eth0");
    ensure!(
        admin_up(eth0) == Some(false) && eth0["operstate"] == "down",
        "the network was not torn down: {eth0}"
    );
    ensure!(
        !eth0["addresses"].to_string().contains("10.99.0.55"),
        "address left: {eth0}"
    );
    Ok(())
}

/// Boots an encrypted root and answers the console prompt; prints how long after
/// sesame started the prompt appeared.
fn console_prompt_without_network(
    fx: &Fixture,
    nic: Option<Nic>,
    netns: Option<&NetNs>,
) -> Result<()> {
    let initrd = fx.initramfs(&[])?;
    let (image, luks_uuid, _) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = nic;
    cfg.netns = netns.map(|n| n.name.clone());
    cfg.append = format!("rd.luks.name={luks_uuid}=root root=/dev/mapper/root");
    let vm = Vm::start(cfg)?;
    let start = vm.wait_for_console(
        &format!("sesame {} starting", env!("CARGO_PKG_VERSION")),
        BOOT_TIMEOUT,
    )?;
    let prompt = vm.wait_for_console("Passphrase for root", BOOT_TIMEOUT)?;
    eprintln!("sesame started: {start}\nprompt: {prompt}");
    vm.send_console(format!("{PASS}\r").as_bytes())?;
    boot_to_marker(&vm)?;
    Ok(())
}

#[test]
fn no_nic_the_console_prompt_still_comes() -> Result<()> {
    let fx = Fixture::new("no_nic_the_console_prompt_still_comes")?;
    console_prompt_without_network(&fx, None, None)
}

#[test]
fn silent_dhcp_server_the_console_prompt_still_comes() -> Result<()> {
    let fx = Fixture::new("silent_dhcp_server_the_console_prompt_still_comes")?;
    let ns = NetNs::new()?;
    ns.bridge_with_tap("10.98.0.1/24", "tap0")?;
    let nic = Nic::Tap {
        ifname: "tap0".into(),
        mac: "52:54:00:98:00:02".into(),
    };
    console_prompt_without_network(&fx, Some(nic), Some(&ns))
}
