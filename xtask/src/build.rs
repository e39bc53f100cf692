//! `cargo xtask build`: the static libcryptsetup prefix (built once into the cache) and the
//! release `sesame` and `sesame-marker` binaries linked with `+crt-static`; then a second
//! static `sesame` with `--features sesame/test-hooks` (failure injection for the fault
//! tests) in its own target subdirectory, so neither build invalidates the other. The
//! shipped binary is checked to carry no test hook.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{run, workspace_root};

pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The static binaries `cargo xtask build` produces.
pub struct Built {
    pub sesame: PathBuf,
    pub marker: PathBuf,
    /// `sesame` with the `test-hooks` feature (`rd.sesame.test.panic=`); never shipped.
    pub sesame_test_hooks: PathBuf,
}

/// A string only the `test-hooks` build contains (init/src/test_hooks.rs's panic message).
const TEST_HOOK_MARK: &[u8] = b"failing on purpose";

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
/// target only (build scripts and proc-macros stay dynamic), then checks the results are
/// really static, and that only the test-hooks build has the hooks.
pub fn build() -> Result<Built> {
    let prefix = static_prefix()?;
    let target = target_dir();
    static_build(
        &prefix,
        &["sesame", "sesame-marker"],
        "sesame/static",
        &target,
    )?;
    let hooks_target = target.join("test-hooks");
    eprintln!(
        "xtask: building sesame with the test hooks into {}",
        hooks_target.display()
    );
    static_build(
        &prefix,
        &["sesame"],
        "sesame/static,sesame/test-hooks",
        &hooks_target,
    )?;
    let dir = target.join(TARGET).join("release");
    let built = Built {
        sesame: dir.join("sesame"),
        marker: dir.join("sesame-marker"),
        sesame_test_hooks: hooks_target.join(TARGET).join("release").join("sesame"),
    };
    for bin in [&built.sesame, &built.marker, &built.sesame_test_hooks] {
        ensure_static(bin)?;
    }
    if contains(&built.sesame, TEST_HOOK_MARK)? {
        bail!(
            "{} carries the test hooks (`--features sesame/test-hooks` leaked into the \
             shipped build)",
            built.sesame.display()
        );
    }
    if !contains(&built.sesame_test_hooks, TEST_HOOK_MARK)? {
        bail!(
            "{} was built without the test hooks",
            built.sesame_test_hooks.display()
        );
    }
    Ok(built)
}

/// One static release build of `packages` with `features` into `target_dir`.
fn static_build(prefix: &Path, packages: &[&str], features: &str, target_dir: &Path) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root())
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.args(["--features", features])
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            // Non-PIE: `file` must say "statically linked" (DESIGN.md); static-pie prints
            // "static-pie linked". Heap, stack and mmap stay randomized.
            "-C target-feature=+crt-static -C relocation-model=static",
        )
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("PKG_CONFIG_ALL_STATIC", "1");
    run(&mut cmd)
}

/// Whether the file at `path` contains `needle`.
fn contains(path: &Path, needle: &[u8]) -> Result<bool> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(data.windows(needle.len()).any(|w| w == needle))
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
