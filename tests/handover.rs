//! End-to-end hand-over to a real Debian 12: the root and /home on LUKS2 as Debian's
//! installer lays them out, unlocked once over SSH with the real OpenSSH client; the real
//! system's systemd must reach `running` with no failed unit and no job left waiting on a
//! device, find sesame's device-mapper devices as its own tools make them, open /home
//! from the kernel keyring without asking, keep sesame's log lines in its journal, and
//! (with systemd-networkd) hold one address on the NIC sesame used.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sesame_qemu::{
    random_uuid, Disk, LuksOptions, NetNs, Nic, RealRootReport, RootFs, SshClient, Vm,
};
use sesame_tests::{assert_secrets_absent, ssh_logs, Fixture, BOOT_TIMEOUT};

const ROOT_PASS: &str = "hand over this passphrase";
const CMD: Duration = Duration::from_secs(90);
/// Kernel → sesame → a real systemd reaching `running`, under TCG on a busy machine.
const REAL_BOOT: Duration = Duration::from_secs(900);

/// What one scenario made: the root tree's disks and the image.
struct Machine {
    root: std::path::PathBuf,
    home: std::path::PathBuf,
    initrd: std::path::PathBuf,
    operator: SshClient,
}

/// The Debian root on LUKS2 (`root` in its crypttab) with /home on a second LUKS2
/// volume (`home`) holding `hello`, both with `ROOT_PASS`; `extra` adds files to the
/// root tree. The image is built for that tree (`--root`), as on the installed system.
fn machine(fx: &Fixture, extra: impl FnOnce(&RootFs) -> Result<()>) -> Result<Machine> {
    let root_luks = random_uuid()?;
    let home_luks = random_uuid()?;
    let tree = RootFs::debian(&fx.kernel)?;
    tree.add_file("etc/hostname", "handover\n", 0o644)?;
    tree.add_file(
        "etc/fstab",
        "/dev/mapper/root / ext4 errors=remount-ro 0 1\n\
         /dev/mapper/home /home ext4 defaults 0 2\n",
        0o644,
    )?;
    tree.add_file(
        "etc/crypttab",
        format!("root UUID={root_luks} none luks,discard\nhome UUID={home_luks} none luks\n"),
        0o644,
    )?;
    extra(&tree)?;

    let home_tree = RootFs::empty()?;
    home_tree.add_file("hello", "the real system opened /home\n", 0o644)?;
    let (home, _, _) = fx.encrypted(
        "home.img",
        &home_tree,
        16,
        &LuksOptions::new(ROOT_PASS).uuid(&home_luks),
    )?;

    let operator = SshClient::new(&fx.dir, "operator", 0)?;
    let keys = fx.authorized_keys(&[(&operator, "")])?;
    let initrd = fx.initramfs(&[
        "--root",
        tree.path().to_str().context("tree path")?,
        "--authorized-keys",
        keys.to_str().context("keys path")?,
    ])?;
    let size_mib = tree.size_bytes()? / (1 << 20) * 5 / 4 + 96;
    let (root, _, _) = fx.encrypted(
        "root.img",
        &tree,
        size_mib,
        &LuksOptions::new(ROOT_PASS).uuid(&root_luks),
    )?;
    Ok(Machine {
        root,
        home,
        initrd,
        operator,
    })
}

/// Boots `m` with `append`, unlocks once over SSH, waits for the real system's report.
/// Returns the VM (powered off), the report, what the operator read over SSH, and the
/// seconds from the passphrase to systemd's `running`.
fn boot_and_unlock(
    fx: &Fixture,
    m: &Machine,
    nic: Nic,
    netns: Option<&str>,
    append: &str,
) -> Result<(Vm, RealRootReport, Vec<sesame_tests::NamedLog>, f64, String)> {
    let mut cfg = fx.vm_config(&m.initrd);
    cfg.disks.push(Disk::new("root", &m.root));
    cfg.disks.push(Disk::new("home", &m.home));
    cfg.nic = Some(nic);
    cfg.netns = netns.map(String::from);
    cfg.memory_mib = 1024;
    cfg.append = append.to_string();
    let vm = Vm::start(cfg)?;
    let ready = vm.wait_for_console("ssh ready on", BOOT_TIMEOUT)?;
    let address = ready_address(&ready)?;
    let operator = match (netns, vm.ssh_port()) {
        (Some(ns), _) => m.operator.in_netns(ns, &address, 22),
        (None, Some(port)) => m.operator.with_port(port),
        (None, None) => m.operator.clone(),
    };
    if netns.is_none() {
        // (From the host only; in a namespace `ssh ready on` is the sign.)
        operator.wait_banner(BOOT_TIMEOUT)?;
    }
    let logs = ssh_logs(&operator)?;
    let sent = Instant::now();
    let out = operator.run(&["unlock"], Some(ROOT_PASS.as_bytes()), CMD)?;
    ensure!(out.status.success(), "unlock over SSH: {out:?}");
    vm.wait_for_console("SESAME-JOURNAL-END", REAL_BOOT)
        .context("the real root never reported")?;
    let to_running = sent.elapsed().as_secs_f64();
    let report = RealRootReport::parse(&vm.console_log())?;
    vm.wait_exit(Duration::from_secs(180))
        .context("the real system did not power off")?;
    Ok((vm, report, logs, to_running, address))
}

/// The address in sesame's `ssh ready on <address>:<port>, …` line.
fn ready_address(line: &str) -> Result<String> {
    line.split("ssh ready on ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .map(str::to_string)
        .with_context(|| format!("no address in {line:?}"))
}

/// What every hand-over must show, whatever the network.
fn check_clean_handover(vm: &Vm, r: &RealRootReport) -> Result<()> {
    ensure!(
        r.state() == "running",
        "systemd reached `{}`, not `running`:\n{}",
        r.state(),
        r.describe()
    );
    ensure!(r.failed().is_empty(), "failed units: {:?}", r.failed());
    ensure!(r.jobs().is_empty(), "jobs still waiting: {:?}", r.jobs());
    let console = vm.console_log();
    ensure!(
        !console.contains("A start job is running"),
        "the real system waited on a job:\n{}",
        console
            .lines()
            .filter(|l| l.contains("start job"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    ensure!(
        !console.contains("Failed to create/update device symlink '/dev/mapper/"),
        "the real udev could not link /dev/mapper (a node left in its place):\n{}",
        console
            .lines()
            .filter(|l| l.contains("device symlink"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (target, source) in [("/", "/dev/mapper/root"), ("/home", "/dev/mapper/home")] {
        let m = r
            .mount(target)
            .with_context(|| format!("{target} is not mounted"))?;
        ensure!(
            m.0 == source,
            "{target} is mounted from {}, not {source}",
            m.0
        );
    }
    let dm = r.dm();
    for name in ["root", "home"] {
        ensure!(
            dm.iter()
                .any(|(n, uuid)| n == name && uuid.starts_with("CRYPT-LUKS2-")),
            "dmsetup info shows no {name} with a CRYPT-LUKS2- UUID: {dm:?}"
        );
        let unit = format!("dev-mapper-{name}.device");
        let state = r.device(&unit);
        ensure!(
            state.as_ref().is_some_and(|(a, _)| a == "active"),
            "{unit} is {state:?}:\n{}",
            r.describe()
        );
    }
    let record = r.udev_record("root").unwrap_or_default();
    ensure!(
        record.contains("DM_UDEV_PRIMARY_SOURCE_FLAG=1") && record.contains("DM_NAME=root"),
        "the real udev's record of root: {record}"
    );
    // /home was opened by the real systemd-cryptsetup and libdevmapper: the flags udev
    // keeps for it are the ones sesame must have left for root.
    let flags = |name: &str| -> Vec<String> {
        let mut f: Vec<String> = r
            .udev_record(name)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("E:DM_UDEV_"))
            .map(str::to_string)
            .collect();
        f.sort();
        f
    };
    ensure!(
        flags("root") == flags("home"),
        "udev's DM_UDEV flags differ between root (sesame) and home (systemd-cryptsetup): \
         {:?} vs {:?}",
        flags("root"),
        flags("home")
    );
    let journal = r.sesame_journal();
    ensure!(
        journal
            .iter()
            .any(|(p, m)| *p == 6 && m.contains("starting")),
        "`journalctl -t sesame` lacks sesame's start at level info: {journal:?}"
    );
    ensure!(
        journal.iter().any(|(p, m)| *p == 4 && m.contains("nosuchknob")),
        "`journalctl -t sesame` lacks the warning about rd.sesame.nosuchknob at level warning: {journal:?}"
    );
    Ok(())
}

#[test]
fn debian_root_on_luks_with_home_from_the_keyring() -> Result<()> {
    let fx = Fixture::new("debian_root_on_luks_with_home_from_the_keyring")?;
    let m = machine(&fx, |_| Ok(()))?;
    let (vm, r, ssh, to_running, _) = boot_and_unlock(
        &fx,
        &m,
        Nic::User { ssh: true },
        None,
        "root=/dev/mapper/root ro rd.sesame.keyring=1 rd.sesame.nosuchknob=1",
    )?;
    check_clean_handover(&vm, &r)?;
    ensure!(
        !vm.console_log().contains("Please enter passphrase"),
        "the real system asked for a passphrase"
    );
    let timeout = r.raw["key_timeouts"]["cryptsetup"].as_str().unwrap_or("");
    ensure!(
        !timeout.is_empty() && timeout != "perm",
        "the keyring's cryptsetup key has no expiry ({timeout:?}): {}",
        r.raw["key_timeouts"]
    );
    let sesame_part = mark(&r.raw, "switch_root")? - mark(&r.raw, "unlock_requested")?;
    eprintln!(
        "passphrase -> running: {to_running:.1} s (sesame until switch_root {sesame_part:.2} s, \
         systemd's own start-up {:.1} s)",
        r.userspace_seconds().unwrap_or(f64::NAN)
    );
    let mut logs = ssh;
    logs.push(("the real system's journal".into(), r.journal.into_bytes()));
    assert_secrets_absent(&vm, &logs, &[ROOT_PASS.as_bytes()])
}

fn mark(report: &serde_json::Value, event: &str) -> Result<f64> {
    report["timeline"]["marks"]
        .as_array()
        .and_then(|marks| marks.iter().find(|e| e["event"] == event))
        .and_then(|e| e["t"].as_f64())
        .with_context(|| format!("the timeline lacks {event}: {}", report["timeline"]))
}

/// The real root's systemd-networkd doing DHCP on every Ethernet NIC, and the report
/// waiting until it is configured (`systemd-networkd-wait-online`). `extra` joins the
/// `[DHCPv4]` section.
fn with_networkd(tree: &RootFs, dhcp_extra: &str) -> Result<()> {
    tree.add_file(
        "etc/systemd/network/50-dhcp.network",
        format!("[Match]\nType=ether\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\n{dhcp_extra}"),
        0o644,
    )?;
    for (link, target) in [
        (
            "etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
            "/lib/systemd/system/systemd-networkd.service",
        ),
        (
            "etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
            "/lib/systemd/system/systemd-networkd.socket",
        ),
        (
            "etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service",
            "/lib/systemd/system/systemd-networkd-wait-online.service",
        ),
    ] {
        tree.add_symlink(link, target)?;
    }
    tree.add_file(
        "etc/systemd/system/sesame-report.service.d/online.conf",
        "[Unit]\nWants=network-online.target\nAfter=network-online.target\n",
        0o644,
    )?;
    Ok(())
}

/// A namespace with dnsmasq handing out 10.99.0.50–60 (no fixed address: a client with
/// another identifier gets another address), and the NIC on its bridge.
fn dhcp_network(fx: &Fixture) -> Result<(NetNs, std::path::PathBuf, Nic)> {
    let mut ns = NetNs::new()?;
    ns.bridge_with_tap("10.99.0.1/24", "tap0")?;
    let log = ns.dnsmasq(
        &[
            "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,1h",
            "--dhcp-option=option:router,10.99.0.1",
        ],
        &fx.dir.join("dnsmasq.log"),
    )?;
    let nic = Nic::Tap {
        ifname: "tap0".into(),
        mac: "52:54:00:99:00:13".into(),
    };
    Ok((ns, log.with_extension("leases"), nic))
}

/// The DHCP client identifier sesame (and networkd with `ClientIdentifier=mac`) sends
/// for [`dhcp_network`]'s NIC.
const SESAME_CLIENT_ID: &str = "01:52:54:00:99:00:13";

/// The leases dnsmasq holds (its lease file: one line per lease).
fn leases(file: &std::path::Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// One hand-over with networkd in the real root (`dhcp_extra` joins its `[DHCPv4]`) on
/// [`dhcp_network`], checked as every hand-over is. Returns the report, the address
/// sesame announced and the leases dnsmasq holds once the real system powered off.
fn networkd_handover(
    test: &str,
    dhcp_extra: &str,
    append: &str,
) -> Result<(RealRootReport, String, Vec<String>)> {
    let fx = Fixture::new(test)?;
    let m = machine(&fx, |tree| with_networkd(tree, dhcp_extra))?;
    let (ns, lease_file, nic) = dhcp_network(&fx)?;
    let (vm, r, _, _, sesame_address) = boot_and_unlock(
        &fx,
        &m,
        nic,
        Some(&ns.name),
        &format!("root=/dev/mapper/root ro rd.sesame.keyring=1 rd.sesame.nosuchknob=1 {append}"),
    )?;
    check_clean_handover(&vm, &r)?;
    let held = leases(&lease_file)?;
    Ok((r, sesame_address, held))
}

/// networkd as Debian configures it by default (its DUID as the client identifier,
/// unlike sesame's 01+MAC): sesame releases its lease and takes its address away before
/// switch_root, so the real system holds one address and the server one lease.
#[test]
fn debian_root_with_networkd_holds_one_address() -> Result<()> {
    let (r, sesame_address, held) =
        networkd_handover("debian_root_with_networkd_holds_one_address", "", "")?;
    let addresses = r.ipv4_addresses();
    ensure!(
        addresses.len() == 1 && addresses[0].1.starts_with("10.99.0."),
        "the real system holds {addresses:?} (sesame had {sesame_address}):\n{}",
        r.describe()
    );
    // A lease line ends with the client identifier: sesame's is 01 + the MAC,
    // networkd's its IAID + DUID.
    ensure!(
        held.len() == 1 && !held[0].ends_with(SESAME_CLIENT_ID),
        "dnsmasq holds {held:?}: sesame's lease of {sesame_address} was not released"
    );
    ensure!(
        r.raw["timeline"]["marks"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "/run/sesame/timeline.json did not reach the real system: {}",
        r.raw["timeline"]
    );
    eprintln!("sesame had {sesame_address}; networkd holds {addresses:?}");
    Ok(())
}

/// `rd.sesame.net.keep=1` with networkd identifying itself by MAC, as sesame does
/// (`ClientIdentifier=mac`), and the kernel's interface name kept (`net.ifnames=0`: the
/// real udev cannot rename an interface that is up, and networkd then never manages
/// it), both the manual's advice: the real system renews sesame's lease and keeps its
/// address (the SSH session's address), with one address and one default route.
#[test]
fn debian_root_with_networkd_takes_over_a_kept_network() -> Result<()> {
    let (r, sesame_address, held) = networkd_handover(
        "debian_root_with_networkd_takes_over_a_kept_network",
        "ClientIdentifier=mac\n",
        "rd.sesame.net.keep=1 net.ifnames=0",
    )?;
    let addresses = r.ipv4_addresses();
    ensure!(
        addresses.len() == 1 && addresses[0].1 == format!("{sesame_address}/24"),
        "the real system holds {addresses:?}, not sesame's {sesame_address} alone:\n{}",
        r.describe()
    );
    let routes = r.default_routes();
    ensure!(
        routes.len() == 1 && routes[0].0 == "10.99.0.1",
        "default routes: {routes:?}"
    );
    ensure!(
        held.len() == 1 && held[0].ends_with(SESAME_CLIENT_ID),
        "dnsmasq holds {held:?}"
    );
    Ok(())
}
