//! Developer commands, run as `cargo xtask <command>`:
//! `build` (the static binaries), `test` (every test, installing what is missing),
//! `demo` (boots the demo VM), `bench` (sesame against Debian's stack), `fuzz`.

mod bench;
mod build;
mod demo;
mod fuzz;
mod setup;
mod test;
#[cfg(test)]
mod tool_scan;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build::build().map(|b| {
            eprintln!(
                "xtask: with test hooks (tests only): {}",
                b.sesame_test_hooks.display()
            );
            println!("{}", b.sesame.display())
        }),
        Some("test") => test::test(&args[1..]),
        Some("demo") => demo::demo(),
        Some("bench") => bench::bench(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            print_help();
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!(
            "unknown command `{other}`; try `cargo xtask help`"
        )),
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn print_help() {
    println!(
        "cargo xtask <command>\n\n\
         build   build the static release binaries; prints the sesame binary's path last\n\
         test    install what is missing (as root on Debian/Ubuntu), then run every test\n\
         demo    boot the demo VM\n\
         bench   sesame against Debian's initramfs-tools + dropbear stack [--rounds N] [--no-argon2]\n\
         fuzz    run every fuzz target [--seconds N] [target…] (nightly, cargo-fuzz)"
    );
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Runs a command with inherited stdio; fails with the command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}
