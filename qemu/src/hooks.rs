//! The `sesame` built with the `test-hooks` feature (`rd.sesame.test.panic=<stage>`), which
//! `cargo xtask build` leaves in its own target subdirectory. Only tests use it; the
//! shipped binary never has the hooks.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::binaries::{check_static, workspace_dir};

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// `$SESAME_TEST_HOOKS_BIN`, else `<target>/test-hooks/x86_64-unknown-linux-gnu/release/
/// sesame` under `$CARGO_TARGET_DIR` or `<workspace>/target`; checked to be static.
pub fn sesame_test_hooks_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SESAME_TEST_HOOKS_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "SESAME_TEST_HOOKS_BIN={} does not exist; run `cargo xtask build` (or \
                 `cargo xtask test`), or unset it",
                p.display()
            );
        }
        check_static(&p)?;
        return Ok(p);
    }
    let mut roots = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        roots.push(PathBuf::from(t));
    }
    roots.push(workspace_dir().join("target"));
    let candidates: Vec<PathBuf> = roots
        .iter()
        .map(|r| {
            r.join("test-hooks")
                .join(TARGET)
                .join("release")
                .join("sesame")
        })
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => {
            check_static(p)?;
            Ok(p.clone())
        }
        None => bail!(
            "the static `sesame` with test hooks is missing (looked for {}); run `cargo xtask \
             build` (it builds it with --features sesame/test-hooks), or set \
             SESAME_TEST_HOOKS_BIN",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}
