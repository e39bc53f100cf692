//! The real network code in network namespaces this test makes: dnsmasq on one end of
//! a veth pair, sesame-net's `start` on the other (in a thread that `setns()`s into its
//! own namespace). Needs root, `ip` (iproute2) and `dnsmasq` (dnsmasq-base), found by
//! the harness (sesame_qemu's tool list); fails, never skips, without them. Only
//! addresses inside the namespaces are used; the namespaces are deleted on exit, failed
//! or not.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use sesame_net::ip::{parse_ifname, parse_ip};
use sesame_net::{start, NetConfig, NetEvent};
use tokio::sync::mpsc::UnboundedReceiver;

/// Prints the crate's log lines (they are what the console shows at boot).
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Debug && m.target().starts_with("sesame_net")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("{:5} {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

/// The logger, root and the host tools (through the harness's one list of programs and
/// packages): a missing one fails with the `apt-get install` line.
fn check_host() {
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
    assert!(
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() } == 0,
        "this test creates network namespaces and must run as root (sudo -E cargo test -p sesame-net)"
    );
    sesame_qemu::require_tools(&["ip", "dnsmasq"]).unwrap_or_else(|e| panic!("{e:#}"));
}

/// A `Command` for a host tool, found by the harness ([`sesame_qemu::command`]).
fn tool(name: &str) -> Command {
    sesame_qemu::command(name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `ip args…`; its stdout, or a panic with its stderr.
fn run_ip(args: &[&str]) -> String {
    let out = tool("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Network namespaces and a dnsmasq, removed when dropped (also on panic).
struct Lab {
    namespaces: Vec<String>,
    dnsmasq: Option<Child>,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(tag: &str, namespaces: &[&str]) -> Lab {
        check_host();
        let pid = std::process::id();
        let mut lab = Lab {
            namespaces: Vec::new(),
            dnsmasq: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        for n in namespaces {
            let name = format!("sesame-{tag}-{n}-{pid}");
            let _ = tool("ip")
                .args(["netns", "del", &name])
                .stderr(Stdio::null())
                .status();
            run_ip(&["netns", "add", &name]);
            lab.namespaces.push(name);
        }
        lab
    }

    fn ns(&self, i: usize) -> &str {
        &self.namespaces[i]
    }

    fn ip(&self, ns: usize, args: &[&str]) -> String {
        let mut v = vec!["-n", self.ns(ns)];
        v.extend_from_slice(args);
        run_ip(&v)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn dnsmasq(&mut self, ns: usize, extra: &[&str]) {
        let log = self.path("dnsmasq.log");
        let mut cmd = tool("ip");
        cmd.args([
            "netns",
            "exec",
            self.ns(ns),
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--user=root",
            "--bind-interfaces",
            "--log-dhcp",
        ])
        .arg(format!("--log-facility={}", log.display()))
        .arg(format!(
            "--dhcp-leasefile={}",
            self.path("leases").display()
        ))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        self.dnsmasq = Some(cmd.spawn().expect("starting dnsmasq"));
        wait_until(Duration::from_secs(5), "dnsmasq to start", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("DHCP, IP range"))
        });
    }

    fn dnsmasq_log(&self) -> String {
        std::fs::read_to_string(self.path("dnsmasq.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("dnsmasq log:\n{}", self.dnsmasq_log());
        }
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.namespaces {
            // Not `tool`: a panic while dropping during a panic would abort.
            if let Ok(mut ip) = sesame_qemu::command("ip") {
                let _ = ip.args(["netns", "del", n]).status();
            }
        }
    }
}

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `body` in a new thread that has entered namespace `ns`, on a current-thread
/// runtime (as PID 1 does).
fn in_netns<T: Send + 'static>(
    ns: &str,
    body: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        setns(&f, CloneFlags::CLONE_NEWNET).expect("setns into the client namespace");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(body())
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn config(words: &[&str], resolv: &Path) -> NetConfig {
    NetConfig {
        ip: words
            .iter()
            .map(|w| parse_ip(w).expect("a valid ip= word"))
            .collect(),
        nameservers: vec![],
        peerdns: true,
        ifnames: vec![],
        default_dhcp: false,
        hostname: Some("sesame-test".into()),
        resolv_conf: resolv.to_path_buf(),
    }
}

async fn next_event(
    events: &mut UnboundedReceiver<NetEvent>,
    timeout: Duration,
    what: &str,
    mut want: impl FnMut(&NetEvent) -> bool,
) -> NetEvent {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let ev = tokio::time::timeout_at(end, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("the event channel closed");
        eprintln!("event: {ev:?}");
        if let NetEvent::Error { .. } = ev {
            panic!("unexpected error event: {ev:?}");
        }
        if want(&ev) {
            return ev;
        }
    }
}

/// A NIC that appears after `start` (hot-plug) gets a DHCP lease from dnsmasq with
/// classless routes, DNS and a search list; resolv.conf is written; the lease is
/// renewed at T1; the teardown releases it and removes what was added.
#[test]
fn dhcp_from_dnsmasq_on_a_late_nic_bind_renew_teardown() {
    let mut lab = Lab::new("dhcp", &["srv", "cli"]);
    let pid = std::process::id() % 100_000;
    let (sv, cv) = (format!("sv{pid}"), format!("cv{pid}"));
    let resolv = lab.path("etc/resolv.conf");
    let leases = lab.path("leases");
    let cfg = config(&[&format!("{cv}:dhcp")], &resolv);
    let cli = lab.ns(1).to_string();

    // The client runs in its namespace's thread and asks this thread, which owns the
    // lab, for each step of the setup.
    let (step_tx, step_rx) = std::sync::mpsc::channel::<Step>();
    let client = {
        let (cv, cli) = (cv.clone(), cli.clone());
        std::thread::spawn(move || {
            in_netns(&cli.clone(), move || {
                Box::pin(dhcp_client(cfg, cv, cli, resolv, leases, step_tx))
            })
        })
    };
    while let Ok(step) = step_rx.recv() {
        match step {
            Step::MakeLink => {
                lab.ip(
                    0,
                    &[
                        "link", "add", &sv, "type", "veth", "peer", "name", &cv, "netns", &cli,
                    ],
                );
                lab.ip(0, &["addr", "add", "10.99.0.1/24", "dev", &sv]);
            }
            Step::StartServer => {
                lab.dnsmasq(
                    0,
                    &[
                        &format!("--interface={sv}"),
                        "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,2m",
                        // dnsmasq pings a fresh address for 3 s before offering it; the
                        // measured time should be the client's.
                        "--no-ping",
                        // Classless routes: the subnet on-link, a lab route, the default.
                        "--dhcp-option=121,10.99.0.0/24,0.0.0.0,192.168.77.0/24,10.99.0.254,0.0.0.0/0,10.99.0.1",
                        "--dhcp-option=option:dns-server,10.99.0.53",
                        "--dhcp-option=option:domain-search,lab.example,corp.example",
                        "--dhcp-option=option:domain-name,example.net",
                        // A short T1 so the renewal happens within the test.
                        "--dhcp-option=option:T1,4",
                        "--dhcp-option=option:T2,100",
                    ],
                );
                // The carrier comes when the server end goes up.
                lab.ip(0, &["link", "set", &sv, "up"]);
            }
        }
    }
    let report = client
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    eprintln!("teardown: {report:?}");
    assert_eq!(report.addresses_removed, 1);
    assert_eq!(report.routes_removed, 3);
    assert_eq!(report.links_down, vec![cv.clone()]);
    let addrs = lab.ip(1, &["-4", "addr", "show", "dev", &cv]);
    assert!(!addrs.contains("inet "), "{addrs}");
    let link = lab.ip(1, &["link", "show", "dev", &cv]);
    assert!(!link.contains(",UP") && !link.contains("<UP"), "{link}");
    let routes = lab.ip(1, &["-4", "route", "show"]);
    assert!(routes.trim().is_empty(), "{routes}");
    wait_until(
        Duration::from_secs(3),
        "dnsmasq to log the DHCPRELEASE",
        || lab.dnsmasq_log().contains("DHCPRELEASE"),
    );
}

enum Step {
    MakeLink,
    StartServer,
}

async fn dhcp_client(
    cfg: NetConfig,
    cv: String,
    cli: String,
    resolv: PathBuf,
    leases: PathBuf,
    steps: std::sync::mpsc::Sender<Step>,
) -> sesame_net::TeardownReport {
    let t0 = Instant::now();
    let (handle, mut events) = start(cfg).await.expect("start");
    assert!(
        t0.elapsed() < Duration::from_millis(200),
        "start must return at once"
    );
    // The NIC does not exist yet.
    steps.send(Step::MakeLink).unwrap();
    let ev = next_event(&mut events, Duration::from_secs(10), "LinkUp", |e| {
        matches!(e, NetEvent::LinkUp { .. })
    })
    .await;
    assert_eq!(ev, NetEvent::LinkUp { iface: cv.clone() });
    steps.send(Step::StartServer).unwrap();
    drop(steps);
    let ev = next_event(&mut events, Duration::from_secs(10), "Carrier", |e| {
        matches!(e, NetEvent::Carrier { .. })
    })
    .await;
    assert_eq!(ev, NetEvent::Carrier { iface: cv.clone() });
    let ev = next_event(&mut events, Duration::from_secs(15), "Bound", |e| {
        matches!(e, NetEvent::Bound { .. })
    })
    .await;
    let NetEvent::Bound {
        iface,
        address,
        prefix,
        router,
        dns,
        lease_secs,
        since_carrier,
    } = ev
    else {
        unreachable!()
    };
    eprintln!(
        "MEASURED: carrier to bound against dnsmasq: {:.1} ms",
        since_carrier.as_secs_f64() * 1000.0
    );
    assert_eq!(iface, cv);
    let a = u32::from(address);
    assert!(
        (u32::from(Ipv4Addr::new(10, 99, 0, 50))..=u32::from(Ipv4Addr::new(10, 99, 0, 60)))
            .contains(&a),
        "{address}"
    );
    assert_eq!(prefix, 24);
    assert_eq!(router, Some(Ipv4Addr::new(10, 99, 0, 1)));
    assert_eq!(
        dns,
        vec![std::net::IpAddr::V4(Ipv4Addr::new(10, 99, 0, 53))]
    );
    assert_eq!(lease_secs, 120);
    assert!(
        since_carrier < Duration::from_secs(1),
        "bound {since_carrier:?} after carrier"
    );

    // What the client's namespace now holds.
    let ip = |args: &[&str]| {
        let mut v = vec!["-n", cli.as_str()];
        v.extend_from_slice(args);
        run_ip(&v)
    };
    let addrs = ip(&["-4", "addr", "show", "dev", &cv]);
    assert!(addrs.contains(&format!("inet {address}/24")), "{addrs}");
    let routes = ip(&["-4", "route", "show"]);
    eprintln!("routes:\n{routes}");
    assert!(
        routes.contains("default via 10.99.0.1") && routes.contains("proto dhcp"),
        "{routes}"
    );
    assert!(
        routes.contains("192.168.77.0/24 via 10.99.0.254"),
        "{routes}"
    );
    let mut status = handle.status();
    let st = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| {
            s.interfaces
                .iter()
                .any(|i| i.name == cv && i.lease.is_some())
        }),
    )
    .await
    .expect("status shows the lease")
    .expect("status")
    .clone();
    let iface = st
        .interfaces
        .iter()
        .find(|i| i.name == cv)
        .expect("status lists the NIC");
    assert_eq!(iface.configured_by, "dhcp");
    assert!(iface.carrier);
    let lease = iface.lease.clone().expect("status has the lease");
    assert_eq!(
        lease.search,
        vec!["lab.example".to_string(), "corp.example".to_string()]
    );
    assert_eq!(lease.domain.as_deref(), Some("example.net"));
    assert!(
        (lease.renew_at - lease.obtained_at - 4.0).abs() < 0.01,
        "{lease:?}"
    );
    // IPv6 is left to the kernel, and reported.
    let st6 = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| {
            s.interfaces
                .iter()
                .any(|i| i.name == cv && i.ipv6.iter().any(|a| a.starts_with("fe80::")))
        }),
    )
    .await
    .expect("status shows the IPv6 link-local address")
    .expect("status")
    .clone();
    eprintln!("status: {}", serde_json::to_string(&st6).unwrap());
    let json = serde_json::to_string(&st).unwrap();
    assert!(json.contains("\"configured_by\":\"dhcp\""), "{json}");
    // resolv.conf is written by its own task: give it a moment.
    let end = Instant::now() + Duration::from_secs(3);
    let conf = loop {
        let c = std::fs::read_to_string(&resolv).unwrap_or_default();
        if c.contains("nameserver") || Instant::now() > end {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(conf.contains("nameserver 10.99.0.53\n"), "{conf}");
    assert!(conf.contains("search lab.example corp.example\n"), "{conf}");
    let l = std::fs::read_to_string(&leases).unwrap_or_default();
    assert!(
        l.contains("sesame-test"),
        "the host name reached the server: {l}"
    );

    // Renewal at T1 (4 s after the REQUEST).
    let ev = next_event(&mut events, Duration::from_secs(15), "Renewed", |e| {
        matches!(e, NetEvent::Renewed { .. })
    })
    .await;
    eprintln!(
        "MEASURED: renewed {:.2} s after start (T1 = 4 s)",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        ev,
        NetEvent::Renewed {
            iface: cv.clone(),
            lease_secs: 120
        }
    );
    handle.shutdown(false).await.expect("teardown")
}

/// A NIC present at start, renamed by `ifname=`, configured by a static `ip=` with a
/// name server; kept (`rd.sesame.net.keep`) at teardown.
#[test]
fn static_ip_with_ifname_rename_kept_at_teardown() {
    let lab = Lab::new("static", &["peer", "cli"]);
    let pid = std::process::id() % 100_000;
    let (pv, tmp, want) = (format!("pv{pid}"), format!("tmp{pid}"), format!("lan{pid}"));
    let mac = "02:5e:5a:00:00:07";
    lab.ip(
        0,
        &[
            "link",
            "add",
            &pv,
            "type",
            "veth",
            "peer",
            "name",
            &tmp,
            "netns",
            lab.ns(1),
        ],
    );
    lab.ip(1, &["link", "set", &tmp, "address", mac]);
    lab.ip(0, &["link", "set", &pv, "up"]);
    let resolv = lab.path("resolv.conf");
    let mut cfg = config(
        &[&format!(
            "10.99.1.2::10.99.1.1:255.255.255.0::{want}:none:10.99.1.53"
        )],
        &resolv,
    );
    cfg.ifnames = vec![parse_ifname(&format!("{want}:{mac}")).unwrap()];
    cfg.nameservers = vec!["9.9.9.9".parse().unwrap()];
    let want2 = want.clone();
    let cli = lab.ns(1).to_string();
    let report = in_netns(&cli, move || {
        Box::pin(async move {
            let (handle, mut events) = start(cfg).await.expect("start");
            let ev = next_event(&mut events, Duration::from_secs(10), "StaticApplied", |e| {
                matches!(e, NetEvent::StaticApplied { .. })
            })
            .await;
            assert_eq!(
                ev,
                NetEvent::StaticApplied {
                    iface: want2.clone(),
                    address: Ipv4Addr::new(10, 99, 1, 2),
                    prefix: 24
                }
            );
            next_event(&mut events, Duration::from_secs(10), "Carrier", |e| {
                matches!(e, NetEvent::Carrier { .. })
            })
            .await;
            let mut status = handle.status();
            tokio::time::timeout(
                Duration::from_secs(5),
                status.wait_for(|s| {
                    s.interfaces.iter().any(|i| {
                        i.name == want2
                            && i.ipv4.contains(&"10.99.1.2/24".to_string())
                            && i.configured_by == "static"
                    })
                }),
            )
            .await
            .expect("status shows the static address")
            .expect("status");
            handle.shutdown(true).await.expect("teardown")
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>
    });
    assert_eq!(
        report,
        sesame_net::TeardownReport::default(),
        "keep: nothing removed"
    );
    let addrs = lab.ip(1, &["-4", "addr", "show", "dev", &want]);
    assert!(addrs.contains("inet 10.99.1.2/24"), "kept: {addrs}");
    let routes = lab.ip(1, &["-4", "route", "show"]);
    // proto boot (3) is what `ip route` leaves unsaid.
    assert!(
        routes.contains("default via 10.99.1.1") && routes.contains("metric 514"),
        "{routes}"
    );
    let conf = std::fs::read_to_string(&resolv).expect("resolv.conf");
    assert_eq!(
        conf.lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect::<Vec<_>>(),
        vec!["nameserver 9.9.9.9", "nameserver 10.99.1.53"]
    );
    // A datagram from the client's namespace reaches the peer from the static address:
    // the configuration works.
    lab.ip(0, &["addr", "add", "10.99.1.1/24", "dev", &pv]);
    let peer = lab.ns(0).to_string();
    let receiver = std::thread::spawn(move || {
        let f = File::open(format!("/run/netns/{peer}")).unwrap();
        setns(&f, CloneFlags::CLONE_NEWNET).unwrap();
        let s = std::net::UdpSocket::bind("10.99.1.1:9999").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 16];
        s.recv_from(&mut b).expect("a datagram from the client").1
    });
    std::thread::sleep(Duration::from_millis(100));
    let cli = lab.ns(1).to_string();
    std::thread::spawn(move || {
        let f = File::open(format!("/run/netns/{cli}")).unwrap();
        setns(&f, CloneFlags::CLONE_NEWNET).unwrap();
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        s.send_to(b"hello", "10.99.1.1:9999").unwrap();
    })
    .join()
    .unwrap();
    let from = receiver.join().unwrap();
    assert_eq!(from.ip(), std::net::IpAddr::V4(Ipv4Addr::new(10, 99, 1, 2)));
}
