//! The real root filesystem of a test: a directory with the usual top-level directories and
//! an init (the marker by default), or a copy of the real Debian root ([`RootFs::debian`]),
//! plus whatever files a test adds, made into an ext4 image.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::binaries::{check_static, marker_binary};
use crate::debian_root::debian_root_tree;
use crate::ext4::ext4_image;
use crate::kernel::Kernel;
use crate::tools::{command, run};

const DIRS: &[(&str, u32)] = &[
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("run", 0o755),
    ("etc", 0o755),
    ("tmp", 0o1777),
    ("sbin", 0o755),
];

/// A root filesystem tree in a temporary directory (removed on drop).
pub struct RootFs {
    dir: tempfile::TempDir,
}

impl RootFs {
    /// The usual directories and the marker ([`marker_binary`]) as `/sbin/init`.
    pub fn new() -> Result<RootFs> {
        Self::with_init(&marker_binary()?)
    }

    /// The usual directories and `init` (a static executable) as `/sbin/init`.
    pub fn with_init(init: &Path) -> Result<RootFs> {
        check_static(init)?;
        let root = Self::empty()?;
        root.copy_file("sbin/init", init, 0o755)?;
        Ok(root)
    }

    /// Only the usual directories.
    pub fn empty() -> Result<RootFs> {
        let dir = tempfile::Builder::new()
            .prefix("sesame-rootfs-")
            .tempdir()
            .context("making a temporary root directory")?;
        let root = RootFs { dir };
        for (d, mode) in DIRS {
            root.add_dir(d, *mode)?;
        }
        Ok(root)
    }

    /// A copy of the cached real Debian root ([`debian_root_tree`]) with the test
    /// kernel's modules in `/lib/modules/<version>` (as an installed kernel leaves them,
    /// so udev and systemd load what they need) and the report service
    /// ([`crate::report`]): after the boot, it prints what systemd reached and powers
    /// off. The copy is made of hard links where the cache and the temporary directory
    /// share a filesystem; [`RootFs::add_file`] and friends replace a file rather than
    /// write through a link, so the cache is never touched.
    pub fn debian(kernel: &Kernel) -> Result<RootFs> {
        let tree = debian_root_tree()?;
        let dir = tempfile::Builder::new()
            .prefix("sesame-debian-")
            .tempdir()
            .context("making a temporary root directory")?;
        let root = RootFs { dir };
        copy_tree(&tree, root.path())?;
        let modules = root.path().join("usr/lib/modules").join(&kernel.version);
        copy_tree(&kernel.modules_dir, &modules)?;
        crate::report::install(&root)?;
        Ok(root)
    }

    /// The directory holding the tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rel` (relative to the root; a leading `/` is ignored) with `contents` and
    /// `mode`, making parent directories.
    pub fn add_file(&self, rel: &str, contents: impl AsRef<[u8]>, mode: u32) -> Result<&Self> {
        let p = self.prepare(rel)?;
        fs::write(&p, contents).with_context(|| format!("writing {}", p.display()))?;
        set_mode(&p, mode)?;
        Ok(self)
    }

    /// Copies the host file `src` to `rel` with `mode`.
    pub fn copy_file(&self, rel: &str, src: &Path, mode: u32) -> Result<&Self> {
        let p = self.prepare(rel)?;
        fs::copy(src, &p).with_context(|| format!("copying {} to {}", src.display(), rel))?;
        set_mode(&p, mode)?;
        Ok(self)
    }

    /// Makes the directory `rel` (and its parents) with `mode`.
    pub fn add_dir(&self, rel: &str, mode: u32) -> Result<&Self> {
        let p = self.resolve(rel)?;
        fs::create_dir_all(&p).with_context(|| format!("making {}", p.display()))?;
        set_mode(&p, mode)?;
        Ok(self)
    }

    /// Makes `rel` a symbolic link to `target` (taken as is).
    pub fn add_symlink(&self, rel: &str, target: &str) -> Result<&Self> {
        let p = self.prepare(rel)?;
        std::os::unix::fs::symlink(target, &p)
            .with_context(|| format!("linking {} to {target}", p.display()))?;
        Ok(self)
    }

    /// Makes the ext4 image `path` of this tree; returns the filesystem UUID.
    pub fn ext4_image(&self, path: &Path, size_mib: u64, label: Option<&str>) -> Result<String> {
        ext4_image(path, size_mib, label, self.path())
    }

    fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let rel = Path::new(rel.trim_start_matches('/'));
        if rel.as_os_str().is_empty()
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            bail!("{} is not a plain path inside the root", rel.display());
        }
        Ok(self.path().join(rel))
    }

    /// `rel` resolved, its parent directories made, and whatever was there removed (a
    /// file of a copied tree may be a hard link into the cache).
    fn prepare(&self, rel: &str) -> Result<PathBuf> {
        let p = self.resolve(rel)?;
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).with_context(|| format!("making {}", parent.display()))?;
        }
        if p.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&p).with_context(|| format!("replacing {}", p.display()))?;
        }
        Ok(p)
    }

    /// Total size of the files in the tree, in bytes (each hard-linked file once).
    pub fn size_bytes(&self) -> Result<u64> {
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        let mut stack = vec![self.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let e = e?;
                let m = e.path().symlink_metadata()?;
                if m.is_dir() {
                    stack.push(e.path());
                } else if seen.insert((m.dev(), m.ino())) {
                    total += m.len();
                }
            }
        }
        Ok(total)
    }
}

/// Copies the tree `from` into `to` (made if missing) with `cp -a`, as hard links when
/// both are on one filesystem (`cp -al`), else as copies.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("making {}", to.display()))?;
    let same_fs = match (fs::metadata(from), fs::metadata(to)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    };
    let mut cp = command("cp")?;
    cp.arg(if same_fs { "-al" } else { "-a" })
        .arg(format!("{}/.", from.display()))
        .arg(to);
    run(&mut cp).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree() {
        let r = RootFs::empty().unwrap();
        r.add_file("/etc/hostname", "box\n", 0o644)
            .unwrap()
            .add_symlink("bin", "sbin")
            .unwrap();
        assert!(r.path().join("tmp").is_dir());
        assert_eq!(
            fs::read_to_string(r.path().join("etc/hostname")).unwrap(),
            "box\n"
        );
        assert!(r.add_file("../escape", "", 0o644).is_err());
        assert!(r.add_file("", "", 0o644).is_err());
    }
}
