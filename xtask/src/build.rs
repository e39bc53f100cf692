//! `cargo xtask build`: the static libcryptsetup prefix (built once into the cache) and the
//! release `sesame` and `sesame-marker` binaries linked with `+crt-static`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{run, workspace_root};

pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The static binaries `cargo xtask build` produces.
pub struct Built {
    pub sesame: PathBuf,
    pub marker: PathBuf,
}

/// Builds libcryptsetup.a/libdevmapper.a when the cache lacks them or the script changed.
pub fn static_prefix() -> Result<PathBuf> {
    let work = sesame_qemu::cache_dir().join("cryptsetup-static");
    let prefix = work.join("prefix");
    let script = workspace_root().join("scripts/static-libcryptsetup.sh");
    let want = sha256_of(&script)?;
    let have = std::fs::read_to_string(prefix.join(".stamp")).unwrap_or_default();
    if have.trim() == want && prefix.join("lib/libcryptsetup.a").exists() {
        return Ok(prefix);
    }
    eprintln!(
        "xtask: building static libcryptsetup + libdevmapper into {}",
        work.display()
    );
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    run(Command::new("bash").arg(&script).env("WORK", &work))?;
    Ok(prefix)
}

fn sha256_of(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("running sha256sum")?;
    if !out.status.success() {
        bail!("sha256sum {} failed", path.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// `cargo build --release --target x86_64-unknown-linux-gnu` with `+crt-static` for the
/// target only (build scripts and proc-macros stay dynamic), then checks the result is
/// really static.
pub fn build() -> Result<Built> {
    let prefix = static_prefix()?;
    let root = workspace_root();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", TARGET])
        .args([
            "-p",
            "sesame",
            "-p",
            "sesame-marker",
            "--features",
            "sesame/static",
        ])
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            // Non-PIE: `file` must say "statically linked" (DESIGN.md); static-pie prints
            // "static-pie linked". Heap, stack and mmap stay randomized.
            "-C target-feature=+crt-static -C relocation-model=static",
        )
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("PKG_CONFIG_ALL_STATIC", "1");
    run(&mut cmd)?;
    let dir = target_dir().join(TARGET).join("release");
    let built = Built {
        sesame: dir.join("sesame"),
        marker: dir.join("sesame-marker"),
    };
    for bin in [&built.sesame, &built.marker] {
        ensure_static(bin)?;
    }
    Ok(built)
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn ensure_static(bin: &Path) -> Result<()> {
    let out = Command::new("file")
        .arg("-b")
        .arg(bin)
        .output()
        .context("running `file` (apt-get install -y file)")?;
    let what = String::from_utf8_lossy(&out.stdout);
    if !what.contains("statically linked") {
        bail!(
            "{} is not static: file says: {}",
            bin.display(),
            what.trim()
        );
    }
    Ok(())
}
