//! The real root filesystem of a test: a directory with the usual top-level directories and
//! an init (the marker by default), plus whatever files a test adds, made into an ext4 image.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::binaries::{check_static, marker_binary};
use crate::ext4::ext4_image;

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

    fn prepare(&self, rel: &str) -> Result<PathBuf> {
        let p = self.resolve(rel)?;
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).with_context(|| format!("making {}", parent.display()))?;
        }
        Ok(p)
    }
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
