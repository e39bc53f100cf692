//! The real Debian cloud kernel the tests boot: downloaded once with apt into the cache,
//! unpacked, given its `modules.dep`, and shared by every test process.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::cache::{cache_dir, CacheLock};
use crate::tools::{command, require_tools, run};

/// The metapackage that follows Debian's current cloud kernel.
const METAPACKAGE: &str = "linux-image-cloud-amd64";

/// A kernel image and its modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// `uname -r`, e.g. `6.1.0-56-cloud-amd64`.
    pub version: String,
    /// The bzImage to give QEMU's `-kernel`.
    pub vmlinuz: PathBuf,
    /// `…/lib/modules/<version>`, with `modules.dep`.
    pub modules_dir: PathBuf,
}

impl Kernel {
    /// A kernel unpacked under `root`: `root/boot/vmlinuz-<version>` and
    /// `root/lib/modules/<version>/modules.dep`.
    pub fn from_dir(root: &Path) -> Result<Kernel> {
        let boot = root.join("boot");
        let mut images: Vec<PathBuf> = fs::read_dir(&boot)
            .with_context(|| format!("reading {} (expected boot/vmlinuz-*)", boot.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| file_name(p).starts_with("vmlinuz-"))
            .collect();
        images.sort();
        let Some(vmlinuz) = images.pop() else {
            bail!("no boot/vmlinuz-* in {}", root.display());
        };
        let version = file_name(&vmlinuz)["vmlinuz-".len()..].to_string();
        let modules_dir = root.join("lib/modules").join(&version);
        if !modules_dir.join("modules.dep").is_file() {
            bail!(
                "{} has no modules.dep; run `depmod -b {} {version}`",
                modules_dir.display(),
                root.display()
            );
        }
        Ok(Kernel {
            version,
            vmlinuz,
            modules_dir,
        })
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The Debian cloud kernel (`linux-image-cloud-amd64`'s current dependency), fetched once
/// into `cache_dir()/kernels/<version>` and reused. `$SESAME_KERNEL_DIR` (a directory with
/// `boot/vmlinuz-*` and `lib/modules/*`) replaces it. Safe to call from several processes
/// and threads at once.
pub fn debian_kernel() -> Result<Kernel> {
    if let Some(dir) = std::env::var_os("SESAME_KERNEL_DIR").filter(|d| !d.is_empty()) {
        return Kernel::from_dir(Path::new(&dir))
            .with_context(|| format!("using SESAME_KERNEL_DIR={}", Path::new(&dir).display()));
    }
    static FOUND: Mutex<Option<Kernel>> = Mutex::new(None);
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = found.as_ref() {
        return Ok(k.clone());
    }
    let kernel = fetch(&cache_dir().join("kernels"))?;
    *found = Some(kernel.clone());
    Ok(kernel)
}

fn fetch(base: &Path) -> Result<Kernel> {
    let _lock = CacheLock::acquire(&base.join(".lock"))?;
    let package = match resolve_package() {
        Ok(p) => p,
        Err(e) => {
            return newest_cached(base).ok_or(e);
        }
    };
    let version = package["linux-image-".len()..].to_string();
    let dest = base.join(&version);
    if dest.exists() {
        return Kernel::from_dir(&dest);
    }
    require_tools(&["apt-get", "dpkg-deb", "depmod"])?;
    log::info!("fetching {package} into {}", dest.display());
    let tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(base)
        .with_context(|| format!("making a temporary directory in {}", base.display()))?;
    run(command("apt-get")?
        .args(["download", "-q", &package])
        .current_dir(tmp.path()))
    .with_context(|| {
        format!(
            "downloading the kernel package failed; check that the Debian archive is \
             reachable, then run `apt-get update && apt-get download {package}`, or set \
             SESAME_KERNEL_DIR to an unpacked kernel (boot/vmlinuz-*, lib/modules/*)"
        )
    })?;
    let deb = fs::read_dir(tmp.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("apt-get download {package} left no .deb"))?;
    let root = tmp.path().join("root");
    run(command("dpkg-deb")?.arg("-x").arg(&deb).arg(&root))?;
    fs::remove_file(&deb).with_context(|| format!("removing {}", deb.display()))?;
    run(command("depmod")?.arg("-b").arg(&root).arg(&version))?;
    Kernel::from_dir(&root).context("checking the unpacked kernel package")?;
    fs::rename(&root, &dest)
        .with_context(|| format!("moving the kernel into {}", dest.display()))?;
    Kernel::from_dir(&dest)
}

/// `linux-image-<version>` that the metapackage depends on now (from apt's local lists).
fn resolve_package() -> Result<String> {
    let out = run(command("apt-cache")?.args(["depends", METAPACKAGE])).with_context(|| {
        format!("asking apt which kernel {METAPACKAGE} means; run `apt-get update` first")
    })?;
    parse_depends(&out).with_context(|| {
        format!("`apt-cache depends {METAPACKAGE}` names no linux-image-*; run `apt-get update`")
    })
}

fn parse_depends(out: &str) -> Option<String> {
    out.lines()
        .filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && *p != METAPACKAGE)
        .map(str::to_string)
}

/// The highest version already unpacked in the cache (used when apt cannot answer).
fn newest_cached(base: &Path) -> Option<Kernel> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !file_name(p).starts_with('.'))
        .collect();
    dirs.sort();
    dirs.iter().rev().find_map(|d| Kernel::from_dir(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apt_cache_depends() {
        let out = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(
            parse_depends(out).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(parse_depends("linux-image-cloud-amd64\n"), None);
    }

    #[test]
    fn kernel_dir_without_modules_dep_says_what_to_run() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("boot")).unwrap();
        fs::create_dir_all(d.path().join("lib/modules/6.1.0-1-x")).unwrap();
        fs::write(d.path().join("boot/vmlinuz-6.1.0-1-x"), b"").unwrap();
        let err = format!("{:#}", Kernel::from_dir(d.path()).unwrap_err());
        assert!(err.contains("depmod -b"), "{err}");
    }
}
