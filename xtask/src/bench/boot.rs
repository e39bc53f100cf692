//! The VMs of the bench and what each boot measures (figures 1, 2 and 4):
//! - QEMU start → the first `SSH-2.0-` banner read from the forwarded port (a real TCP
//!   client polling every 20 ms), beside the kernel alone (no initramfs) reaching
//!   "VFS: Unable to mount root".
//! - Passphrase → real root: `ssh` is started with the passphrase on its stdin (`unlock`
//!   for sesame, `cryptroot-unlock` for Debian) and the clock stops when the marker's
//!   report starts on the console.
//! - Memory before unlock: SysRq-M through QEMU's monitor once the passphrase is asked
//!   for, `MemTotal − MemAvailable` computed from the kernel's report
//!   (`sesame_qemu::guest_memory`), checked against Debian's own /proc/meminfo read
//!   through its shell. PID 1's peak RSS: `bench/probe.rs` runs as `init=` after
//!   switch_root and prints `getrusage(RUSAGE_SELF).ru_maxrss` (kept across execve).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use sesame_qemu::{
    guest_memory, meminfo_in_use_kib, parse_marker, printk_console_loglevel, Disk, GuestMemory,
    Kernel, Nic, SshClient, Vm, VmConfig, DEFAULT_CONSOLE_LOGLEVEL,
};

use super::inputs::{Images, Inputs, PASS};
use super::{Kdf, System};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const CMD_TIMEOUT: Duration = Duration::from_secs(120);
/// Unlocking the default Argon2id keyslot under TCG takes a while.
const UNLOCK_TIMEOUT: Duration = Duration::from_secs(900);
/// The harness's default guest memory.
pub(crate) const MEMORY_MIB: u32 = 512;
/// Guests unlocking cryptsetup's default Argon2id keyslot: it asks for up to 1 GiB.
pub(crate) const ARGON2_MEMORY_MIB: u32 = 2048;
/// The same kernel command line for both systems (Debian reads the volume from its
/// crypttab; sesame got the same crypttab at build time).
pub(crate) const APPEND: &str =
    "ip=dhcp root=/dev/mapper/root init=/sbin/bench-probe sysrq_always_enabled";

impl System {
    /// The console line that says the passphrase is being waited for.
    fn ready(self) -> &'static str {
        match self {
            System::Sesame => "Passphrase for root",
            System::Debian => "Please unlock disk root",
        }
    }
    fn unlock(self) -> &'static [&'static str] {
        match self {
            System::Sesame => &["unlock"],
            System::Debian => &["cryptroot-unlock"],
        }
    }
    /// A command that does nothing, to time an SSH round trip (connect, key exchange,
    /// authentication, one command).
    fn trivial(self) -> &'static [&'static str] {
        match self {
            System::Sesame => &["status"],
            System::Debian => &["true"],
        }
    }
}

/// What one boot measured.
#[derive(Default)]
pub(crate) struct Boot {
    pub banner_s: Option<f64>,
    pub mem: Option<GuestMemory>,
    pub meminfo_in_use_kib: Option<u64>,
    pub ssh_rtt_s: Option<f64>,
    pub unlock_s: Option<f64>,
    pub rss_self_kib: Option<u64>,
    pub rss_children_kib: Option<u64>,
    /// sesame's own timeline: unlock requested → switch_root.
    pub guest_unlock_s: Option<f64>,
    /// What went wrong without spoiling the boot's other figures.
    pub notes: Vec<String>,
}

impl Boot {
    /// The largest peak RSS of PID 1 and every process it (or its reaped children) reaped:
    /// sesame does everything in PID 1, Debian's work is in the processes its shell runs.
    pub(crate) fn rss_largest_kib(&self) -> Option<u64> {
        Some(self.rss_self_kib?.max(self.rss_children_kib?))
    }
}

/// Starts the bench's VMs, each in its own numbered directory of the run.
pub(crate) struct Vms {
    dir: PathBuf,
    kernel: Kernel,
    operator: SshClient,
    sesame_image: PathBuf,
    debian_image: Option<PathBuf>,
    disk_cheap: PathBuf,
    disk_argon2: Option<PathBuf>,
    boots: usize,
}

impl Vms {
    pub(crate) fn new(inputs: &Inputs, images: &Images) -> Vms {
        Vms {
            dir: inputs.dir.clone(),
            kernel: inputs.kernel.clone(),
            operator: inputs.operator.clone(),
            sesame_image: images.sesame.clone(),
            debian_image: images.debian.clone(),
            disk_cheap: inputs.disk_cheap.clone(),
            disk_argon2: inputs.disk_argon2.clone(),
            boots: 0,
        }
    }

    /// VMs started so far.
    pub(crate) fn boots(&self) -> usize {
        self.boots
    }

    pub(crate) fn can_boot(&self, system: System) -> bool {
        system == System::Sesame || self.debian_image.is_some()
    }

    fn next_dir(&mut self, what: &str) -> Result<PathBuf> {
        self.boots += 1;
        let d = self.dir.join(format!("{:02}-{what}", self.boots));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    }

    /// A VM with a fresh copy of `disk`, user networking with SSH forwarded.
    fn config(&self, initrd: &Path, disk: &Path, work: &Path, memory: u32) -> Result<VmConfig> {
        let copy = work.join("root.img");
        std::fs::copy(disk, &copy).with_context(|| format!("copying {}", disk.display()))?;
        let mut cfg = VmConfig::new(self.kernel.clone(), initrd, work);
        cfg.memory_mib = memory;
        cfg.disks.push(Disk::new("root", &copy));
        cfg.nic = Some(Nic::User { ssh: true });
        cfg.append = APPEND.into();
        Ok(cfg)
    }

    /// QEMU start → the kernel alone (no initramfs) panics for want of a root.
    pub(crate) fn floor(&mut self) -> Result<f64> {
        let work = self.next_dir("floor")?;
        let disk = self.disk_cheap.clone();
        let mut cfg = self.config(Path::new(""), &disk, &work, MEMORY_MIB)?;
        cfg.append = "root=/dev/nonexistent".into();
        let vm = Vm::start(cfg)?;
        vm.wait_for_console("Unable to mount root", BOOT_TIMEOUT)?;
        Ok(vm.elapsed().as_secs_f64())
    }

    pub(crate) fn boot(&mut self, system: System, kdf: Kdf) -> Result<Boot> {
        let work = self.next_dir(&format!("{}-{kdf:?}", system.name()).to_lowercase())?;
        let (disk, memory) = match (kdf, &self.disk_argon2) {
            (Kdf::Cheap, _) => (self.disk_cheap.clone(), MEMORY_MIB),
            (Kdf::Argon2, Some(d)) => (d.clone(), ARGON2_MEMORY_MIB),
            (Kdf::Argon2, None) => bail!("no Argon2id disk"),
        };
        let image = match system {
            System::Sesame => self.sesame_image.clone(),
            System::Debian => self.debian_image.clone().context("no Debian image")?,
        };
        let cfg = self.config(&image, &disk, &work, memory)?;
        let vm = Vm::start(cfg)?;
        let port = vm.ssh_port().context("no SSH port")?;
        let mut client = self.operator.with_port(port);
        client.known_hosts = work.join("known_hosts");
        let mut b = Boot::default();

        client.wait_banner(BOOT_TIMEOUT)?;
        b.banner_s = Some(vm.elapsed().as_secs_f64());
        vm.wait_for_console(system.ready(), BOOT_TIMEOUT)?;
        if kdf == Kdf::Cheap {
            measure_before_unlock(&vm, &client, system, &mut b)?;
        }
        unlock(&vm, &client, system, &mut b)?;
        let _ = vm.wait_exit(Duration::from_secs(60));
        Ok(b)
    }
}

/// Figure 4's memory and the SSH round trip, while the passphrase is asked for.
fn measure_before_unlock(vm: &Vm, client: &SshClient, system: System, b: &mut Boot) -> Result<()> {
    // The console log level to put back after the report: Debian's initramfs lowers it
    // (read it through its shell, with /proc/meminfo to check the report against); sesame
    // never writes it (init/src/logger.rs only reads it) and the command line has no
    // `quiet` or `loglevel=`, so it is the kernel's default.
    let level = match system {
        System::Sesame => DEFAULT_CONSOLE_LOGLEVEL,
        System::Debian => {
            let (out, _) = ssh_retrying(
                client,
                &["cat", "/proc/sys/kernel/printk", "/proc/meminfo"],
                &mut b.notes,
            )?;
            let text = String::from_utf8_lossy(&out.stdout);
            b.meminfo_in_use_kib = meminfo_in_use_kib(&text);
            printk_console_loglevel(&text).context("no console log level in Debian's printk")?
        }
    };
    b.mem = Some(guest_memory(vm, level, Duration::from_secs(60))?);
    let (_, took) = ssh_retrying(client, system.trivial(), &mut b.notes)?;
    b.ssh_rtt_s = Some(took);
    Ok(())
}

/// Runs a command that changes nothing over SSH; returns its output and how long the
/// successful attempt took. A connection the server closes before its banner (exit 255,
/// seen now and then from Debian's dropbear under load) is tried again, up to 3 times in
/// all, and noted.
fn ssh_retrying(
    client: &SshClient,
    command: &[&str],
    notes: &mut Vec<String>,
) -> Result<(std::process::Output, f64)> {
    let shown = command.join(" ");
    for attempt in 1..=3 {
        let t = Instant::now();
        let out = client.run(command, None, CMD_TIMEOUT)?;
        let took = t.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.success() {
            return Ok((out, took));
        }
        if out.status.code() == Some(255) && attempt < 3 {
            notes.push(format!(
                "`ssh {shown}` attempt {attempt} failed ({stderr}); tried again"
            ));
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        bail!("`ssh {shown}` failed ({:?}): {stderr}", out.status.code());
    }
    bail!("`ssh {shown}` failed 3 times")
}

/// Passphrase → the real root's marker (figure 2), then what the marker and the probe say.
fn unlock(vm: &Vm, client: &SshClient, system: System, b: &mut Boot) -> Result<()> {
    let mark = vm.console_mark();
    let unlocker = client.clone();
    let command = system.unlock();
    let t = Instant::now();
    let ssh =
        std::thread::spawn(move || unlocker.run(command, Some(PASS.as_bytes()), UNLOCK_TIMEOUT));
    let reached = vm.wait_for_console_from(mark, "SESAME-MARKER-BEGIN", UNLOCK_TIMEOUT);
    let took = t.elapsed().as_secs_f64();
    let ssh = ssh.join();
    reached.context("the real root's marker never reported after the passphrase")?;
    b.unlock_s = Some(took);
    match ssh {
        Ok(Ok(out)) if out.status.success() => {}
        Ok(Ok(out)) => b.notes.push(format!(
            "`ssh {}` exited {:?} (the marker came anyway): {}",
            command.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Err(e)) => b.notes.push(format!("`ssh {}`: {e:#}", command.join(" "))),
        Err(_) => b.notes.push("the ssh thread panicked".into()),
    }
    vm.wait_for_console_from(mark, "SESAME-MARKER-END", BOOT_TIMEOUT)?;
    let console = vm.console_log();
    let marker = parse_marker(&console)?;
    ensure!(
        marker["pid"] == 1 && marker["root_fs"] == "ext4",
        "the marker did not run as PID 1 on the ext4 root: pid {} root {}",
        marker["pid"],
        marker["root"]
    );
    match console.lines().find_map(parse_rusage) {
        Some((own, children)) => {
            b.rss_self_kib = Some(own);
            b.rss_children_kib = Some(children);
        }
        None => b
            .notes
            .push("no SESAME-BENCH-RUSAGE line from the probe".into()),
    }
    let mark_t = |event: &str| {
        marker["timeline"]["marks"]
            .as_array()?
            .iter()
            .find(|e| e["event"] == event)?["t"]
            .as_f64()
    };
    if let (Some(a), Some(s)) = (mark_t("unlock_requested"), mark_t("switch_root")) {
        b.guest_unlock_s = Some(s - a);
    }
    Ok(())
}

/// `SESAME-BENCH-RUSAGE pid=1 self_maxrss_kib=N children_maxrss_kib=M` (the probe's line)
/// → (N, M).
fn parse_rusage(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("SESAME-BENCH-RUSAGE ")?..];
    let field = |k: &str| {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("self_maxrss_kib=")?, field("children_maxrss_kib=")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_probe_line() {
        let l = "[ 3.1] SESAME-BENCH-RUSAGE pid=1 self_maxrss_kib=10836 children_maxrss_kib=0";
        assert_eq!(parse_rusage(l), Some((10836, 0)));
    }

    #[test]
    fn refuses_a_broken_probe_line() {
        assert_eq!(parse_rusage("nothing here"), None);
        assert_eq!(
            parse_rusage("SESAME-BENCH-RUSAGE pid=1 self_maxrss_kib=-1 children_maxrss_kib=0"),
            None
        );
        assert_eq!(
            parse_rusage("SESAME-BENCH-RUSAGE pid=1 self_maxrss_kib=12"),
            None
        );
    }
}
