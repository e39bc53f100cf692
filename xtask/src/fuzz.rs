//! `cargo xtask fuzz [--seconds N] [target…]`: runs every cargo-fuzz target (nightly) for
//! N seconds and prints executions per second and coverage; a crash fails the run and
//! leaves its input under fuzz/artifacts/ to be turned into a unit test.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::workspace_root;

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

fn ensure_cargo_fuzz() -> Result<()> {
    let ok = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz");
    crate::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"])).context(
        "cargo-fuzz is needed (and the nightly toolchain: rustup toolchain install nightly)",
    )
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
    ensure_cargo_fuzz()?;
    let all = targets()?;
    let chosen: Vec<String> = if only.is_empty() { all } else { only };
    let root = workspace_root();
    let mut failed = Vec::new();
    println!(
        "{:<18} {:>12} {:>8} {:>10}",
        "target", "execs", "cov", "exec/s"
    );
    for t in &chosen {
        let out = Command::new("cargo")
            .current_dir(&root)
            .args(["+nightly", "fuzz", "run", "-O", t, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .output()
            .with_context(|| format!("running fuzz target {t}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let done = log
            .lines()
            .rev()
            .find(|l| l.contains("DONE") || l.contains("pulse"));
        let field = |name: &str| {
            done.and_then(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == name)?;
                words.next().map(str::to_string)
            })
        };
        let execs = done
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("?")
            .trim_start_matches('#')
            .to_string();
        println!(
            "{:<18} {:>12} {:>8} {:>10}",
            t,
            execs,
            field("cov:").unwrap_or_else(|| "?".into()),
            field("exec/s:").unwrap_or_else(|| "?".into())
        );
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            failed.push(t.clone());
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/; make each a unit test)",
            failed.join(", ")
        );
    }
    Ok(())
}
