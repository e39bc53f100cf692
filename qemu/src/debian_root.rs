//! The real Debian root of the hand-over tests: Debian 12 (bookworm) made once with
//! `debootstrap` from Debian's own packages (variant minbase, plus systemd, udev,
//! cryptsetup, lvm2, mdadm and the other tools a real system boots with), trimmed of
//! documentation and apt's caches, and kept under `cache_dir()/debian-root/<recipe hash>`
//! like the test kernel (a lock, then an atomic rename). Tests copy it (hard links) into a
//! [`RootFs`](crate::RootFs) of their own with [`RootFs::debian`](crate::RootFs::debian).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::cache::{cache_dir, CacheLock};
use crate::tools::{command, run};

/// The Debian release of the real root (the test kernel's too).
pub const DEBIAN_SUITE: &str = "bookworm";

/// Where debootstrap downloads from; `$SESAME_DEBIAN_MIRROR` replaces it.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// What the real root holds beyond minbase: what a Debian server boots with when its
/// disks are encrypted (systemd as init, udev, systemd-cryptsetup, journald, networkd),
/// the storage tools its units run (lvm2, mdadm, e2fsprogs) and what the tests read
/// (iproute2, kmod). dbus: logind fails without it.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "cryptsetup",
    "lvm2",
    "mdadm",
    "iproute2",
    "e2fsprogs",
    "kmod",
];

/// Removed after debootstrap: nothing boots from them, and every copy of the root is
/// smaller and quicker to make into a disk without them.
const TRIMMED: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
];

/// Bump when the steps below change in a way the inputs above do not show.
const RECIPE_VERSION: u32 = 1;

/// The recipe the cache is keyed by: everything that decides what the tree holds.
fn recipe() -> String {
    format!(
        "v{RECIPE_VERSION} suite={DEBIAN_SUITE} variant=minbase packages={} trimmed={}",
        DEBIAN_PACKAGES.join(","),
        TRIMMED.join(",")
    )
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions (the cache key).
pub(crate) fn stable_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The cached tree of the real Debian root (made on first use; needs root and network).
/// Safe to call from several processes and threads at once. Never modify what it
/// returns: copy it with [`RootFs::debian`](crate::RootFs::debian).
pub fn debian_root_tree() -> Result<PathBuf> {
    static FOUND: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = found.as_ref() {
        return Ok(p.clone());
    }
    let tree = make_cached(&cache_dir().join("debian-root"))?;
    *found = Some(tree.clone());
    Ok(tree)
}

fn make_cached(base: &Path) -> Result<PathBuf> {
    let _lock = CacheLock::acquire(&base.join(".lock"))?;
    let recipe = recipe();
    let dest = base.join(format!("{DEBIAN_SUITE}-{}", stable_hash(&recipe)));
    if dest.join("sbin/init").exists() || dest.join("usr/sbin/init").exists() {
        return Ok(dest);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { nix::libc::geteuid() } != 0 {
        bail!(
            "making the real Debian root needs root (debootstrap); run the tests as root \
             (`cargo xtask test` does)"
        );
    }
    let mirror = std::env::var("SESAME_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string());
    log::info!("making the real Debian root into {}", dest.display());
    eprintln!(
        "sesame-qemu: debootstrap {DEBIAN_SUITE} (once, cached in {}; about a minute)",
        dest.display()
    );
    let tmp = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(base)
        .with_context(|| format!("making a temporary directory in {}", base.display()))?;
    let root = tmp.path().join("root");
    run(command("debootstrap")?
        .args(["--variant=minbase", "--merged-usr"])
        .arg(format!("--include={}", DEBIAN_PACKAGES.join(",")))
        .arg(DEBIAN_SUITE)
        .arg(&root)
        .arg(&mirror))
    .with_context(|| {
        format!(
            "debootstrap {DEBIAN_SUITE} from {mirror} failed; check that the mirror is \
             reachable (SESAME_DEBIAN_MIRROR sets another)"
        )
    })?;
    trim(&root)?;
    fs::write(root.join("etc/recipe.sesame"), format!("{recipe}\n"))
        .context("writing the recipe into the tree")?;
    fs::rename(&root, &dest)
        .with_context(|| format!("moving the Debian root into {}", dest.display()))?;
    Ok(dest)
}

/// Empties the [`TRIMMED`] directories (kept, empty: packages expect them).
fn trim(root: &Path) -> Result<()> {
    for rel in TRIMMED {
        let dir = root.join(rel);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.with_context(|| format!("trimming {}", p.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_is_stable_and_follows_the_recipe() {
        // FNV-1a test vectors.
        assert_eq!(stable_hash(""), "cbf29ce484222325");
        assert_eq!(stable_hash("a"), "af63dc4c8601ec8c");
        assert!(recipe().contains("systemd-sysv"));
        assert_ne!(
            stable_hash(&recipe()),
            stable_hash(&format!("{} x", recipe()))
        );
    }

    #[test]
    fn trimming_keeps_the_directories() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("usr/share/doc/pkg")).unwrap();
        fs::write(d.path().join("usr/share/doc/pkg/README"), "x").unwrap();
        fs::create_dir_all(d.path().join("var/lib/apt/lists/partial")).unwrap();
        trim(d.path()).unwrap();
        assert!(d.path().join("usr/share/doc").is_dir());
        assert_eq!(
            fs::read_dir(d.path().join("usr/share/doc"))
                .unwrap()
                .count(),
            0
        );
        assert!(!d.path().join("var/lib/apt/lists/partial").exists());
    }
}
