//! The harness's cache directory (kernels and other downloads kept between runs) and the
//! lock that lets several test processes fill it at the same time.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// `$SESAME_CACHE`, else `$XDG_CACHE_HOME/sesame`, else `$HOME/.cache/sesame`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SESAME_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sesame");
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/sesame")
}

/// An exclusive `flock` on a file; released when dropped.
pub(crate) struct CacheLock {
    _lock: Flock<File>,
}

impl CacheLock {
    /// Blocks until this process holds `path` (created if missing) exclusively.
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("creating the cache directory {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(CacheLock { _lock: lock })
    }
}
