//! A running QEMU virtual machine: starting it from a [`VmConfig`], its serial console
//! (captured, waited on, typed into), its monitor, and its end.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::config::{Nic, VmConfig};
use crate::console::{Capture, Waited};
use crate::monitor::Monitor;
use crate::ports::free_loopback_port;
use crate::tools::{require_tools, tool_path};

const QEMU: &str = "qemu-system-x86_64";
/// What QEMU says when the host side of a forward cannot be bound.
const PORT_TAKEN: &str = "Could not set up host forwarding rule";

/// A match on the console: the (cleaned) line holding it, and the console offset just past
/// the match, to wait for what comes next with [`Vm::wait_for_console_from`].
#[derive(Clone, Debug)]
pub struct ConsoleMatch {
    pub line: String,
    pub end: usize,
}

/// A running QEMU. Dropping it kills QEMU. QEMU also gets SIGKILL if the thread that
/// started it ends first (PR_SET_PDEATHSIG), so a test killed by a timeout leaves no VM
/// behind: keep the `Vm` on the thread that called [`Vm::start`] (or let it outlive it).
pub struct Vm {
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    console: Capture,
    stderr: Capture,
    monitor: Mutex<Monitor>,
    ssh_port: Option<u16>,
    console_log_path: PathBuf,
    stderr_log_path: PathBuf,
    started: Instant,
    _socket_dir: tempfile::TempDir,
}

impl Vm {
    /// Starts QEMU and connects to its monitor. The guest runs on its own from here.
    pub fn start(cfg: VmConfig) -> Result<Vm> {
        require_tools(&[QEMU])?;
        let no_initrd = cfg.initrd.as_os_str().is_empty();
        for (what, p) in [("kernel", &cfg.kernel.vmlinuz), ("initramfs", &cfg.initrd)] {
            let optional = what == "initramfs" && no_initrd;
            if !optional && !p.is_file() {
                bail!("the {what} {} does not exist", p.display());
            }
        }
        for d in &cfg.disks {
            if !d.path.is_file() {
                bail!("disk `{}`: {} does not exist", d.id, d.path.display());
            }
        }
        let wants_ssh = matches!(cfg.nic, Some(Nic::User { ssh: true }));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = if wants_ssh {
                Some(free_loopback_port()?)
            } else {
                None
            };
            match Self::try_start(&cfg, port) {
                Ok(vm) => return Ok(vm),
                // Someone took the free port between our check and QEMU's bind.
                Err(e)
                    if port.is_some() && attempt < 3 && format!("{e:#}").contains(PORT_TAKEN) =>
                {
                    log::warn!("QEMU could not forward port {port:?}, retrying: {e:#}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_start(cfg: &VmConfig, ssh_port: Option<u16>) -> Result<Vm> {
        fs::create_dir_all(&cfg.work_dir)
            .with_context(|| format!("creating {}", cfg.work_dir.display()))?;
        let suffix = (1..)
            .map(|n| {
                if n == 1 {
                    String::new()
                } else {
                    format!("-{n}")
                }
            })
            .find(|s| !cfg.work_dir.join(format!("console{s}.log")).exists())
            .unwrap_or_default();
        let console_log_path = cfg.work_dir.join(format!("console{suffix}.log"));
        let stderr_log_path = cfg.work_dir.join(format!("qemu-stderr{suffix}.log"));
        // Unix socket paths are limited to 108 bytes: keep the socket in a short /tmp path.
        let socket_dir = tempfile::Builder::new()
            .prefix("sesame-vm-")
            .tempdir()
            .context("making a directory for QEMU's monitor socket")?;
        let qmp_path = socket_dir.path().join("qmp.sock");
        let args = cfg.shown_args(&qmp_path, ssh_port);
        let qemu = tool_path(QEMU).with_context(|| format!("{QEMU} vanished"))?;
        let shown = shell_line(&qemu.display().to_string(), &args);
        fs::write(
            cfg.work_dir.join(format!("qemu-args{suffix}.txt")),
            format!("{shown}\n"),
        )
        .context("writing qemu-args.txt")?;

        let mut cmd = match &cfg.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&qemu);
                c
            }
            None => Command::new(&qemu),
        };
        cmd.args(cfg.os_args(&qmp_path, ssh_port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {shown}"))?;
        let started = Instant::now();
        let console = Capture::default();
        let stderr = Capture::default();
        let console_file = File::create(&console_log_path)
            .with_context(|| format!("creating {}", console_log_path.display()))?;
        let stderr_file = File::create(&stderr_log_path)
            .with_context(|| format!("creating {}", stderr_log_path.display()))?;
        let out = child.stdout.take().context("QEMU's stdout")?;
        let err = child.stderr.take().context("QEMU's stderr")?;
        console
            .spawn("console", out, console_file)
            .context("starting the console reader")?;
        stderr
            .spawn("qemu-stderr", err, stderr_file)
            .context("starting the stderr reader")?;
        let stdin = child.stdin.take();

        let mut alive = || matches!(child.try_wait(), Ok(None));
        let monitor = match Monitor::connect(&qmp_path, Duration::from_secs(30), &mut alive) {
            Ok(m) => m,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                stderr.wait_closed(Duration::from_secs(2));
                bail!(
                    "{e:#}\nQEMU ({}) said:\n{}\ncommand line: {shown}",
                    status.map_or("not reaped".to_string(), |s| s.to_string()),
                    stderr.text().trim_end()
                );
            }
        };
        log::info!(
            "QEMU pid {} started; console log {}",
            child.id(),
            console_log_path.display()
        );
        Ok(Vm {
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            console,
            stderr,
            monitor: Mutex::new(monitor),
            ssh_port,
            console_log_path,
            stderr_log_path,
            started,
            _socket_dir: socket_dir,
        })
    }

    /// The host port on 127.0.0.1 forwarded to the guest's port 22 (`Nic::User { ssh: true }`).
    pub fn ssh_port(&self) -> Option<u16> {
        self.ssh_port
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The console so far, cleaned (no escape sequences, no `\r`).
    pub fn console_log(&self) -> String {
        self.console.text()
    }

    /// The console log file (raw bytes, as the guest wrote them).
    pub fn console_log_path(&self) -> &Path {
        &self.console_log_path
    }

    /// What QEMU itself wrote to stderr so far.
    pub fn qemu_stderr(&self) -> String {
        self.stderr.text()
    }

    /// The current end of the console output: wait for what comes after it with
    /// [`Vm::wait_for_console_after`].
    pub fn console_mark(&self) -> usize {
        self.console.len()
    }

    /// Waits for `pattern` anywhere in the console output since QEMU started; returns the
    /// (cleaned) line holding it. The line may be unfinished (a prompt).
    pub fn wait_for_console(&self, pattern: &str, timeout: Duration) -> Result<String> {
        self.wait_for_console_from(0, pattern, timeout)
            .map(|m| m.line)
    }

    /// Like [`Vm::wait_for_console`], but only in output after `mark` ([`Vm::console_mark`]
    /// or a [`ConsoleMatch::end`]).
    pub fn wait_for_console_after(
        &self,
        mark: usize,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String> {
        self.wait_for_console_from(mark, pattern, timeout)
            .map(|m| m.line)
    }

    /// Waits for `pattern` after console offset `mark`; the match tells where it ended.
    /// Fails at once if QEMU exits first; on failure the error holds the last 100 console
    /// lines, the log file's path and QEMU's stderr.
    pub fn wait_for_console_from(
        &self,
        mark: usize,
        pattern: &str,
        timeout: Duration,
    ) -> Result<ConsoleMatch> {
        match self.console.wait_for(mark, pattern, timeout) {
            Waited::Found { line, end } => Ok(ConsoleMatch { line, end }),
            Waited::TimedOut => bail!(
                "timed out after {:.0?} waiting for `{pattern}` on the console ({:.1?} after \
                 QEMU started; QEMU still running){}",
                timeout,
                self.elapsed(),
                self.diagnostics()
            ),
            Waited::Closed => {
                let status = self.wait_exit(Duration::from_secs(5)).ok();
                bail!(
                    "QEMU exited ({}) after {:.1?} before `{pattern}` appeared on the console{}",
                    status.map_or("exit status unknown".to_string(), |s| s.to_string()),
                    self.elapsed(),
                    self.diagnostics()
                )
            }
        }
    }

    /// The tail of the console and QEMU's stderr, for error messages.
    pub fn diagnostics(&self) -> String {
        let stderr = self.stderr.text();
        let stderr = stderr.trim_end();
        format!(
            "\n--- last 100 console lines ---\n{}\n--- end of console; full log: {} ---{}",
            self.console.tail(100),
            self.console_log_path.display(),
            if stderr.is_empty() {
                String::new()
            } else {
                format!(
                    "\n--- QEMU stderr ({}) ---\n{stderr}",
                    self.stderr_log_path.display()
                )
            }
        )
    }

    /// Types `bytes` on the serial console (e.g. `b"passphrase\n"`).
    pub fn send_console(&self, bytes: &[u8]) -> Result<()> {
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = stdin.as_mut() else {
            bail!("the console input is closed");
        };
        w.write_all(bytes)
            .and_then(|_| w.flush())
            .context("typing on the serial console (QEMU exited?)")
    }

    /// Runs a human monitor (HMP) command, e.g. `info status`, and returns its output.
    pub fn monitor(&self, command: &str) -> Result<String> {
        self.lock_monitor()
            .hmp(command)
            .with_context(|| format!("monitor command `{command}`"))
    }

    /// Runs a QMP command and returns its `return` value.
    pub fn qmp(&self, command: &str, arguments: Value) -> Result<Value> {
        self.lock_monitor().execute(command, arguments)
    }

    fn lock_monitor(&self) -> MutexGuard<'_, Monitor> {
        self.monitor.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether QEMU is still running.
    pub fn is_running(&self) -> bool {
        matches!(self.lock_child().try_wait(), Ok(None))
    }

    /// Waits for QEMU to exit (the guest powered off, or rebooted under `-no-reboot`) and
    /// for its last console output to be captured.
    pub fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.lock_child().try_wait().context("waiting for QEMU")? {
                self.console.wait_closed(Duration::from_secs(5));
                self.stderr.wait_closed(Duration::from_secs(5));
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "QEMU still runs {:.0?} later ({:.1?} after it started){}",
                    timeout,
                    self.elapsed(),
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills QEMU now and reaps it.
    pub fn kill(&self) {
        let mut child = self.lock_child();
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        // Close the console input only after QEMU is gone.
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// `program args…` quoted for a POSIX shell, to rerun a VM by hand.
fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@".contains(&b))
            {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a VM with its serial console on this terminal (QEMU's stdio, multiplexed with
/// the human monitor: Ctrl-A X quits, Ctrl-A C toggles the monitor) until it exits.
/// For demos, not tests: nothing is captured.
pub fn run_interactive(cfg: &VmConfig, ssh_port: Option<u16>) -> Result<ExitStatus> {
    require_tools(&[QEMU])?;
    fs::create_dir_all(&cfg.work_dir)
        .with_context(|| format!("creating {}", cfg.work_dir.display()))?;
    let qmp_path = cfg.work_dir.join("qmp.sock");
    let mut args = cfg.args(&qmp_path, ssh_port);
    for a in args.iter_mut() {
        if a == "stdio,id=con0,signal=off" {
            *a = "stdio,id=con0,mux=on,signal=off".into();
        }
    }
    args.extend(["-mon".into(), "chardev=con0,mode=readline".into()]);
    let qemu = tool_path(QEMU).with_context(|| format!("{QEMU} vanished"))?;
    Command::new(&qemu).args(&args).status().with_context(|| {
        format!(
            "starting {}",
            shell_line(&qemu.display().to_string(), &args)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(
            shell_line("q", &["-append".into(), "a \"b".into(), "x'y".into()]),
            r#"q -append 'a "b' 'x'\''y'"#
        );
    }
}
