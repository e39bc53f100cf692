//! End-to-end SSH with the real OpenSSH client against sesame in QEMU: what is refused
//! (unknown keys, passwords, forwarding, a restricted key's other commands, old
//! algorithms), `status --json`, unlocking from stdin and through a pty, two operators
//! and a crowd of idle connections at once, a client dropping mid-prompt, and the
//! console racing SSH. Also prints QEMU start → SSH banner beside the kernel's own floor.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sesame_qemu::{Disk, NetNs, Nic, SshClient, Vm, VmConfig};
use sesame_tests::{assert_secret_absent, boot_to_marker, Fixture, BOOT_TIMEOUT};

const PASS: &str = "hunter2 but longer";
const CMD: Duration = Duration::from_secs(60);

/// A VM with an encrypted root named `root`, user networking with SSH forwarded, and an
/// image authorizing `operator` (no options) and `robot` (command="unlock").
struct Setup {
    fx: Fixture,
    vm: Vm,
    /// QEMU start → the SSH banner answered.
    banner: Duration,
    operator: SshClient,
    robot: SshClient,
}

fn boot(name: &str, extra_append: &str) -> Result<Setup> {
    let fx = Fixture::new(name)?;
    // Keys first (the port is only known once the VM runs; clients are re-pointed then).
    let operator = SshClient::new(&fx.dir, "operator", 0)?;
    let robot = SshClient::new(&fx.dir, "robot", 0)?;
    let keys = fx.authorized_keys(&[(&operator, ""), (&robot, "command=\"unlock\",no-pty")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    let (image, luks_uuid, _) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = Some(Nic::User { ssh: true });
    cfg.append = format!(
        "rd.luks.name={luks_uuid}=root root=/dev/mapper/root sesame.marker.kmsg=1 {extra_append}"
    );
    let vm = Vm::start(cfg)?;
    let port = vm.ssh_port().context("no ssh port")?;
    let (operator, robot) = (operator.with_port(port), robot.with_port(port));
    let waited = operator.wait_banner(BOOT_TIMEOUT)?;
    let banner = vm.elapsed();
    eprintln!("QEMU start -> SSH banner: {banner:.2?} (banner polled for {waited:.2?})");
    Ok(Setup {
        fx,
        vm,
        banner,
        operator,
        robot,
    })
}

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn refusals_status_and_unlock_from_stdin() -> Result<()> {
    let s = boot("refusals_status_and_unlock_from_stdin", "")?;

    // The host key is the image's, and only modern algorithms are offered.
    let scan = std::process::Command::new("ssh-keyscan")
        .args([
            "-p",
            &s.operator.port.to_string(),
            "-t",
            "ed25519,rsa,ecdsa",
            "127.0.0.1",
        ])
        .output()?;
    let keys = String::from_utf8_lossy(&scan.stdout);
    ensure!(keys.contains("ssh-ed25519"), "no ed25519 host key: {keys}");
    ensure!(
        !keys.contains("ssh-rsa ") && !keys.contains("ecdsa"),
        "extra host keys: {keys}"
    );
    for (option, what) in [
        (
            "KexAlgorithms=diffie-hellman-group14-sha1",
            "sha1 key exchange",
        ),
        ("Ciphers=aes128-cbc", "CBC"),
        ("MACs=hmac-sha1", "SHA-1 MAC"),
    ] {
        let mut extra = vec!["-o", option];
        if option.starts_with("MACs") {
            extra.extend(["-o", "Ciphers=aes128-ctr"]);
        }
        let out = s.operator.run_with(&extra, &["status"], None, CMD)?;
        ensure!(!out.status.success(), "{what} was accepted: {}", text(&out));
    }

    // An unknown key, and password authentication, get nowhere (and no password prompt).
    let stranger = SshClient::new(&s.fx.dir, "stranger", s.operator.port)?;
    let out = stranger.run(&["status"], None, CMD)?;
    ensure!(
        out.status.code() == Some(255),
        "unknown key: {}",
        text(&out)
    );
    let out = stranger.run_with(
        &[
            "-o",
            "BatchMode=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ],
        &["status"],
        None,
        CMD,
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(255),
        "password auth: {}",
        text(&out)
    );
    ensure!(
        !err.to_lowercase().contains("password:"),
        "a password prompt: {err}"
    );

    // No forwarding of any kind.
    let out = s
        .operator
        .run_with(&["-W", "127.0.0.1:22"], &[], None, CMD)?;
    ensure!(
        !out.status.success(),
        "stdio forwarding (-W, as -L/-D use) worked: {}",
        text(&out)
    );
    let out = s.operator.run_with(
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "127.0.0.1:2222:127.0.0.1:22",
        ],
        &[],
        None,
        CMD,
    )?;
    ensure!(
        !out.status.success(),
        "remote forwarding (-R) worked: {}",
        text(&out)
    );

    // The robot's key is bound to `unlock`: asking for `status` does not give it.
    let out = s.robot.run(&["status", "--json"], Some(b""), CMD)?;
    ensure!(
        !out.status.success(),
        "the restricted key ran something: {}",
        text(&out)
    );
    ensure!(
        !String::from_utf8_lossy(&out.stdout).contains("\"volumes\""),
        "the restricted key got the status: {}",
        text(&out)
    );

    // status --json: the address, and the locked volume.
    let out = s.operator.run(&["status", "--json"], None, CMD)?;
    ensure!(out.status.success(), "status --json: {}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("status --json is not JSON")?;
    ensure!(
        v["volumes"][0]["name"] == "root",
        "volumes: {}",
        v["volumes"]
    );
    ensure!(
        v["volumes"][0]["state"] == "locked",
        "volumes: {}",
        v["volumes"]
    );
    ensure!(
        v["network"].to_string().contains("10.0.2.15"),
        "network: {}",
        v["network"]
    );

    // A wrong passphrase from stdin fails with a message; the right one unlocks.
    let out = s.operator.run(&["unlock"], Some(b"wrong one\n"), CMD)?;
    ensure!(
        !out.status.success(),
        "a wrong passphrase unlocked: {}",
        text(&out)
    );
    let out = s.operator.run(
        &["unlock", "root"],
        Some(format!("{PASS}\n").as_bytes()),
        CMD,
    )?;
    ensure!(out.status.success(), "unlock from stdin: {}", text(&out));
    let m = boot_to_marker(&s.vm)?;
    ensure!(m["pid"] == 1, "{m}");
    assert_secret_absent(&s.vm, PASS)
}

#[test]
fn interactive_unlock_through_a_pty() -> Result<()> {
    let s = boot("interactive_unlock_through_a_pty", "")?;
    let mut session = s.operator.interactive(&[])?;
    session.expect("Passphrase for root", CMD)?;
    session.send(b"nope\r")?;
    session.expect("Wrong passphrase for root", CMD)?;
    session.send(format!("{PASS}\r").as_bytes())?;
    let (code, out) = session.wait(CMD)?;
    ensure!(code == Some(0), "exit {code:?}:\n{out}");
    ensure!(out.contains("root"), "{out}");
    ensure!(!out.contains(PASS), "the passphrase was echoed:\n{out}");
    boot_to_marker(&s.vm)?;
    assert_secret_absent(&s.vm, PASS)
}

/// On a tap in a network namespace (QEMU's user network forwards connections one by one
/// and would measure itself, not sesame): 100 connections that never speak are opened
/// from inside the namespace, then two operators unlock at once.
#[test]
fn two_operators_and_a_crowd_of_idle_connections() -> Result<()> {
    let fx = Fixture::new("two_operators_and_a_crowd_of_idle_connections")?;
    let ns = NetNs::new()?;
    ns.bridge_with_tap("10.97.0.1/24", "tap0")?;
    let operator = SshClient::new(&fx.dir, "operator", 22)?;
    let keys = fx.authorized_keys(&[(&operator, "")])?;
    let initrd = fx.initramfs(&["--authorized-keys", keys.to_str().unwrap_or_default()])?;
    let (image, luks_uuid, _) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.nic = Some(Nic::Tap {
        ifname: "tap0".into(),
        mac: "52:54:00:97:00:02".into(),
    });
    cfg.netns = Some(ns.name.clone());
    cfg.append = format!(
        "rd.luks.name={luks_uuid}=root root=/dev/mapper/root ip=10.97.0.2::10.97.0.1:255.255.255.0::eth0:off"
    );
    let vm = Vm::start(cfg)?;
    vm.wait_for_console("ssh ready on", BOOT_TIMEOUT)?;
    let operator = operator.in_netns(&ns.name, "10.97.0.2", 22);
    // 100 connections that never speak, held open by one shell inside the namespace.
    let mut crowd = ns
        .command("bash")
        .args([
            "-c",
            "for i in $(seq 100); do exec {fd}<>/dev/tcp/10.97.0.2/22 || exit 1; done; echo open; sleep 120",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut first = [0u8; 4];
    std::io::Read::read_exact(crowd.stdout.as_mut().context("crowd stdout")?, &mut first)?;
    ensure!(&first == b"open", "the crowd did not connect");
    let started = Instant::now();
    let waiting = operator.interactive(&[])?;
    waiting.expect("Passphrase for root", CMD)?;
    eprintln!(
        "the first operator got the prompt {:.2?} after the crowd",
        started.elapsed()
    );
    // Keep the session's stdin open: closing it would end the prompt (Ctrl-D).
    let out = operator.run(&["unlock"], Some(PASS.as_bytes()), CMD)?;
    ensure!(
        out.status.success(),
        "the second operator could not unlock: {}",
        text(&out)
    );
    eprintln!("unlocked {:.2?} after the crowd", started.elapsed());
    // The first operator is told, and its session ends.
    waiting.expect("unlocked", CMD)?;
    let (code, told) = waiting.wait(CMD)?;
    ensure!(code == Some(0), "exit {code:?}:\n{told}");
    let _ = crowd.kill();
    let _ = crowd.wait();
    boot_to_marker(&vm)?;
    Ok(())
}

#[test]
fn a_dropped_client_leaves_the_box_waiting_and_the_console_wins_the_race() -> Result<()> {
    let s = boot(
        "a_dropped_client_leaves_the_box_waiting_and_the_console_wins_the_race",
        "",
    )?;
    let dropped = s.operator.interactive(&[])?;
    dropped.expect("Passphrase for root", CMD)?;
    dropped.kill();
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        !s.vm.console_log().contains("SESAME-MARKER"),
        "booted without a passphrase"
    );

    // An SSH prompt and the console prompt at once: the console answers first.
    let racing = s.operator.interactive(&[])?;
    racing.expect("Passphrase for root", CMD)?;
    s.vm.wait_for_console("Passphrase for root", BOOT_TIMEOUT)?;
    s.vm.send_console(format!("{PASS}\r").as_bytes())?;
    racing.expect("unlocked", CMD)?;
    let (code, told) = racing.wait(CMD)?;
    ensure!(code == Some(0), "exit {code:?}:\n{told}");
    boot_to_marker(&s.vm)?;
    assert_secret_absent(&s.vm, PASS)
}

/// Prints QEMU start → SSH banner next to the same kernel reaching its "VFS: Unable to
/// mount root" panic with no initramfs at all (the floor). Nothing is asserted on time.
#[test]
fn banner_time_beside_the_kernel_floor() -> Result<()> {
    let s = boot("banner_time_beside_the_kernel_floor", "")?;
    let banner = s.banner;
    drop(s.vm);
    let fx = Fixture::new("banner_time_kernel_floor")?;
    let mut cfg = VmConfig::new(fx.kernel.clone(), std::path::Path::new(""), &fx.dir);
    cfg.append = "root=/dev/nonexistent".into();
    let vm = Vm::start(cfg)?;
    vm.wait_for_console("Unable to mount root", BOOT_TIMEOUT)?;
    let floor = vm.elapsed();
    eprintln!(
        "QEMU start -> SSH banner {:.2} s; kernel alone -> VFS panic {:.2} s; difference {:.2} s",
        banner.as_secs_f64(),
        floor.as_secs_f64(),
        banner.as_secs_f64() - floor.as_secs_f64()
    );
    Ok(())
}
