//! `cargo xtask fuzz [--seconds N] [target…]`: runs every cargo-fuzz target (nightly) for
//! N seconds and prints executions, executions per second and coverage per target — for a
//! target that crashed too; a crash fails the run and leaves its input under
//! fuzz/artifacts/ to be turned into a unit test. `cargo xtask test` runs the same for a
//! short time after the other tests.
//!
//! Each target reads two corpus directories: `fuzz/corpus/<target>` (what libFuzzer
//! found; not versioned, new inputs land there) and `fuzz/seeds/<target>` (hand-made
//! seeds, versioned: valid archives, DHCP replies, uevents… that random bytes would take
//! long to reach).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::workspace_root;

/// Seconds per target when `cargo xtask test` runs them.
pub const TEST_SECONDS: u64 = 20;

/// The `[[bin]]` names of fuzz/Cargo.toml.
fn targets() -> Result<Vec<String>> {
    let path = workspace_root().join("fuzz/Cargo.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "sesame-fuzz")
        .map(str::to_string)
        .collect())
}

/// Fails loudly without the nightly toolchain; installs cargo-fuzz when it is missing.
pub fn ensure_tools() -> Result<()> {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !nightly {
        bail!(
            "the nightly toolchain is missing; fuzzing needs it (sanitizers, -Z flags): \
             run `rustup toolchain install nightly`"
        );
    }
    let ok = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz");
    crate::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
        .context("cargo-fuzz is needed: `cargo install cargo-fuzz --locked` failed")
}

/// Where the fuzz builds go: beside the other builds, never in the static build's place.
fn fuzz_target_dir() -> PathBuf {
    crate::build::target_dir().join("fuzz")
}

pub fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--seconds takes a number")?
            }
            t => only.push(t.to_string()),
        }
    }
    ensure_tools()?;
    run_targets(seconds, &only)
}

/// Builds the targets once, then runs each (`only`, or all) for `seconds`, printing a
/// table; fails naming the targets that crashed.
pub fn run_targets(seconds: u64, only: &[String]) -> Result<()> {
    let all = targets()?;
    for t in only {
        if !all.contains(t) {
            bail!("no fuzz target `{t}`; the targets are: {}", all.join(", "));
        }
    }
    let chosen: Vec<String> = if only.is_empty() { all } else { only.to_vec() };
    let root = workspace_root();
    let target_dir = fuzz_target_dir();
    eprintln!(
        "xtask: building {} fuzz targets into {}",
        chosen.len(),
        target_dir.display()
    );
    crate::run(
        Command::new("cargo")
            .current_dir(&root)
            .args(["+nightly", "fuzz", "build", "-O", "--target-dir"])
            .arg(&target_dir),
    )?;
    let started = Instant::now();
    let mut failed = Vec::new();
    println!(
        "{:<24} {:>12} {:>10} {:>8} {:>8}  result",
        "target", "execs", "exec/s", "cov", "corpus"
    );
    for t in &chosen {
        let corpus = root.join("fuzz/corpus").join(t);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let seeds = root.join("fuzz/seeds").join(t);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&root)
            .args(["+nightly", "fuzz", "run", "-O", "--target-dir"])
            .arg(&target_dir)
            .arg(t)
            .arg(&corpus);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        let out = cmd
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // A parser that spends 10 s on one input hangs; say so instead of waiting.
            .arg("-timeout=10")
            .arg("-print_final_stats=1")
            .output()
            .with_context(|| format!("running fuzz target {t}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let stats = Stats::parse(&log);
        let result = if out.status.success() {
            "ok".to_string()
        } else {
            failed.push(t.clone());
            format!("FAILED ({})", stats.why.as_deref().unwrap_or("see above"))
        };
        println!(
            "{:<24} {:>12} {:>10} {:>8} {:>8}  {result}",
            t, stats.execs, stats.exec_per_sec, stats.cov, stats.corpus
        );
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
    }
    eprintln!(
        "xtask: {} fuzz targets ran {seconds} s each ({:.0} s in all)",
        chosen.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/<target>/; make each a unit \
             test in the crate with the bug, then fix it)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// What libFuzzer printed about a run: the final stats (printed on a crash too) and the
/// last status line's coverage.
#[derive(Debug, PartialEq, Eq)]
struct Stats {
    execs: String,
    exec_per_sec: String,
    cov: String,
    corpus: String,
    /// The crash kind (`deadly signal`, `timeout`, `out-of-memory`…), if any.
    why: Option<String>,
}

impl Stats {
    fn parse(log: &str) -> Stats {
        let stat = |name: &str| {
            log.lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix(name)?.trim().parse::<u64>().ok())
                .map(|n| n.to_string())
        };
        // `#1234	NEW    cov: 56 ft: 78 corp: 9/10b …` or `… DONE cov: …` or `pulse cov: …`
        let status = log.lines().rev().find(|l| l.contains(" cov: "));
        let field = |name: &str| {
            status.and_then(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == name)?;
                words.next().map(str::to_string)
            })
        };
        let from_status = status
            .and_then(|l| l.split_whitespace().next())
            .map(|w| w.trim_start_matches('#').to_string());
        let why = if log.contains("panicked at") {
            Some("panic".to_string())
        } else {
            log.lines()
                .find_map(|l| l.split_once("ERROR: libFuzzer: "))
                .map(|(_, w)| w.trim().to_string())
        };
        Stats {
            execs: stat("stat::number_of_executed_units:")
                .or(from_status)
                .unwrap_or_else(|| "?".into()),
            exec_per_sec: stat("stat::average_exec_per_sec:")
                .or_else(|| field("exec/s:"))
                .unwrap_or_else(|| "?".into()),
            cov: field("cov:").unwrap_or_else(|| "?".into()),
            corpus: field("corp:")
                .map(|c| c.split('/').next().unwrap_or("?").to_string())
                .unwrap_or_else(|| "?".into()),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_a_clean_run() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 45 ft: 46 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #65536\tpulse  cov: 300 ft: 900 corp: 80/2Kb lim: 600 exec/s: 21845 rss: 60Mb\n\
                   #70000\tDONE   cov: 310 ft: 950 corp: 85/2Kb lim: 600 exec/s: 3500 rss: 61Mb\n\
                   Done 70000 runs in 20 second(s)\n\
                   stat::number_of_executed_units: 70000\nstat::average_exec_per_sec:     3500\n";
        let s = Stats::parse(log);
        assert_eq!(s.execs, "70000");
        assert_eq!(s.exec_per_sec, "3500");
        assert_eq!(s.cov, "310");
        assert_eq!(s.corpus, "85");
        assert_eq!(s.why, None);
    }

    #[test]
    fn stats_of_a_crash() {
        let log = "#1000\tNEW    cov: 120 ft: 200 corp: 30/400b lim: 4 exec/s: 0 rss: 40Mb L: 3/3 MS: 1\n\
                   thread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\n\
                   ==1234== ERROR: libFuzzer: deadly signal\n\
                   stat::number_of_executed_units: 1017\nstat::average_exec_per_sec:     1017\n";
        let s = Stats::parse(log);
        assert_eq!(
            (s.execs.as_str(), s.exec_per_sec.as_str()),
            ("1017", "1017")
        );
        assert_eq!(s.cov, "120");
        assert_eq!(s.why.as_deref(), Some("panic"));
        let s = Stats::parse("==9== ERROR: libFuzzer: timeout after 10 seconds\n");
        assert_eq!(s.why.as_deref(), Some("timeout after 10 seconds"));
        assert_eq!(s.execs, "?");
    }
}
