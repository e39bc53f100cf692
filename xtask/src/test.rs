//! `cargo xtask test`: every test from a fresh clone. Installs what is missing, builds the
//! static binaries and the test kernel, checks formatting and lints, then runs the unit
//! and end-to-end tests (the e2e tests boot QEMU; none is skipped).

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::{build, run, setup, workspace_root};

pub fn test(args: &[String]) -> Result<()> {
    let started = Instant::now();
    setup::ensure_packages()?;
    let built = build::build()?;
    let kernel = sesame_qemu::debian_kernel()?;
    eprintln!(
        "xtask: test kernel {} ({})",
        kernel.version,
        kernel.vmlinuz.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = workspace_root();
    eprintln!("xtask: cargo fmt --check");
    run(Command::new(&cargo)
        .current_dir(&root)
        .args(["fmt", "--all", "--check"]))?;
    eprintln!("xtask: cargo clippy");
    run(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    eprintln!("xtask: cargo test (unit and end-to-end)");
    run(Command::new(&cargo)
        .current_dir(&root)
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(args)
        .env("SESAME_BIN", &built.sesame)
        .env("SESAME_MARKER", &built.marker))?;
    eprintln!(
        "xtask: all tests passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
