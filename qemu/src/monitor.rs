//! QEMU's monitor, reached over QMP on a unix socket. Human monitor (HMP) commands such as
//! `info status` or `device_add …` go through QMP's `human-monitor-command`, which returns
//! exactly the text HMP would print, without prompt or echo to strip.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub(crate) struct Monitor {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Monitor {
    /// Connects to the QMP socket at `path` (retrying while QEMU creates it, as long as
    /// `alive()` says QEMU still runs) and leaves capabilities negotiation mode.
    pub(crate) fn connect(
        path: &Path,
        timeout: Duration,
        alive: &mut dyn FnMut() -> bool,
    ) -> Result<Monitor> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) => {
                    if !alive() {
                        bail!(
                            "QEMU exited before its monitor socket {} came up",
                            path.display()
                        );
                    }
                    if Instant::now() >= deadline {
                        return Err(e).with_context(|| {
                            format!("connecting to QEMU's monitor {}", path.display())
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let writer = stream.try_clone()?;
        let mut m = Monitor {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = m.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        m.execute("qmp_capabilities", json!({}))?;
        Ok(m)
    }

    /// Runs a QMP command; returns its `return` value or fails with QEMU's error.
    pub(crate) fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let mut msg = serde_json::to_vec(&json!({"execute": command, "arguments": arguments}))?;
        msg.push(b'\n');
        self.writer
            .write_all(&msg)
            .with_context(|| format!("sending `{command}` to QEMU's monitor"))?;
        loop {
            let reply = self.read_message()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                bail!("QEMU's monitor refused `{command}`: {e}");
            }
            // Asynchronous events (`{"event": …}`) arrive in between; skip them.
        }
    }

    /// Runs a human monitor command and returns its output.
    pub(crate) fn hmp(&mut self, command_line: &str) -> Result<String> {
        let out = self.execute(
            "human-monitor-command",
            json!({ "command-line": command_line }),
        )?;
        Ok(out.as_str().unwrap_or_default().replace("\r\n", "\n"))
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("reading from QEMU's monitor")?;
        if n == 0 {
            bail!("QEMU's monitor closed the connection (QEMU exited?)");
        }
        serde_json::from_str(&line).with_context(|| format!("QEMU's monitor sent `{line}`"))
    }
}
