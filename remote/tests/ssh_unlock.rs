//! The operator's interface through the real OpenSSH client: the interactive prompt on a
//! pty, `unlock` from stdin, `status --json`, two clients racing, a client dropping or
//! pressing Ctrl-C at the prompt, the `sesame>` prompt after rd.break, `log -f`, and the
//! server's shutdown closing sessions with its message. Passphrases never show up in the
//! client's output nor in any log line.

mod common;

use std::time::Duration;

use common::*;
use sesame_remote::{Stage, VolumeView};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_unlock_with_a_pty() {
    let s = Server::start(Setup::default()).await;
    let mut c = Interactive::spawn(&s, None, &[]);
    c.expect("Locked: root (/dev/vda2), data (/dev/vdb).").await;
    c.expect("Passphrase for root (/dev/vda2): ").await;
    // A typo fixed with backspace, an arrow key, then a wrong passphrase.
    c.send(b"wrong-one\r");
    c.expect("Wrong passphrase for root; try again.").await;
    c.expect_n("Passphrase for root (/dev/vda2): ", 2).await;
    c.send(b"root-paX\x7fs\x1b[Ds\r");
    c.expect("Opened root.").await;
    c.expect("Passphrase for data (/dev/vdb): ").await;
    c.send(b"data-pass\r");
    c.expect("All volumes are open; the boot continues.").await;
    let (code, out) = c.wait().await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !out.contains(ROOT_PASS) && !out.contains("wrong-one") && !out.contains(DATA_PASS),
        "echoed: {out}"
    );
    assert_eq!(s.boot.state("root"), VolumeView::OPEN);
    assert_eq!(s.boot.state("data"), VolumeView::OPEN);
    assert_eq!(s.boot.unlocks(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_from_stdin() {
    let s = Server::start(Setup::default()).await;
    // `echo -n pw | ssh root@host unlock root`
    let out = s.run(None, &["unlock", "root"], ROOT_PASS.as_bytes()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Opened root. The boot continues."),
        "{}",
        text(&out.stdout)
    );
    // One trailing newline is stripped; the volume is found without a name.
    let out = s
        .run(
            None,
            &["cryptroot-unlock"],
            format!("{DATA_PASS}\n").as_bytes(),
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Opened data."));
    // Already open: exit 0, told so.
    let out = s.run(None, &["unlock", "root"], ROOT_PASS.as_bytes()).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("already open"),
        "{}",
        text(&out.stdout)
    );
    let seen = s.boot.seen.lock().unwrap().clone();
    match &seen[0] {
        Seen::Unlock { volume, source } => {
            assert_eq!(volume.as_deref(), Some("root"));
            assert!(
                source.starts_with("ssh 127.0.0.1:") && source.contains("SHA256:"),
                "{source}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_without_a_pty_reads_one_line_per_prompt() {
    let s = Server::start(Setup::default()).await;
    let out = s
        .run(
            None,
            &[],
            format!("{ROOT_PASS}\r\n{DATA_PASS}\n").as_bytes(),
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(
        t.contains("Opened root.") && t.contains("Opened data."),
        "{t}"
    );
    assert!(
        t.contains("All volumes are open; the boot continues."),
        "{t}"
    );
    assert!(
        text(&out.stderr).contains("no terminal"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_from_stdin_errors_have_their_codes() {
    let s = Server::start(Setup::default()).await;
    let out = s.run(None, &["unlock", "root"], b"nope").await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("Wrong passphrase for root."),
        "{}",
        text(&out.stderr)
    );
    let out = s.run(None, &["unlock", "nosuch"], b"x").await;
    assert_eq!(out.status.code(), Some(4));
    let out = s.run(None, &["unlock"], b"").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no passphrase on stdin"));
    let out = s.run(None, &["unlock", "a", "b"], b"").await;
    assert_eq!(out.status.code(), Some(2));
    let out = s.run(None, &["frobnicate"], b"").await;
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("unknown command `frobnicate`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        s.boot.unlocks(),
        2,
        "only the two well-formed requests reached the boot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_and_text_and_help() {
    let s = Server::start(Setup::default()).await;
    let out = s.run(None, &["status", "--json"], b"").await;
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(j["volumes"][0]["name"], "root");
    assert_eq!(j["volumes"][0]["state"], "locked");
    assert_eq!(j["volumes"][1]["device"], "/dev/vdb");
    assert_eq!(j["network"]["eth0"]["addresses"][0], "10.0.2.15/24");
    assert_eq!(j["stage"]["name"], "waiting-for-unlock");
    let out = s.run(None, &["status"], b"").await;
    let t = text(&out.stdout);
    assert!(
        t.contains("root  /dev/vda2  locked") && t.contains("10.0.2.15/24"),
        "{t}"
    );
    let out = s.run(None, &["help"], b"").await;
    assert!(text(&out.stdout).contains("unlock [NAME]"));
    let out = s.run(None, &["log"], b"").await;
    assert!(text(&out.stdout).contains("eth0 up, 10.0.2.15/24"));
    let out = s.run(None, &["dmesg"], b"").await;
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_at_once_the_first_answer_wins() {
    let s = Server::start(Setup {
        delay: Duration::from_millis(400),
        ..Default::default()
    })
    .await;
    let (a, b) = tokio::join!(
        s.run(None, &["unlock", "root"], ROOT_PASS.as_bytes()),
        s.run(None, &["unlock", "root"], ROOT_PASS.as_bytes())
    );
    let outs = [text(&a.stdout), text(&b.stdout)];
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(b.status.code(), Some(0));
    assert_eq!(
        outs.iter().filter(|o| o.contains("Opened root.")).count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        outs.iter()
            .filter(|o| o.contains("root is already open"))
            .count(),
        1,
        "{outs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_closes_when_the_volume_opens_elsewhere() {
    let s = Server::start(Setup::default()).await;
    let mut c = Interactive::spawn(&s, None, &["unlock", "root"]);
    c.expect("Passphrase for root (/dev/vda2): ").await;
    c.send(b"half-typ");
    let out = s.run(None, &["unlock", "root"], ROOT_PASS.as_bytes()).await;
    assert_eq!(out.status.code(), Some(0));
    c.expect("root was unlocked elsewhere (the first answer wins).")
        .await;
    let (code, out) = c.wait().await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        s.boot.unlocks(),
        1,
        "the half-typed passphrase was never sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_dropping_mid_prompt_leaves_the_boot_waiting() {
    let s = Server::start(Setup::default()).await;
    let mut c = Interactive::spawn(&s, None, &[]);
    c.expect("Passphrase for root (/dev/vda2): ").await;
    c.send(b"root-pa");
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.kill();
    wait_log(
        &["left at the prompt for root; nothing was sent"],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(s.boot.unlocks(), 0);
    assert_eq!(s.boot.state("root"), VolumeView::LOCKED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_at_the_prompt_sends_nothing() {
    let s = Server::start(Setup::default()).await;
    let mut c = Interactive::spawn(&s, None, &[]);
    c.expect("Passphrase for root (/dev/vda2): ").await;
    c.send(b"root-pass\x03");
    c.expect("Nothing was sent; the boot keeps waiting.").await;
    let (code, _) = c.wait().await;
    assert_eq!(code, Some(130));
    assert_eq!(s.boot.unlocks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_prompt_continue() {
    let mut view = two_locked_volumes();
    for v in &mut view.volumes {
        v.state = VolumeView::OPEN.into();
    }
    view.stage = Stage::Break;
    let s = Server::start(Setup {
        view,
        ..Default::default()
    })
    .await;
    let mut c = Interactive::spawn(&s, None, &[]);
    c.expect("stopped by rd.break").await;
    c.expect("sesame> ").await;
    c.send(b"statx\x7fus --json\r");
    c.expect("\"name\": \"break\"").await;
    c.expect_n("sesame> ", 2).await;
    c.send(b"continue\r");
    c.expect("The boot continues.").await;
    c.expect_n("sesame> ", 3).await;
    c.send(b"exit\r");
    let (code, out) = c.wait().await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("statx\x08 \x08us --json"),
        "the prompt echoes and erases: {out:?}"
    );
    assert!(s.boot.seen.lock().unwrap().contains(&Seen::Continue));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_follow_until_ctrl_c() {
    let s = Server::start(Setup::default()).await;
    let mut c = Interactive::spawn(&s, None, &["log", "-f"]);
    c.expect("modules loaded").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.logs_tx.send("sesame: a new line".into()).unwrap();
    c.expect("a new line").await;
    c.send(b"\x03");
    let (code, _) = c.wait().await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_with_the_message() {
    let s = Server::start(Setup::default()).await;
    let c = Interactive::spawn(&s, None, &[]);
    c.expect("Passphrase for root (/dev/vda2): ").await;
    let follower = Interactive::spawn(&s, None, &["log", "-f"]);
    follower.expect("modules loaded").await;
    let started = std::time::Instant::now();
    s.shutdown.send(true).unwrap();
    let (code, out) = c.wait().await;
    assert!(
        out.contains("the boot continues; this session closes."),
        "{out}"
    );
    assert_eq!(code, Some(0), "{out}");
    let (_, out) = follower.wait().await;
    assert!(
        out.contains("the boot continues; this session closes."),
        "{out}"
    );
    tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.boot.unlocks(), 0);
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(s.addr).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrases_never_reach_the_logs_or_the_screen() {
    const SECRET: &str = "Zq9-correct-horse-7Kx";
    let s = Server::start(Setup::default()).await;
    // Wrong twice (interactive and stdin), so the passphrase travels every path.
    let mut c = Interactive::spawn(&s, None, &[]);
    c.expect("Passphrase for root").await;
    c.send(format!("{SECRET}\r").as_bytes());
    c.expect("Wrong passphrase for root").await;
    c.send(b"\x03");
    let (_, screen) = c.wait().await;
    let out = s.run(None, &["unlock", "root"], SECRET.as_bytes()).await;
    assert_eq!(out.status.code(), Some(3));
    let out2 = s
        .run(
            None,
            &["unlock", "root"],
            format!("{SECRET}{SECRET}").as_bytes(),
        )
        .await;
    assert_eq!(out2.status.code(), Some(3));
    assert_eq!(s.boot.unlocks(), 3);
    for shown in [
        screen,
        text(&out.stdout),
        text(&out.stderr),
        text(&out2.stderr),
    ] {
        assert!(!shown.contains(SECRET), "shown to the client: {shown}");
    }
    let logs = logs();
    assert!(
        logs.iter().any(|l| l.contains("logged in")),
        "logging works"
    );
    for l in &logs {
        assert!(
            !l.contains(SECRET) && !l.contains("correct-horse"),
            "logged: {l}"
        );
    }
}
