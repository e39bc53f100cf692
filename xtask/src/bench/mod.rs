//! `cargo xtask bench [--rounds N] [--no-argon2]`: sesame against Debian's standard
//! remote-unlock stack (initramfs-tools + cryptsetup-initramfs + dropbear-initramfs, set up
//! by `bench/debian.sh` in a throwaway debootstrap'd chroot in the cache) on the same
//! Debian cloud kernel, the same QEMU flags (TCG, q35), the same LUKS2 disks and the same
//! marker root, boots interleaved A B A B, and prints a table of medians, min–max and
//! sesame/Debian. It measures and prints; it asserts nothing about time, and no test or
//! CI job runs it. What it cannot measure it says, in the table (`–`) and under "Problems".
//!
//! This file holds the run's order; `inputs` prepares what both systems boot (figure 5
//! too), `boot` times the VMs (figures 1, 2, 4), `table` and `report` print.

mod boot;
mod inputs;
mod report;
mod table;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sesame_qemu::{initramfs_stats, GuestMemory};

use boot::{Boot, Vms};
use table::Samples;

/// The two systems measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum System {
    Sesame,
    Debian,
}

impl System {
    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Sesame => "sesame",
            System::Debian => "Debian",
        }
    }
}

/// Which disk a boot unlocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kdf {
    /// PBKDF2, 1000 iterations: the unlock path without the KDF's cost.
    Cheap,
    /// cryptsetup's default Argon2id, benchmarked on this host.
    Argon2,
}

struct Opts {
    rounds: usize,
    argon2: bool,
}

const USAGE: &str = "usage: cargo xtask bench [--rounds N] [--no-argon2]";

fn parse_args(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        rounds: 3,
        argon2: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => {
                let n = it.next().context("--rounds needs a number")?;
                o.rounds = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--rounds {n}: not a positive number"))?;
            }
            "--no-argon2" => o.argon2 = false,
            other => bail!("unknown bench option `{other}`; {USAGE}"),
        }
    }
    Ok(o)
}

/// A B in even rounds, B A in odd ones.
fn order(round: usize) -> [System; 2] {
    if round % 2 == 0 {
        [System::Sesame, System::Debian]
    } else {
        [System::Debian, System::Sesame]
    }
}

pub fn bench(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    let started = Instant::now();
    let load_before = report::loadavg();
    let mut problems: Vec<String> = Vec::new();
    let mut samples = Samples::default();

    let inputs = inputs::prepare(opts.argon2)?;
    if let Err(e) = &inputs.debian {
        problems.push(format!(
            "the Debian baseline could not be set up, so it is not measured: {e}"
        ));
    }
    // Figure 5, interleaved; the images of the last round are the ones booted.
    let images = inputs::build_images(&inputs, opts.rounds, &mut samples, &mut problems)?;

    let mut vms = Vms::new(&inputs, &images);
    let mut first_mem: BTreeMap<System, GuestMemory> = BTreeMap::new();
    let mut raw = report::boots_header();
    for r in 0..opts.rounds {
        eprintln!("xtask bench: round {}/{}", r + 1, opts.rounds);
        match vms.floor() {
            Ok(s) => samples.add("floor", System::Sesame, s),
            Err(e) => problems.push(format!("round {}: kernel alone: {e:#}", r + 1)),
        }
        let mut kdfs = vec![Kdf::Cheap];
        if inputs.disk_argon2.is_some() {
            kdfs.push(Kdf::Argon2);
        }
        for kdf in kdfs {
            for system in order(r) {
                if !vms.can_boot(system) {
                    continue;
                }
                let what = format!("round {} {} {kdf:?}", r + 1, system.name());
                eprintln!("xtask bench: {what}");
                match vms.boot(system, kdf) {
                    Ok(b) => {
                        record(&mut samples, system, kdf, &b);
                        if let Some(m) = &b.mem {
                            first_mem.entry(system).or_insert_with(|| m.clone());
                        }
                        raw.push_str(&report::boots_row(r + 1, system, kdf, &b));
                        problems.extend(b.notes.iter().map(|n| format!("{what}: {n}")));
                    }
                    Err(e) => problems.push(format!("{what}: {e:#}")),
                }
            }
        }
    }
    std::fs::write(inputs.dir.join("boots.tsv"), &raw)?;

    let sesame_stats = initramfs_stats(&images.sesame)?;
    let debian_stats = match &images.debian {
        Some(p) => Some(initramfs_stats(p)?),
        None => None,
    };
    let binary_bytes = std::fs::metadata(&inputs.sesame_bin)
        .with_context(|| format!("reading {}", inputs.sesame_bin.display()))?
        .len();
    let summary = report::Summary {
        samples: &samples,
        sesame: &sesame_stats,
        debian: debian_stats.as_ref(),
        binary_bytes,
        argon2_params: inputs.argon2_params.as_deref(),
        first_mem: &first_mem,
        raw: &raw,
        problems: &problems,
        kernel: &inputs.kernel,
        load_before: &load_before,
        dir: &inputs.dir,
        command: format!("cargo xtask bench {}", args.join(" "))
            .trim_end()
            .into(),
        boots: vms.boots(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let text = report::render(&summary);
    std::fs::write(inputs.dir.join("report.txt"), &text)?;
    println!("{text}");

    for system in [System::Sesame, System::Debian] {
        if samples.get("unlock_cheap", system).is_empty() {
            bail!(
                "no {} boot reached its real root; see the problems above and the logs in {}",
                system.name(),
                inputs.dir.display()
            );
        }
    }
    Ok(())
}

/// Files one boot's figures. Figures 1 and 4 come from the PBKDF2 boots only (the Argon2id
/// boots have more memory, for the KDF); the Argon2id boots add their unlock time and the
/// largest peak RSS, which then holds the KDF's memory (in sesame's PID 1, which unlocks
/// in-process, or in Debian's `cryptsetup`).
fn record(s: &mut Samples, system: System, kdf: Kdf, b: &Boot) {
    let kib_to_mib = |v: u64| v as f64 / 1024.0;
    match kdf {
        Kdf::Cheap => {
            if let Some(v) = b.banner_s {
                s.add("banner", system, v);
            }
            if let Some(v) = b.unlock_s {
                s.add("unlock_cheap", system, v);
            }
            if let Some(v) = b.ssh_rtt_s {
                s.add("ssh_rtt", system, v);
            }
            if let Some(m) = &b.mem {
                s.add("mem_in_use", system, kib_to_mib(m.in_use_kib()));
                s.add("mem_allocated", system, kib_to_mib(m.allocated_kib()));
            }
            if let Some(v) = b.rss_self_kib {
                s.add("rss_self", system, kib_to_mib(v));
            }
            if let Some(v) = b.rss_largest_kib() {
                s.add("rss_largest", system, kib_to_mib(v));
            }
        }
        Kdf::Argon2 => {
            if let Some(v) = b.unlock_s {
                s.add("unlock_argon2", system, v);
            }
            if let Some(v) = b.rss_largest_kib() {
                s.add("rss_largest_argon2", system, kib_to_mib(v));
            }
        }
    }
}
