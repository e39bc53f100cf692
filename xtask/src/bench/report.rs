//! The bench's printed report: the table, the machine it ran on, where each image's bytes
//! go, the memory breakdown, every boot's raw figures (also `boots.tsv`), the problems,
//! and the command that produced it all.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use sesame_qemu::{GuestMemory, InitramfsStats, Kernel};

use super::boot::{Boot, APPEND, ARGON2_MEMORY_MIB, MEMORY_MIB};
use super::table::{table, Samples};
use super::{Kdf, System};

/// Everything the report is made of.
pub(crate) struct Summary<'a> {
    pub samples: &'a Samples,
    pub sesame: &'a InitramfsStats,
    pub debian: Option<&'a InitramfsStats>,
    pub binary_bytes: u64,
    pub argon2_params: Option<&'a str>,
    pub first_mem: &'a BTreeMap<System, GuestMemory>,
    pub raw: &'a str,
    pub problems: &'a [String],
    pub kernel: &'a Kernel,
    pub load_before: &'a str,
    pub dir: &'a Path,
    pub command: String,
    pub boots: usize,
    pub seconds: f64,
}

pub(crate) fn render(s: &Summary) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "{}",
        table(
            s.samples,
            s.sesame,
            s.debian,
            s.binary_bytes,
            s.argon2_params.is_some()
        )
    );
    let _ = writeln!(r, "{}", machine(s.load_before, &loadavg(), s.kernel));
    if let Some(p) = s.argon2_params {
        let _ = writeln!(
            r,
            "Default Argon2id keyslot (cryptsetup's benchmark on this host): {p}"
        );
    }
    let _ = writeln!(
        r,
        "\nWhere the bytes go (regular files, unpacked):\n{}",
        breakdown(s.sesame, s.debian)
    );
    for (system, m) in s.first_mem {
        let _ = writeln!(
            r,
            "{}, first boot, before unlock: {}",
            system.name(),
            describe_mem(m)
        );
    }
    let _ = writeln!(
        r,
        "\nEvery boot (also in {}):\n{}",
        s.dir.join("boots.tsv").display(),
        s.raw
    );
    if s.problems.is_empty() {
        let _ = writeln!(r, "Problems: none.");
    } else {
        let _ = writeln!(r, "Problems ({}):", s.problems.len());
        for p in s.problems {
            let _ = writeln!(r, "- {p}");
        }
    }
    let _ = writeln!(
        r,
        "\nCommand: {}  ({} VMs, {:.0} s in all; logs in {})",
        s.command,
        s.boots,
        s.seconds,
        s.dir.display()
    );
    r
}

pub(crate) fn boots_header() -> String {
    "round\tsystem\tdisk\tbanner_s\tunlock_s\tssh_rtt_s\tin_use_kib(sysrq)\t\
     in_use_kib(meminfo)\tpid1_maxrss_kib\tchildren_maxrss_kib\tguest_unlock_s\n"
        .into()
}

/// One line of `boots.tsv`; `-` for what the boot did not measure.
pub(crate) fn boots_row(round: usize, system: System, kdf: Kdf, b: &Boot) -> String {
    let secs = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let kib = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    format!(
        "{round}\t{}\t{kdf:?}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
        system.name(),
        secs(b.banner_s),
        secs(b.unlock_s),
        secs(b.ssh_rtt_s),
        kib(b.mem.as_ref().map(GuestMemory::in_use_kib)),
        kib(b.meminfo_in_use_kib),
        kib(b.rss_self_kib),
        kib(b.rss_children_kib),
        secs(b.guest_unlock_s),
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn describe_mem(m: &GuestMemory) -> String {
    format!(
        "MemTotal {:.1} MiB, MemFree {:.1}, MemAvailable {:.1}; of the {:.1} MiB in use: \
         kernel watermark reserve {:.1} (the same for both), unevictable (the unpacked \
         initramfs) {:.1}, anonymous {:.1}, slab {:.1}",
        mib(m.total_kib),
        mib(m.free_kib),
        mib(m.available_kib),
        mib(m.in_use_kib()),
        mib(m.reserve_kib),
        mib(m.unevictable_kib),
        mib(m.anon_kib),
        mib(m.slab_kib)
    )
}

fn breakdown(se: &InitramfsStats, de: Option<&InitramfsStats>) -> String {
    let is_module = |p: &str| p.contains("/modules/") && (p.ends_with(".ko") || p.contains(".ko."));
    let b_mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut out = String::new();
    let mut images = vec![("sesame", se)];
    images.extend(de.map(|d| ("Debian", d)));
    for (name, st) in images {
        let (mb, mn) = st.sum_where(is_module);
        let (all, n) = st.sum_where(|_| true);
        let _ = writeln!(
            out,
            "  {name}: {n} files, {:.2} MiB; kernel modules {mn} files {:.2} MiB; archives: {}",
            b_mib(all),
            b_mib(mb),
            st.segments.join(" + ")
        );
        let mut files = st.files.clone();
        files.sort_by_key(|f| std::cmp::Reverse(f.size));
        let top: Vec<String> = files
            .iter()
            .take(6)
            .map(|f| format!("{} {:.2}", f.path, b_mib(f.size)))
            .collect();
        let _ = writeln!(out, "    largest (MiB): {}", top.join(", "));
        let groups: Vec<String> = st
            .by_prefix(2)
            .iter()
            .take(6)
            .map(|(p, b, n)| format!("{p}/ {:.2} ({n})", b_mib(*b)))
            .collect();
        let _ = writeln!(out, "    by directory (MiB, files): {}", groups.join(", "));
    }
    out
}

/// The host's 1, 5 and 15 minute load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

fn machine(before: &str, after: &str, kernel: &Kernel) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let qemu = first_line("qemu-system-x86_64", &["--version"]);
    let date = first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    format!(
        "{date}; {cores} cores ({cpu}); load average before {before}, after {after}; \
         {qemu}; guest kernel {} (TCG, q35, -cpu max, 1 vCPU, {MEMORY_MIB} MiB, \
         {ARGON2_MEMORY_MIB} MiB for the Argon2id boots); kernel command line `{APPEND}` \
         for both",
        kernel.version
    )
}
