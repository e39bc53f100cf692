//! The real OpenSSH client against a guest: a client key of the test's own, a
//! known_hosts file of the test's own, commands with or without stdin, interactive
//! sessions through a remote pty (`ssh -tt`), and waiting for the SSH banner.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::tools::require_tools;

/// A client identity and where it connects.
#[derive(Clone, Debug)]
pub struct SshClient {
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub port: u16,
    /// The guest's address (127.0.0.1 with a forwarded port).
    pub host: String,
    /// Run ssh inside this network namespace (a guest on a test's bridge).
    pub netns: Option<String>,
}

impl SshClient {
    /// Generates an ed25519 client key `<dir>/<name>` (and `.pub`) unless it exists.
    pub fn new(dir: &Path, name: &str, port: u16) -> Result<SshClient> {
        require_tools(&["ssh", "ssh-keygen"])?;
        let key = dir.join(name);
        if !key.exists() {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(&key)
                .output()
                .context("running ssh-keygen")?;
            if !out.status.success() {
                bail!(
                    "ssh-keygen failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(SshClient {
            key,
            known_hosts: dir.join("known_hosts"),
            port,
            host: "127.0.0.1".into(),
            netns: None,
        })
    }

    /// The same identity against another port (a second VM).
    pub fn with_port(&self, port: u16) -> SshClient {
        SshClient {
            port,
            ..self.clone()
        }
    }

    /// The same identity against `host` inside network namespace `netns`.
    pub fn in_netns(&self, netns: &str, host: &str, port: u16) -> SshClient {
        SshClient {
            port,
            host: host.into(),
            netns: Some(netns.into()),
            ..self.clone()
        }
    }

    /// The public key line (`ssh-ed25519 AAAA… name`).
    pub fn public_key(&self) -> Result<String> {
        let p = self.key.with_extension("pub");
        Ok(std::fs::read_to_string(&p)
            .with_context(|| format!("reading {}", p.display()))?
            .trim()
            .to_string())
    }

    /// `ssh` with options that never read the user's config or agent, accept the guest's
    /// key on first use, and never prompt; `extra` go before the destination.
    pub fn command(&self, extra: &[&str], remote: &[&str]) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "ssh"]);
                c
            }
            None => Command::new("ssh"),
        };
        c.args(["-F", "/dev/null", "-i"])
            .arg(&self.key)
            .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "BatchMode=yes",
            ])
            .args(["-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"])
            .args(["-p", &self.port.to_string()])
            .args(extra)
            .arg(format!("root@{}", self.host))
            .args(remote);
        c
    }

    /// Runs a remote command, feeding `stdin`, within `timeout`.
    pub fn run(&self, remote: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<Output> {
        self.run_with(&[], remote, stdin, timeout)
    }

    /// Like `run`, with extra ssh options.
    pub fn run_with(
        &self,
        extra: &[&str],
        remote: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output> {
        let mut cmd = self.command(extra, remote);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let shown = format!("{cmd:?}");
        let mut child = cmd.spawn().with_context(|| format!("starting {shown}"))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data).context("writing ssh's stdin")?;
        }
        wait_output(child, timeout).with_context(|| format!("running {shown}"))
    }

    /// Polls until the server sends its `SSH-2.0-` banner; returns how long it took.
    /// (From the host's side: not for a client inside a namespace.)
    pub fn wait_banner(&self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        loop {
            // QEMU's user network accepts at once and only then reaches for the guest; a
            // guest not listening yet never answers that attempt, so retry often.
            if let Ok(mut s) = TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.port).into(),
                Duration::from_secs(2),
            ) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
                let mut buf = [0u8; 8];
                if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0-" {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "no SSH banner on 127.0.0.1:{} within {timeout:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An interactive session through a remote pty (`ssh -tt`), driven by the test.
    pub fn interactive(&self, remote: &[&str]) -> Result<Session> {
        let mut cmd = self.command(&["-tt"], remote);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("starting ssh -tt")?;
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = output.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut o) = out.lock() {
                        o.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Session {
            child,
            stdin,
            output,
        })
    }
}

/// A running interactive ssh.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    /// Everything received so far, as text.
    pub fn text(&self) -> String {
        self.output
            .lock()
            .map(|o| String::from_utf8_lossy(&o).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the output contains `pattern`.
    pub fn expect(&self, pattern: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.text().contains(pattern) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "ssh session: no `{pattern}` within {timeout:?}; got:\n{}",
            self.text()
        )
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the session's stdin is closed")?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for ssh to exit; returns its exit code.
    pub fn wait(mut self, timeout: Duration) -> Result<(Option<i32>, String)> {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                std::thread::sleep(Duration::from_millis(100));
                return Ok((status.code(), self.text()));
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                bail!(
                    "ssh session did not end within {timeout:?}; got:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the client (a dropped connection).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child`, draining its stdout and stderr as it runs (a full pipe would
/// otherwise stall it), killing it after `timeout`.
fn wait_output(mut child: Child, timeout: Duration) -> Result<Output> {
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            );
            bail!(
                "did not finish within {timeout:?}; stdout: {} stderr: {}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
