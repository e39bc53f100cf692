//! The file operations of `install` and `uninstall`, each idempotent and each told to a
//! [`Report`] that prints what changed (or, in a dry run, what would): files written
//! atomically only when their bytes or mode differ, files removed only when present.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// What `install`/`uninstall` did, printed as it goes.
pub struct Report {
    pub dry_run: bool,
    /// How many changes were made (or would be).
    pub changed: usize,
}

impl Report {
    pub fn new(dry_run: bool) -> Report {
        Report {
            dry_run,
            changed: 0,
        }
    }

    /// Tells of a change: `done` after the fact, `would` in a dry run.
    pub fn change(&mut self, done: &str, would: &str, what: &Path, note: &str) {
        self.changed += 1;
        let verb = if self.dry_run {
            format!("would {would}")
        } else {
            done.to_string()
        };
        println!("  {verb} {}{note}", what.display());
    }

    /// Tells of something already as it should be.
    pub fn unchanged(&self, what: &Path, note: &str) {
        println!("  unchanged {}{note}", what.display());
    }
}

/// Where a file stands against what should be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Absent,
    Same,
    /// Present with other bytes or another mode.
    Differs,
}

pub fn state(path: &Path, bytes: &[u8], mode: u32) -> State {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return State::Absent;
    };
    let same = meta.is_file()
        && meta.permissions().mode() & 0o7777 == mode
        && std::fs::read(path).is_ok_and(|b| b == bytes);
    if same {
        State::Same
    } else {
        State::Differs
    }
}

/// Makes `path` hold `bytes` with `mode` (through a temporary file and a rename, so a
/// reader never sees half a file, and a running binary can be replaced), unless it
/// already does. Reports the change either way; writes nothing in a dry run.
pub fn ensure(
    report: &mut Report,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    note: &str,
) -> Result<State> {
    let state = state(path, bytes, mode);
    match state {
        State::Same => report.unchanged(path, note),
        State::Absent => report.change("wrote", "write", path, note),
        State::Differs => report.change("updated", "update", path, note),
    }
    if state != State::Same && !report.dry_run {
        write_atomic(path, bytes, mode)?;
    }
    Ok(state)
}

/// Writes `path` through a temporary file beside it.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.sesame-new"));
    let written = (|| -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

/// Removes `path` if it exists. Reports it; removes nothing in a dry run.
pub fn remove(report: &mut Report, path: &Path, note: &str) -> Result<bool> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    report.change("removed", "remove", path, note);
    if !report.dry_run {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(true)
}

/// Creates directory `path` with `mode` if it is missing (parents 0755).
pub fn ensure_dir(report: &mut Report, path: &Path, mode: u32) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    report.change("created", "create", path, "");
    if report.dry_run {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_writes_once_and_notices_a_mode_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/hook");
        let mut dry = Report::new(true);
        assert_eq!(
            ensure(&mut dry, &p, b"x", 0o755, "").unwrap(),
            State::Absent
        );
        assert!(!p.exists());
        assert_eq!(dry.changed, 1);
        let mut r = Report::new(false);
        assert_eq!(ensure(&mut r, &p, b"x", 0o755, "").unwrap(), State::Absent);
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(ensure(&mut r, &p, b"x", 0o755, "").unwrap(), State::Same);
        assert_eq!(r.changed, 1);
        assert_eq!(ensure(&mut r, &p, b"x", 0o700, "").unwrap(), State::Differs);
        assert_eq!(state(&p, b"x", 0o700), State::Same);
        assert_eq!(state(&p, b"y", 0o700), State::Differs);
        assert!(remove(&mut r, &p, "").unwrap());
        assert!(!remove(&mut r, &p, "").unwrap());
        assert_eq!(r.changed, 3);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
