//! Hardening against the real OpenSSH client and raw sockets: an operator gets in while
//! 100 connections sit silent; handshake and login deadlines; per-source back-off; the
//! session cap; the idle timeout; only modern algorithms on the wire (`ssh-keyscan`,
//! `ssh -vv`); IPv6 on the same socket.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use sesame_remote::hostkey::HostKey;
use sesame_remote::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_gets_in_while_100_connections_sit_silent() {
    let s = Server::start(Setup::default()).await;
    let mut silent = Vec::new();
    let connects = (0..100).map(|_| TcpStream::connect(s.addr));
    for c in futures::future::join_all(connects).await {
        silent.push(c.expect("connect"));
    }
    let started = Instant::now();
    let out = s.run(None, &["unlock", "root"], ROOT_PASS.as_bytes()).await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Opened root."));
    assert!(
        took < Duration::from_secs(5),
        "the operator waited {took:?}"
    );
    // Those beyond the cap of unauthenticated connections were closed early.
    let mut closed = 0;
    for c in &mut silent {
        let mut buf = [0u8; 256];
        // Each got the server's version line; the closed ones then read EOF.
        loop {
            match tokio::time::timeout(Duration::from_millis(50), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    let cap = Limits::default().max_unauthenticated;
    assert!(
        closed >= 100 - cap,
        "only {closed} of 100 silent connections were closed"
    );
    wait_log(
        &["connections not logged in: closed"],
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_stalled_handshakes_are_closed() {
    let s = Server::start(Setup {
        limits: Limits {
            handshake_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    for says_hello in [false, true] {
        let started = Instant::now();
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        if says_hello {
            c.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.unwrap();
        }
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
                Err(_) => panic!("still open after 5 s (hello: {says_hello})"),
            }
        }
        assert!(seen.starts_with(b"SSH-2.0-sesame\r\n"), "{:?}", text(&seen));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_takes_too_long_is_closed() {
    let s = Server::start_with(
        Setup {
            limits: Limits {
                auth_timeout: Duration::from_secs(2),
                ..Default::default()
            },
            ..Default::default()
        },
        |dir| {
            // A key protected by a passphrase whose askpass never answers: the client
            // finishes the key exchange, offers the key, then waits.
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "locked", "-C", "slow", "-f"])
                .arg(dir.join("slow"))
                .output()
                .unwrap();
            assert!(out.status.success());
            std::fs::write(dir.join("askpass.sh"), "#!/bin/sh\nsleep 4\n").unwrap();
            std::fs::set_permissions(
                dir.join("askpass.sh"),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            vec![std::fs::read_to_string(dir.join("slow.pub")).unwrap()]
        },
    )
    .await;
    let slow = ClientKey {
        path: s.dir.path().join("slow"),
        public: String::new(),
    };
    let mut c = s.ssh_with(Some(&slow), &["-o", "BatchMode=no"]);
    c.args(["root@127.0.0.1", "status"])
        .env("SSH_ASKPASS", s.dir.path().join("askpass.sh"))
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0");
    let client = tokio::spawn(run_with_stdin(c, vec![]));
    // The server gives up after 2 s, while the client still waits for its passphrase.
    wait_log(&["not logged in within 2s; closed"], Duration::from_secs(4)).await;
    let out = client.await.unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_make_the_source_back_off() {
    let s = Server::start(Setup {
        limits: Limits {
            auth_failures_before_backoff: 2,
            backoff: Duration::from_secs(30),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let stranger = keygen(s.dir.path(), "stranger", "ed25519");
    for _ in 0..2 {
        let out = s.run(Some(&stranger), &["status"], b"").await;
        assert_eq!(out.status.code(), Some(255));
    }
    wait_log(
        &["127.0.0.1: 2 failed logins; its connections are refused for"],
        Duration::from_secs(5),
    )
    .await;
    // Even the right key is refused now, before any SSH is spoken.
    let out = s.run(None, &["status"], b"").await;
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(
        err.contains("Connection closed")
            || err.contains("kex_exchange_identification")
            || err.contains("reset"),
        "{err}"
    );
    wait_log(
        &["refused, 127.0.0.1 is backing off"],
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_capped() {
    let s = Server::start(Setup {
        limits: Limits {
            max_sessions: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let first = Interactive::spawn(&s, None, &["log", "-f"]);
    first.expect("modules loaded").await;
    let out = s.run(None, &["status"], b"").await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("too many sessions open (1)"),
        "{}",
        text(&out.stderr)
    );
    drop(first);
    // Once the first session is gone, a new one gets in.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = s.run(None, &["status"], b"").await;
        if out.status.code() == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "no session after the first left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed_with_a_message() {
    let s = Server::start(Setup {
        limits: Limits {
            idle_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let c = Interactive::spawn(&s, None, &[]);
    c.expect("Passphrase for root").await;
    let started = Instant::now();
    let (code, out) = c.wait().await;
    assert!(
        out.contains("no activity for 2 s; this session closes."),
        "{out}"
    );
    assert_eq!(code, Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.boot.unlocks(), 0);
}

fn keyscan(s: &Server) -> Vec<String> {
    let out = Command::new("ssh-keyscan")
        .args([
            "-T",
            "10",
            "-t",
            "ed25519,rsa,ecdsa",
            "-p",
            &s.addr.port().to_string(),
            "127.0.0.1",
        ])
        .output()
        .expect("ssh-keyscan");
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
        .collect()
}

/// `ssh -vv`'s view of the server's KEXINIT and of what was negotiated.
async fn negotiated(s: &Server) -> String {
    let mut c = s.ssh(None);
    c.args(["-vv", "root@127.0.0.1", "status"]);
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stderr)
}

fn line<'a>(log: &'a str, prefix: &str) -> &'a str {
    let start = log
        .find("peer server KEXINIT proposal")
        .expect("the server's proposal");
    log[start..]
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{log}"))
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_modern_algorithms_with_an_ed25519_host_key() {
    let s = Server::start(Setup::default()).await;
    assert_eq!(keyscan(&s), vec!["ssh-ed25519".to_string()]);
    let log = negotiated(&s).await;
    assert_eq!(
        line(&log, "debug2: KEX algorithms: "),
        "mlkem768x25519-sha256,curve25519-sha256,curve25519-sha256@libssh.org,ext-info-s,kex-strict-s-v00@openssh.com"
    );
    assert_eq!(line(&log, "debug2: host key algorithms: "), "ssh-ed25519");
    let ciphers = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com";
    assert_eq!(line(&log, "debug2: ciphers ctos: "), ciphers);
    assert_eq!(line(&log, "debug2: ciphers stoc: "), ciphers);
    let macs = "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com";
    assert_eq!(line(&log, "debug2: MACs ctos: "), macs);
    assert_eq!(line(&log, "debug2: MACs stoc: "), macs);
    assert_eq!(line(&log, "debug2: compression ctos: "), "none");
    assert!(
        log.contains("debug1: kex: algorithm: curve25519-sha256")
            || log.contains("debug1: kex: algorithm: mlkem768x25519-sha256"),
        "{log}"
    );
    let sig_algs = log
        .lines()
        .find_map(|l| {
            l.split_once("server-sig-algs=<")
                .map(|(_, r)| r.trim_end_matches('>'))
        })
        .expect("server-sig-algs");
    assert!(
        !sig_algs
            .split(',')
            .any(|a| a == "ssh-rsa" || a == "ssh-dss"),
        "{sig_algs}"
    );
    assert!(
        sig_algs.contains("ssh-ed25519") && sig_algs.contains("rsa-sha2-512"),
        "{sig_algs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_host_key_signs_with_sha2_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "3072", "-N", "", "-f"])
        .arg(dir.path().join("host_rsa"))
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    let host_key = HostKey::read(&dir.path().join("host_rsa")).unwrap();
    let s = Server::start(Setup {
        host_key: Some(host_key),
        ..Default::default()
    })
    .await;
    assert_eq!(keyscan(&s), vec!["ssh-rsa".to_string()]);
    let log = negotiated(&s).await;
    assert_eq!(
        line(&log, "debug2: host key algorithms: "),
        "rsa-sha2-512,rsa-sha2-256"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_use_the_same_socket() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        // This host has no IPv6 loopback: the dual-stack socket is covered by the IPv4 tests.
        eprintln!("no ::1 here");
        return;
    }
    let s = Server::start(Setup::default()).await;
    std::fs::write(
        &s.known_hosts,
        format!("[::1]:{} {}\n", s.addr.port(), s.host_key.public_openssh()),
    )
    .unwrap();
    let mut c = s.ssh(None);
    c.args(["root@::1", "status", "--json"]);
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    wait_log(&["[::1]:", "logged in"], Duration::from_secs(5)).await;
}
