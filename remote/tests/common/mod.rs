//! The harness of the SSH tests: the server run in-process on a free port with a fake boot
//! (two locked volumes, a task answering Requests, a log feed), client keys made with
//! `ssh-keygen`, and the real OpenSSH client driven with or without a pty. Every test fails
//! loudly if `ssh` is missing.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sesame_remote::hostkey::HostKey;
use sesame_remote::{
    authorized_keys, BootView, Limits, LogFeed, Request, ServerConfig, Stage, UnlockReply,
    VolumeView,
};
use tokio::sync::{broadcast, mpsc, watch};

pub const ROOT_PASS: &str = "root-pass";
pub const DATA_PASS: &str = "data-pass";

// ---------------------------------------------------------------- logs

/// Every log record of the test binary, formatted.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let line = format!("{} {}: {}", r.level(), r.target(), r.args());
        if std::env::var_os("SESAME_TEST_LOG").is_some() && r.target().starts_with("sesame") {
            eprintln!("{line}");
        }
        if let Ok(mut l) = LOGS.lock() {
            l.push(line);
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

pub fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Trace);
    });
}

pub fn logs() -> Vec<String> {
    LOGS.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Waits until a log line contains all of `needles`.
pub async fn wait_log(needles: &[&str], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(l) = logs()
            .into_iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return l;
        }
        if Instant::now() > deadline {
            panic!(
                "no log line with {needles:?} within {within:?}; logs:\n{}",
                logs().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- the fake boot

/// What the fake boot received (never the passphrase itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Unlock {
        volume: Option<String>,
        source: String,
    },
    Continue,
    Retry,
    Reboot,
    Poweroff,
}

pub struct Boot {
    pub view: watch::Sender<BootView>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// How long an unlock attempt takes (the PBKDF).
    pub delay: Duration,
}

pub fn two_locked_volumes() -> BootView {
    BootView {
        hostname: "testbox".into(),
        version: "0.1.0".into(),
        stage: Stage::WaitingForUnlock,
        volumes: vec![
            VolumeView {
                name: "root".into(),
                device: "/dev/vda2".into(),
                state: VolumeView::LOCKED.into(),
                detail: None,
            },
            VolumeView {
                name: "data".into(),
                device: "/dev/vdb".into(),
                state: VolumeView::LOCKED.into(),
                detail: None,
            },
        ],
        network: serde_json::json!({"eth0": {"addresses": ["10.0.2.15/24"], "lease": {"router": "10.0.2.2"}}}),
        timeline: serde_json::json!([{"step": "modules", "ms": 120}]),
        errors: vec![],
    }
}

fn set_state(view: &watch::Sender<BootView>, name: &str, state: &str) {
    view.send_modify(|v| {
        if let Some(vol) = v.volumes.iter_mut().find(|x| x.name == name) {
            vol.state = state.into();
        }
        if v.volumes.iter().all(|x| x.is_open()) {
            v.stage = Stage::SwitchingRoot;
        }
    });
}

fn pass_of(name: &str) -> &'static [u8] {
    match name {
        "root" => ROOT_PASS.as_bytes(),
        _ => DATA_PASS.as_bytes(),
    }
}

impl Boot {
    /// Answers requests one at a time, as a broker would.
    pub fn spawn(self: &Arc<Self>, mut rx: mpsc::Receiver<Request>) {
        let boot = self.clone();
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                match req {
                    Request::Unlock {
                        volume,
                        passphrase,
                        source,
                        reply,
                    } => {
                        boot.seen.lock().unwrap().push(Seen::Unlock {
                            volume: volume.clone(),
                            source,
                        });
                        let answer = boot.unlock(volume, &passphrase).await;
                        let _ = reply.send(answer);
                    }
                    Request::Continue { reply } => {
                        boot.seen.lock().unwrap().push(Seen::Continue);
                        let ok = boot.view.borrow().stage == Stage::Break;
                        let _ = reply.send(if ok {
                            boot.view.send_modify(|v| v.stage = Stage::SwitchingRoot);
                            Ok(())
                        } else {
                            Err("not stopped by rd.break".into())
                        });
                    }
                    Request::Retry { reply } => {
                        boot.seen.lock().unwrap().push(Seen::Retry);
                        let _ = reply.send(Err("nothing failed".into()));
                    }
                    Request::Reboot => boot.seen.lock().unwrap().push(Seen::Reboot),
                    Request::Poweroff => boot.seen.lock().unwrap().push(Seen::Poweroff),
                }
            }
        });
    }

    async fn unlock(&self, volume: Option<String>, pass: &[u8]) -> UnlockReply {
        let candidates: Vec<VolumeView> = {
            let v = self.view.borrow();
            match &volume {
                Some(n) => match v.volume(n) {
                    None => return UnlockReply::NoSuchVolume(n.clone()),
                    Some(x) if x.is_open() => return UnlockReply::AlreadyOpen(n.clone()),
                    Some(x) => vec![x.clone()],
                },
                None => v.locked().cloned().collect(),
            }
        };
        if candidates.is_empty() {
            return UnlockReply::NothingLocked;
        }
        for c in &candidates {
            set_state(&self.view, &c.name, VolumeView::UNLOCKING);
        }
        tokio::time::sleep(self.delay).await;
        let mut opened = Vec::new();
        for c in &candidates {
            if pass == pass_of(&c.name) {
                set_state(&self.view, &c.name, VolumeView::OPEN);
                opened.push(c.name.clone());
            } else {
                set_state(&self.view, &c.name, VolumeView::LOCKED);
            }
        }
        if opened.is_empty() {
            UnlockReply::Wrong {
                volume: candidates[0].name.clone(),
            }
        } else {
            UnlockReply::Opened(opened)
        }
    }

    pub fn unlocks(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Seen::Unlock { .. }))
            .count()
    }

    pub fn state(&self, name: &str) -> String {
        self.view
            .borrow()
            .volume(name)
            .map(|v| v.state.clone())
            .unwrap_or_default()
    }
}

pub struct Logs {
    pub lines: Vec<String>,
    pub tx: broadcast::Sender<String>,
}

impl LogFeed for Logs {
    fn recent(&self) -> Vec<String> {
        self.lines.clone()
    }
    fn follow(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }
}

// ---------------------------------------------------------------- keys and the client

/// Fails loudly, with the `apt-get install` line, when the OpenSSH client is missing
/// (the harness's tool check): these tests never skip.
pub fn require_openssh() {
    sesame_qemu::require_tools(&["ssh", "ssh-keygen", "ssh-keyscan", "ssh-agent"])
        .unwrap_or_else(|e| panic!("{e:#}"));
}

/// A client key made by ssh-keygen.
pub struct ClientKey {
    pub path: PathBuf,
    pub public: String,
}

pub fn keygen(dir: &Path, name: &str, kind: &str) -> ClientKey {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", name, "-t", kind, "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    let out = cmd.output().expect("ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string();
    ClientKey { path, public }
}

/// A running server with its fake boot.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub boot: Arc<Boot>,
    pub logs_tx: broadcast::Sender<String>,
    pub shutdown: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), sesame_remote::RemoteError>>,
    pub known_hosts: PathBuf,
    pub host_key: HostKey,
    /// The operator's key (no options).
    pub key: ClientKey,
}

pub struct Setup {
    pub view: BootView,
    pub limits: Limits,
    /// Extra authorized_keys lines, `{dir}` replaced by the temp dir (for keys made first).
    pub extra: Vec<String>,
    pub delay: Duration,
    pub host_key: Option<HostKey>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            view: two_locked_volumes(),
            limits: Limits::default(),
            extra: vec![],
            delay: Duration::from_millis(50),
            host_key: None,
        }
    }
}

impl Server {
    pub async fn start(setup: Setup) -> Server {
        Self::start_with(setup, |_| Vec::new()).await
    }

    /// `more_keys` makes extra keys in the temp dir and returns their authorized_keys lines.
    pub async fn start_with(setup: Setup, more_keys: impl FnOnce(&Path) -> Vec<String>) -> Server {
        require_openssh();
        init_logging();
        let dir = tempfile::tempdir().unwrap();
        let key = keygen(dir.path(), "operator", "ed25519");
        let mut lines = vec![key.public.clone()];
        lines.extend(more_keys(dir.path()));
        lines.extend(setup.extra.iter().cloned());
        let (keys, errors) = authorized_keys::parse(&lines.join("\n"));
        assert!(errors.is_empty(), "{errors:?}");
        let host_key = setup
            .host_key
            .unwrap_or_else(|| HostKey::generate().unwrap());
        let cfg = ServerConfig {
            port: 0,
            host_key: host_key.clone(),
            authorized_keys: keys,
            hostname: "testbox".into(),
            limits: setup.limits,
        };
        let bound = sesame_remote::bind(cfg).await.expect("bind");
        let addr = SocketAddr::from(([127, 0, 0, 1], bound.local_addr().port()));
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "[127.0.0.1]:{} {}\n",
                addr.port(),
                host_key.public_openssh()
            ),
        )
        .unwrap();
        let (view_tx, view_rx) = watch::channel(setup.view);
        let (req_tx, req_rx) = mpsc::channel(16);
        let boot = Arc::new(Boot {
            view: view_tx,
            seen: Arc::new(Mutex::new(Vec::new())),
            delay: setup.delay,
        });
        boot.spawn(req_rx);
        let (logs_tx, _) = broadcast::channel(64);
        let feed = Arc::new(Logs {
            lines: vec![
                "sesame: modules loaded".into(),
                "sesame: eth0 up, 10.0.2.15/24".into(),
            ],
            tx: logs_tx.clone(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(bound.run(view_rx, req_tx, feed, shutdown_rx));
        Server {
            dir,
            addr,
            boot,
            logs_tx,
            shutdown,
            task,
            known_hosts,
            host_key,
            key,
        }
    }

    /// `ssh` with the harness's options; `key` defaults to the operator's.
    pub fn ssh(&self, key: Option<&ClientKey>) -> Command {
        self.ssh_with(key, &[])
    }

    /// `ssh` with `options` first (ssh keeps the first value given for an option).
    pub fn ssh_with(&self, key: Option<&ClientKey>, options: &[&str]) -> Command {
        let mut c = Command::new("ssh");
        c.args(options)
            .args(["-F", "/dev/null"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "StrictHostKeyChecking=yes"])
            .args(["-o", "IdentitiesOnly=yes"])
            .args(["-o", "BatchMode=yes"])
            .args(["-o", "ConnectTimeout=20"])
            .args(["-o", "ServerAliveInterval=0"])
            .arg("-i")
            .arg(&key.unwrap_or(&self.key).path)
            .args(["-p", &self.addr.port().to_string()])
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("DISPLAY");
        c
    }

    /// Runs `ssh … root@127.0.0.1 <args>` with `stdin` and waits.
    pub async fn run(&self, key: Option<&ClientKey>, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.ssh(key);
        c.arg("root@127.0.0.1").args(args);
        run_with_stdin(c, stdin.to_vec()).await
    }
}

pub async fn run_with_stdin(mut c: Command, stdin: Vec<u8>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ssh");
        let mut input = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let out = wait_timeout(child, Duration::from_secs(60));
        let _ = writer.join();
        out
    })
    .await
    .unwrap()
}

/// Waits for a child; kills it (and fails) after `limit`.
fn wait_timeout(mut child: Child, limit: Duration) -> Output {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let s = child.wait().unwrap();
            let out = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
            let err = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
            panic!("ssh did not finish within {limit:?} ({s}); stdout:\n{out}\nstderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------- an interactive client

/// `ssh -tt`: a remote pty, our pipes as the local side (so bytes go as typed).
pub struct Interactive {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Interactive {
    pub fn spawn(server: &Server, key: Option<&ClientKey>, args: &[&str]) -> Interactive {
        let mut c = server.ssh(key);
        c.arg("-tt").arg("root@127.0.0.1").args(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn ssh -tt");
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let streams: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for mut s in streams {
            let out = out.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }));
        }
        Interactive {
            stdin: child.stdin.take(),
            child,
            out,
            readers,
        }
    }

    pub fn output(&self) -> String {
        text(&self.out.lock().unwrap())
    }

    /// Waits until the output contains `needle` (counted from the start).
    pub async fn expect(&self, needle: &str) {
        self.expect_n(needle, 1).await
    }

    /// Waits until `needle` appears `n` times.
    pub async fn expect_n(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.output().matches(needle).count() >= n {
                return;
            }
            if Instant::now() > deadline {
                panic!("{needle:?} (x{n}) never came; output:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().expect("stdin open");
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for ssh to exit; its exit code.
    pub async fn wait(mut self) -> (Option<i32>, String) {
        let code = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let status = loop {
                if let Some(s) = self.child.try_wait().unwrap() {
                    break s;
                }
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    break self.child.wait().unwrap();
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
            (status.code(), text(&self.out.lock().unwrap()))
        })
        .await
        .unwrap();
        code
    }

    /// Kills the client (a dropped connection).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
