//! Shared fixtures for the end-to-end tests: a per-test directory kept for its logs, the
//! initramfs built by the `sesame` binary under test, root filesystems whose init is the
//! marker, and booting a VM until the marker reports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sesame_qemu::{
    debian_kernel, luks_encrypt, marker_binary, parse_marker, parse_marker_kmsg, require_tools,
    sesame_binary, Kernel, LuksOptions, RootFs, SshClient, Vm, VmConfig,
};

pub use sesame_qemu;

/// Kernel to marker under TCG on a loaded 2-core machine.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// What every boot test needs, checked in the order that gives the most useful error first.
pub struct Fixture {
    /// This test's directory: images, initramfs, console logs.
    pub dir: PathBuf,
    pub kernel: Kernel,
    pub sesame: PathBuf,
}

impl Fixture {
    /// Checks the binaries under test, the host tools and the kernel; (re)makes the test's
    /// directory (see [`test_dir`]).
    pub fn new(test_name: &str) -> Result<Fixture> {
        let sesame = sesame_binary()?;
        marker_binary()?;
        require_tools(&["qemu-system-x86_64", "mkfs.ext4"])?;
        let kernel = debian_kernel()?;
        let dir = test_dir(test_name)?;
        Ok(Fixture {
            dir,
            kernel,
            sesame,
        })
    }

    /// Runs `sesame build --output <dir>/initrd.img --modules-dir <kernel modules>
    /// --compress zstd --no-check <extra…>` (the image is for the VM, not this host, so
    /// this host's checks do not apply) and returns the image's path. Its output goes to
    /// `<dir>/sesame-build.log`, and into the error if it fails.
    pub fn initramfs(&self, extra: &[&str]) -> Result<PathBuf> {
        let out_path = self.dir.join("initrd.img");
        let mut cmd = Command::new(&self.sesame);
        cmd.arg("build")
            .arg("--output")
            .arg(&out_path)
            .arg("--modules-dir")
            .arg(&self.kernel.modules_dir)
            .args(["--compress", "zstd", "--no-check"])
            .arg("--host-key")
            .arg(self.host_key()?)
            .args(extra);
        let shown = format!("{cmd:?}");
        let out = cmd.output().with_context(|| format!("running {shown}"))?;
        let text = format!(
            "$ {shown}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::write(self.dir.join("sesame-build.log"), &text);
        if !out.status.success() {
            bail!("building the initramfs failed ({}):\n{text}", out.status);
        }
        if !out_path.is_file() {
            bail!(
                "`sesame build` succeeded but wrote no {} (a stale binary? rebuild it with \
                 `cargo xtask build`):\n{text}",
                out_path.display()
            );
        }
        Ok(out_path)
    }

    /// The test's own SSH host key (never the machine's, never generated into /etc).
    pub fn host_key(&self) -> Result<PathBuf> {
        let path = self.dir.join("ssh_host_ed25519_key");
        if !path.exists() {
            require_tools(&["ssh-keygen"])?;
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "sesame-test", "-f"])
                .arg(&path)
                .status()
                .context("running ssh-keygen")?;
            if !status.success() {
                bail!("ssh-keygen failed ({status})");
            }
        }
        Ok(path)
    }

    /// A file in the test's directory holding `text` (configs, crypttabs, keys).
    pub fn write(&self, name: &str, text: impl AsRef<[u8]>) -> Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    }

    /// An ext4 filesystem from `root` encrypted with `luks`: (image, LUKS UUID, UUID of
    /// the filesystem inside).
    pub fn encrypted(
        &self,
        name: &str,
        root: &RootFs,
        size_mib: u64,
        luks: &LuksOptions,
    ) -> Result<(PathBuf, String, String)> {
        let image = self.dir.join(name);
        let fs_uuid = root.ext4_image(&image, size_mib, None)?;
        let luks_uuid = luks_encrypt(&image, luks)?;
        Ok((image, luks_uuid, fs_uuid))
    }

    /// The marker root, encrypted with `passphrase` (cheap PBKDF2): (image, LUKS UUID,
    /// filesystem UUID).
    pub fn encrypted_marker_root(&self, passphrase: &str) -> Result<(PathBuf, String, String)> {
        self.encrypted(
            "root.img",
            &RootFs::new()?,
            64,
            &LuksOptions::new(passphrase),
        )
    }

    /// An SSH client with a key of its own (`<dir>/<name>`), for a VM's forwarded port.
    pub fn ssh_client(&self, name: &str, vm: &Vm) -> Result<SshClient> {
        let port = vm
            .ssh_port()
            .context("the VM has no SSH forward (Nic::User { ssh: true })")?;
        SshClient::new(&self.dir, name, port)
    }

    /// The authorized_keys file for `clients` (one line each, with options if given).
    pub fn authorized_keys(&self, clients: &[(&SshClient, &str)]) -> Result<PathBuf> {
        let mut text = String::new();
        for (c, options) in clients {
            if !options.is_empty() {
                text.push_str(options);
                text.push(' ');
            }
            text.push_str(&c.public_key()?);
            text.push('\n');
        }
        self.write("authorized_keys", text)
    }

    /// A root filesystem with the marker as `/sbin/init`, as the ext4 image
    /// `<dir>/<name>` of `size_mib` MiB; returns (image, filesystem UUID).
    pub fn marker_root(&self, name: &str, size_mib: u64) -> Result<(PathBuf, String)> {
        let root = RootFs::new()?;
        let image = self.dir.join(name);
        let uuid = root.ext4_image(&image, size_mib, None)?;
        Ok((image, uuid))
    }

    /// A VM configuration booting `initrd` on the fixture's kernel, logging into the
    /// test's directory.
    pub fn vm_config(&self, initrd: &Path) -> VmConfig {
        VmConfig::new(self.kernel.clone(), initrd, &self.dir)
    }
}

/// `<target>/<profile>/e2e/<test_name>` next to the test executable (or
/// `$SESAME_TEST_DIR/<test_name>`), emptied first and kept afterwards so a failed test's
/// console log can be read.
pub fn test_dir(test_name: &str) -> Result<PathBuf> {
    let base = match std::env::var_os("SESAME_TEST_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().context("finding the test executable")?;
            // <target>/<profile>/deps/<test>-<hash>
            exe.parent()
                .filter(|d| d.ends_with("deps"))
                .and_then(Path::parent)
                .map(|p| p.join("e2e"))
                .unwrap_or_else(|| std::env::temp_dir().join("sesame-e2e"))
        }
    };
    let dir = base.join(test_name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Waits for the marker's report, parses it, and waits for the power-off that follows.
pub fn boot_to_marker(vm: &Vm) -> Result<Value> {
    vm.wait_for_console("SESAME-MARKER-END", BOOT_TIMEOUT)
        .context("the real root's init (the marker) never reported")?;
    eprintln!("QEMU start -> marker: {:.2?}", vm.elapsed());
    let marker = parse_marker(&vm.console_log())?;
    let status = vm.wait_exit(Duration::from_secs(60))?;
    if !status.success() {
        bail!(
            "QEMU exited with {status} after the marker{}",
            vm.diagnostics()
        );
    }
    Ok(marker)
}

/// Waits for a console line holding `pattern` for which `accept` is true (skipping, for
/// example, the kernel's own echo of its command line); returns that line.
pub fn wait_for_line(
    vm: &Vm,
    pattern: &str,
    accept: impl Fn(&str) -> bool,
    timeout: Duration,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let mut from = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = vm
            .wait_for_console_from(from, pattern, left)
            .with_context(|| format!("no acceptable console line with `{pattern}`"))?;
        if accept(&m.line) {
            return Ok(m.line);
        }
        from = m.end;
    }
}

/// True for the lines in which the kernel repeats its command line (`Command line: …` at
/// 0.000000, `Kernel command line: …`, `Unknown kernel command line parameters …`).
pub fn is_kernel_cmdline_echo(line: &str) -> bool {
    line.contains("Command line: ")
        || line.contains("Kernel command line: ")
        || line.contains("Unknown kernel command line")
}

/// The mount of `target` in the marker's report, if any (the last one wins).
pub fn mount_of<'a>(marker: &'a Value, target: &str) -> Option<&'a Value> {
    marker["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["target"] == target)
}

/// Fails when `secret` appears anywhere sesame writes: the console log (which also
/// carries every kmsg line the kernel echoed) and the kmsg dump the marker made
/// (`sesame.marker.kmsg=1`).
pub fn assert_secret_absent(vm: &Vm, secret: &str) -> Result<()> {
    let console = vm.console_log();
    if console.contains(secret) {
        bail!(
            "the secret appears in the console log {}",
            vm.console_log_path().display()
        );
    }
    if let Some(kmsg) = parse_marker_kmsg(&console) {
        if kmsg.contains(secret) {
            bail!("the secret appears in /dev/kmsg");
        }
    }
    Ok(())
}

/// Counts the console lines holding `pattern` (e.g. how many prompts were shown).
pub fn count_lines(vm: &Vm, pattern: &str) -> usize {
    vm.console_log()
        .lines()
        .filter(|l| l.contains(pattern))
        .count()
}

// ---------------------------------------------------------------------------------------
// Fault tests and secrets (tests/faults.rs, tests/secrets.rs): the binary with test hooks,
// and grepping every log sesame produces for key material.
// ---------------------------------------------------------------------------------------

/// What sesame prints when it waits for an operator on the console.
pub const COMMANDS_PROMPT: &str = "sesame: commands:";

impl Fixture {
    /// Like [`Fixture::new`], but the initramfs is built by the `sesame` with test hooks
    /// (`rd.sesame.test.panic=<stage>`; `$SESAME_TEST_HOOKS_BIN`, which `cargo xtask test`
    /// sets).
    pub fn with_test_hooks(test_name: &str) -> Result<Fixture> {
        let mut fx = Fixture::new(test_name)?;
        fx.sesame = sesame_qemu::sesame_test_hooks_binary()?;
        Ok(fx)
    }
}

/// A named text an operator or the real system can read (a log, a JSON answer).
pub type NamedLog = (String, Vec<u8>);

/// What an operator reads over SSH while the box waits (before switch_root ends SSH):
/// `log`, `status --json`, `status` and `dmesg`. Fails if one of them fails.
pub fn ssh_logs(client: &SshClient) -> Result<Vec<NamedLog>> {
    let mut logs = Vec::new();
    for cmd in [&["log"][..], &["status", "--json"], &["status"], &["dmesg"]] {
        let out = client.run(cmd, None, Duration::from_secs(90))?;
        if !out.status.success() {
            bail!(
                "`ssh … {}` failed ({}): {}",
                cmd.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut text = out.stdout;
        text.extend_from_slice(&out.stderr);
        logs.push((format!("ssh {}", cmd.join(" ")), text));
    }
    Ok(logs)
}

/// Every log of `vm` there is: the raw console bytes (which carry every kmsg line the
/// kernel echoed and the marker's reports), the console cleaned, and from each marker
/// report the kmsg dump (`sesame.marker.kmsg=1`) and `/run/sesame/timeline.json`.
pub fn vm_logs(vm: &Vm) -> Result<Vec<NamedLog>> {
    let raw = std::fs::read(vm.console_log_path())
        .with_context(|| format!("reading {}", vm.console_log_path().display()))?;
    let console = vm.console_log();
    let mut logs = vec![
        ("console (raw)".to_string(), raw),
        ("console".to_string(), console.clone().into_bytes()),
    ];
    let kmsg_asked = console
        .lines()
        .any(|l| l.contains("Kernel command line:") && l.contains("sesame.marker.kmsg=1"));
    match parse_marker_kmsg(&console) {
        Some(kmsg) => logs.push(("/dev/kmsg (marker dump)".into(), kmsg.into_bytes())),
        None if kmsg_asked && console.contains("SESAME-MARKER-END") => {
            bail!("the marker ran with sesame.marker.kmsg=1 but dumped no /dev/kmsg")
        }
        None => {}
    }
    for (n, m) in sesame_qemu::parse_markers(&console)?.iter().enumerate() {
        let timeline = serde_json::to_vec(&m["timeline"])?;
        logs.push((format!("timeline.json (boot {})", n + 1), timeline));
    }
    Ok(logs)
}

/// The forms a secret could take in a log: its bytes, JSON-escaped, Rust-escaped, and
/// (for secrets of 12 bytes or more) every 12-byte piece, which catches a secret cut
/// short or split across a line.
fn secret_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(secret);
    let mut forms = vec![secret.to_vec()];
    let json = serde_json::to_string(&text).unwrap_or_default();
    forms.push(json.trim_matches('"').as_bytes().to_vec());
    forms.push(format!("{text:?}").trim_matches('"').as_bytes().to_vec());
    forms.push(text.escape_default().to_string().into_bytes());
    if secret.len() >= 12 {
        forms.extend(secret.windows(12).map(<[u8]>::to_vec));
    }
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Fails when any form of any secret appears in `logs`, naming the log and showing
/// where (the secret itself is not repeated in full). Returns the names checked.
pub fn assert_absent_in(logs: &[NamedLog], secrets: &[&[u8]]) -> Result<Vec<String>> {
    for secret in secrets {
        ensure_distinctive(secret)?;
        for form in secret_forms(secret) {
            for (name, text) in logs {
                if let Some(at) = find(text, &form) {
                    let from = at.saturating_sub(60);
                    let to = (at + form.len() + 60).min(text.len());
                    bail!(
                        "key material appears in {name} at byte {at}: …{}…",
                        String::from_utf8_lossy(&text[from..to])
                    );
                }
            }
        }
    }
    Ok(logs.iter().map(|(n, _)| n.clone()).collect())
}

/// A secret shorter than 8 bytes would match innocent text: the tests use longer ones.
fn ensure_distinctive(secret: &[u8]) -> Result<()> {
    if secret.len() < 8 {
        bail!("a test secret must be 8 bytes or more to be searched for");
    }
    Ok(())
}

/// [`assert_absent_in`] over [`vm_logs`] plus `ssh` (from [`ssh_logs`]); prints what was
/// searched.
pub fn assert_secrets_absent(vm: &Vm, ssh: &[NamedLog], secrets: &[&[u8]]) -> Result<()> {
    let mut logs = vm_logs(vm)?;
    logs.extend(ssh.iter().cloned());
    let names = assert_absent_in(&logs, secrets)?;
    eprintln!(
        "secrets: {} secret(s) absent from {}",
        secrets.len(),
        names.join(", ")
    );
    Ok(())
}

/// Types `line` on the console and waits for QEMU to exit (poweroff, or reboot under
/// -no-reboot), checking the kernel did not panic.
pub fn console_and_exit(vm: &Vm, line: &str) -> Result<()> {
    vm.send_console(format!("{line}\r").as_bytes())?;
    let status = vm.wait_exit(Duration::from_secs(90))?;
    if vm.console_log().contains("Kernel panic") {
        bail!("the kernel panicked:{}", vm.diagnostics());
    }
    if !status.success() {
        bail!("QEMU exited with {status}{}", vm.diagnostics());
    }
    Ok(())
}

/// Whether the marker saw an interface administratively up (`IFF_UP` in its
/// `/sys/class/net/*/flags`). This is what sesame controls; `operstate` follows the
/// carrier through the kernel's link watcher, which may lag by up to a second, so a test
/// that reads it right after switch_root can see "down" on a link that is up. (A link
/// set down reads "down" at once: sysfs reports any link not running as down.)
pub fn admin_up(iface: &Value) -> Option<bool> {
    let flags = iface["flags"].as_str()?;
    let bits = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
    Some(bits & 0x1 != 0)
}

/// Waits for a console line holding `pattern` (not the kernel's echo of its command line)
/// and for that line to end — the kernel may print a long line in pieces; returns the
/// last such whole line.
pub fn wait_for_whole_line(vm: &Vm, pattern: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    wait_for_line(vm, pattern, |l| !is_kernel_cmdline_echo(l), timeout)?;
    loop {
        let log = vm.console_log();
        let complete = log.rfind('\n').map_or("", |i| &log[..i]);
        if let Some(l) = complete
            .lines()
            .rev()
            .find(|l| l.contains(pattern) && !is_kernel_cmdline_echo(l))
        {
            return Ok(l.to_string());
        }
        if Instant::now() > deadline {
            bail!(
                "the console line with `{pattern}` never ended{}",
                vm.diagnostics()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
