//! The static binaries under test (`sesame`, `sesame-marker`): where `cargo xtask build`
//! leaves them, and checking that they really are static (a dynamic `/init` cannot run).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The workspace root (this crate lives in `<workspace>/qemu`).
pub fn workspace_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The `sesame` binary: `$SESAME_BIN`, else the static release build in
/// `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn sesame_binary() -> Result<PathBuf> {
    find("SESAME_BIN", None, "sesame")
}

/// The `sesame-marker` binary: `$SESAME_MARKER`, else the static release build in
/// `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn marker_binary() -> Result<PathBuf> {
    find("SESAME_MARKER", None, "sesame-marker")
}

/// `$var` if set (it must exist), else `name` in the static release build under
/// `$CARGO_TARGET_DIR` or `<workspace>/target` (in their `subdir`, if given); checked to
/// be static.
pub(crate) fn find(var: &str, subdir: Option<&str>, name: &str) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "{var}={} does not exist; run `cargo xtask build` (or `cargo xtask test`), \
                 or unset {var}",
                p.display()
            );
        }
        check_static(&p)?;
        return Ok(p);
    }
    let mut candidates = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(t));
    }
    candidates.push(workspace_dir().join("target"));
    let candidates: Vec<PathBuf> = candidates
        .into_iter()
        .map(|t| match subdir {
            Some(d) => t.join(d),
            None => t,
        })
        .map(|t| t.join(TARGET).join("release").join(name))
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => {
            check_static(p)?;
            Ok(p.clone())
        }
        None => bail!(
            "the static `{name}` binary is missing (looked for {}); run `cargo xtask build` \
             (or `cargo xtask test`), or set {var} to a static build",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// Fails unless `path` is an x86-64 ELF without a program interpreter (statically linked).
pub(crate) fn check_static(path: &Path) -> Result<()> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match has_interpreter(&data) {
        Some(false) => Ok(()),
        Some(true) => bail!(
            "{} is dynamically linked, so it cannot run in the initramfs; build it with \
             `cargo xtask build` (static, `-C target-feature=+crt-static`)",
            path.display()
        ),
        None => bail!(
            "{} is not a 64-bit little-endian ELF executable",
            path.display()
        ),
    }
}

/// Whether an ELF64 image has a `PT_INTERP` program header; `None` if it is not ELF64 LE.
fn has_interpreter(data: &[u8]) -> Option<bool> {
    if data.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let entry = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(data.get(entry..entry + 4)?.try_into().ok()?);
        if p_type == 3 {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_runner_itself_is_dynamic() {
        let me = std::env::current_exe().unwrap();
        let data = fs::read(&me).unwrap();
        // The test binary is built without crt-static: it has an interpreter.
        assert_eq!(has_interpreter(&data), Some(true));
        assert!(check_static(&me)
            .unwrap_err()
            .to_string()
            .contains("dynamically linked"));
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn missing_binary_says_what_to_run() {
        let err = find("SESAME_TEST_NO_SUCH_VAR", None, "no-such-binary")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo xtask build"), "{err}");
    }
}
