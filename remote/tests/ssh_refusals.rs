//! What the server refuses, seen from the real OpenSSH client: unknown keys, passwords
//! (no prompt at all), every kind of forwarding (-L, -R, -D, -W), agent, X11, sftp; and the
//! authorized_keys options: command=, from=, restrict/no-pty, cert-authority.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn fingerprint(key: &ClientKey) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.path.with_extension("pub"))
        .output()
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on the port.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_refused_and_logged() {
    let s = Server::start(Setup::default()).await;
    let stranger = keygen(s.dir.path(), "stranger", "ed25519");
    let out = s.run(Some(&stranger), &["status"], b"").await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Permission denied (publickey)"),
        "{}",
        text(&out.stderr)
    );
    wait_log(
        &[
            &fingerprint(&stranger),
            "refused: not in authorized_keys",
            "127.0.0.1",
        ],
        Duration::from_secs(5),
    )
    .await;
    wait_log(&["left without logging in"], Duration::from_secs(5)).await;
    // The operator's own key is logged when accepted.
    let out = s.run(None, &["status"], b"").await;
    assert_eq!(out.status.code(), Some(0));
    wait_log(&[&fingerprint(&s.key), "logged in"], Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_prompt_ever() {
    let s = Server::start(Setup::default()).await;
    // An askpass that leaves a mark if ssh ever asks for a password.
    let mark = s.dir.path().join("asked");
    let askpass = s.dir.path().join("askpass.sh");
    std::fs::write(
        &askpass,
        format!("#!/bin/sh\ntouch {}\necho hunter2\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for method in ["password", "keyboard-interactive"] {
        let prefer = format!("PreferredAuthentications={method}");
        let mut c = s.ssh_with(
            None,
            &[
                "-o",
                "BatchMode=no",
                "-o",
                &prefer,
                "-o",
                "NumberOfPasswordPrompts=1",
            ],
        );
        c.env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .args(["root@127.0.0.1", "status"]);
        let out = run_with_stdin(c, vec![]).await;
        assert_eq!(out.status.code(), Some(255), "{method}");
        let err = text(&out.stderr);
        assert!(
            err.contains("Permission denied (publickey)"),
            "{method}: {err}"
        );
        assert!(!err.to_lowercase().contains("password:"), "{method}: {err}");
        assert!(!mark.exists(), "{method}: ssh asked for a password");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_forwarding_is_refused() {
    let s = Server::start(Setup::default()).await;
    let mut c = s.ssh(None);
    c.args(["-N", "-o", "ExitOnForwardFailure=yes", "-R"])
        .arg(format!("{}:127.0.0.1:9", free_port()))
        .arg("root@127.0.0.1");
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("remote port forwarding failed"),
        "{}",
        text(&out.stderr)
    );
    wait_log(
        &["remote port forwarding", "refused"],
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_forwarding_is_refused() {
    let s = Server::start(Setup::default()).await;
    let mut c = s.ssh(None);
    c.arg("-W")
        .arg(format!("127.0.0.1:{}", s.addr.port()))
        .arg("root@127.0.0.1");
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("administratively prohibited"),
        "{}",
        text(&out.stderr)
    );
}

/// Runs `ssh -N <flag> <spec>`, connects through the local port with `probe`, and returns
/// ssh's stderr.
async fn through_local_forward(
    s: &Server,
    flag: &str,
    spec: String,
    local: u16,
    probe: fn(TcpStream),
) -> String {
    let mut c = s.ssh(None);
    c.args(["-N", "-o", "ExitOnForwardFailure=yes", flag])
        .arg(spec)
        .arg("root@127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().unwrap();
        wait_listening(local);
        let conn = TcpStream::connect(("127.0.0.1", local)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        probe(conn);
        std::thread::sleep(Duration::from_millis(300));
        let _ = child.kill();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let _ = child.wait();
        err
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_forwarding_is_refused() {
    let s = Server::start(Setup::default()).await;
    let local = free_port();
    let err = through_local_forward(
        &s,
        "-L",
        format!("{local}:127.0.0.1:{}", s.addr.port()),
        local,
        |mut conn| {
            // The server refuses the channel: ssh closes the local connection at once.
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap_or(0);
            assert_eq!(n, 0, "data came through a refused forward: {:?}", &buf[..n]);
        },
    )
    .await;
    assert!(err.contains("administratively prohibited"), "{err}");
    wait_log(
        &["port forwarding to 127.0.0.1", "refused"],
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_forwarding_is_refused() {
    let s = Server::start(Setup::default()).await;
    let local = free_port();
    let err = through_local_forward(&s, "-D", local.to_string(), local, |mut conn| {
        // SOCKS5: no authentication, then CONNECT 127.0.0.1:<the server's port>.
        conn.write_all(&[5, 1, 0]).unwrap();
        let mut hello = [0u8; 2];
        conn.read_exact(&mut hello).unwrap();
        assert_eq!(hello, [5, 0]);
        let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
        req.extend_from_slice(&22u16.to_be_bytes());
        conn.write_all(&req).unwrap();
        let mut reply = [0u8; 10];
        let n = conn.read(&mut reply).unwrap_or(0);
        // Either a SOCKS failure reply or a closed connection: never success (0).
        assert!(
            n < 2 || reply[1] != 0,
            "SOCKS connect succeeded: {:?}",
            &reply[..n]
        );
    })
    .await;
    assert!(err.contains("administratively prohibited"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_x11_agent_and_env_are_refused() {
    let s = Server::start(Setup::default()).await;
    // sftp: the subsystem request fails.
    let mut c = s.ssh(None);
    c.args(["-s", "root@127.0.0.1", "sftp"]);
    let out = run_with_stdin(c, vec![]).await;
    assert_ne!(out.status.code(), Some(0));
    wait_log(&["subsystem `sftp` refused"], Duration::from_secs(5)).await;
    // X11: the request fails, the command still runs.
    let mut c = s.ssh(None);
    c.args([
        "-X",
        "-o",
        "ForwardX11Trusted=yes",
        "-o",
        "SetEnv=SESAME_TEST=1",
        "root@127.0.0.1",
        "status",
    ])
    .env("DISPLAY", "127.0.0.1:99");
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("X11 forwarding request failed"),
        "{}",
        text(&out.stderr)
    );
    wait_log(&["X11 forwarding refused"], Duration::from_secs(5)).await;
    wait_log(&["env SESAME_TEST refused"], Duration::from_secs(5)).await;
    // Agent forwarding, with a real agent.
    let sock = s.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = s.ssh(None);
    c.args(["-A", "root@127.0.0.1", "status"])
        .env("SSH_AUTH_SOCK", &sock);
    let out = run_with_stdin(c, vec![]).await;
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    wait_log(&["agent forwarding refused"], Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_unlock_key_cannot_run_status() {
    let s = Server::start_with(Setup::default(), |dir| {
        let k = keygen(dir, "unlocker", "ed25519");
        vec![format!("command=\"unlock\",restrict {}", k.public)]
    })
    .await;
    let unlocker = ClientKey {
        path: s.dir.path().join("unlocker"),
        public: String::new(),
    };
    let out = s.run(Some(&unlocker), &["status"], b"").await;
    assert_eq!(out.status.code(), Some(7));
    assert!(
        text(&out.stderr).contains("this key may only run `unlock`"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("/dev/vda2"),
        "status must not run"
    );
    // The forced command runs for a shell request (no pty: restrict) and for `unlock`.
    let out = s.run(Some(&unlocker), &[], ROOT_PASS.as_bytes()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Opened root."));
    let out = s
        .run(Some(&unlocker), &["cryptroot-unlock"], DATA_PASS.as_bytes())
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // `restrict`: no pty, even when asked.
    let mut c = s.ssh(Some(&unlocker));
    c.args(["-tt", "root@127.0.0.1", "unlock"]);
    let out = run_with_stdin(c, b"whatever".to_vec()).await;
    assert!(
        text(&out.stderr).contains("PTY allocation request failed"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_must_match_the_source() {
    let s = Server::start_with(Setup::default(), |dir| {
        let far = keygen(dir, "far", "ed25519");
        let near = keygen(dir, "near", "ed25519");
        vec![
            format!("from=\"10.0.0.0/8,2001:db8::/32\" {}", far.public),
            format!("from=\"127.0.0.0/8,!127.0.0.2\",no-pty {}", near.public),
        ]
    })
    .await;
    let far = ClientKey {
        path: s.dir.path().join("far"),
        public: String::new(),
    };
    let near = ClientKey {
        path: s.dir.path().join("near"),
        public: String::new(),
    };
    let out = s.run(Some(&far), &["status"], b"").await;
    assert_eq!(out.status.code(), Some(255));
    wait_log(&["from= does not allow 127.0.0.1"], Duration::from_secs(5)).await;
    let out = s.run(Some(&near), &["status"], b"").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_options_refuse_the_key_with_a_logged_reason() {
    let s = Server::start_with(Setup::default(), |dir| {
        let bad = keygen(dir, "bad", "ed25519");
        vec![format!("frobnicate,no-pty {}", bad.public)]
    })
    .await;
    wait_log(
        &[
            "authorized_keys line 2",
            "unknown option `frobnicate`",
            "refused",
        ],
        Duration::from_secs(5),
    )
    .await;
    let bad = ClientKey {
        path: s.dir.path().join("bad"),
        public: String::new(),
    };
    let out = s.run(Some(&bad), &["status"], b"").await;
    assert_eq!(out.status.code(), Some(255));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_and_ecdsa_keys_work_sha1_does_not() {
    let s = Server::start_with(Setup::default(), |dir| {
        vec![
            keygen(dir, "rsa", "rsa").public,
            keygen(dir, "ecdsa", "ecdsa").public,
        ]
    })
    .await;
    for name in ["rsa", "ecdsa"] {
        let k = ClientKey {
            path: s.dir.path().join(name),
            public: String::new(),
        };
        let out = s.run(Some(&k), &["status", "--json"], b"").await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
    }
    let rsa = ClientKey {
        path: s.dir.path().join("rsa"),
        public: String::new(),
    };
    let mut c = s.ssh(Some(&rsa));
    c.args([
        "-o",
        "PubkeyAcceptedAlgorithms=ssh-rsa",
        "root@127.0.0.1",
        "status",
    ]);
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(
        out.status.code(),
        Some(255),
        "ssh-rsa (SHA-1) must not log in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_a_cert_authority() {
    let s = Server::start_with(Setup::default(), |dir| {
        let ca = keygen(dir, "ca", "ed25519");
        let user = keygen(dir, "certuser", "ed25519");
        let other = keygen(dir, "otheruser", "ed25519");
        let sign = |id: &str, principals: &str, extra: &[&str], key: &ClientKey| {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-s"])
                .arg(dir.join("ca"))
                .args(["-I", id, "-n", principals, "-V", "-5m:+1h"])
                .args(extra)
                .arg(key.path.with_extension("pub"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
        };
        sign("op@laptop", "root", &[], &user);
        sign(
            "robot",
            "root",
            &["-O", "clear", "-O", "force-command=unlock"],
            &other,
        );
        vec![format!("cert-authority {}", ca.public)]
    })
    .await;
    let user = ClientKey {
        path: s.dir.path().join("certuser"),
        public: String::new(),
    };
    let out = s.run(Some(&user), &["status", "--json"], b"").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    wait_log(
        &["logged in with certificate \"op@laptop\""],
        Duration::from_secs(5),
    )
    .await;
    // Another principal than the certificate's.
    let mut c = s.ssh(Some(&user));
    c.args(["alice@127.0.0.1", "status"]);
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(255));
    // force-command in the certificate.
    let robot = ClientKey {
        path: s.dir.path().join("otheruser"),
        public: String::new(),
    };
    let out = s.run(Some(&robot), &["status"], b"").await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    // The bare key of a certificate is not authorized by itself.
    let mut c = s.ssh(Some(&user));
    c.args([
        "-o",
        "CertificateFile=/dev/null",
        "root@127.0.0.1",
        "status",
    ]);
    let out = run_with_stdin(c, vec![]).await;
    assert_eq!(out.status.code(), Some(255));
}
