//! `cargo xtask test`: every test from a fresh clone. Installs what is missing, builds the
//! static binaries (the shipped `sesame` and the one with test hooks) and the test kernel,
//! checks formatting and lints (with and without the hooks), runs the unit and end-to-end
//! tests (the e2e tests boot QEMU; none is skipped), then every fuzz target for
//! [`fuzz::TEST_SECONDS`] so a parser regression shows in CI.

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::{build, fuzz, run, setup, workspace_root};

pub fn test(args: &[String]) -> Result<()> {
    let started = Instant::now();
    setup::ensure_packages()?;
    // Before the long part: a missing nightly fails now, not after the e2e tests.
    fuzz::ensure_tools()?;
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
    eprintln!("xtask: cargo clippy -p sesame --features sesame/test-hooks");
    run(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "-p",
        "sesame",
        "--all-targets",
        "--features",
        "sesame/test-hooks",
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
        .env("SESAME_MARKER", &built.marker)
        .env("SESAME_TEST_HOOKS_BIN", &built.sesame_test_hooks))?;
    eprintln!(
        "xtask: every fuzz target for {} s (after {:.0} s)",
        fuzz::TEST_SECONDS,
        started.elapsed().as_secs_f64()
    );
    fuzz::run_targets(fuzz::TEST_SECONDS, &[])?;
    eprintln!(
        "xtask: all tests passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
