//! Key files: the `KeyfileReader` trait the broker uses, the real `MountingKeyfileReader`
//! (files in the image are read directly; `<path>:<device>` mounts the device read-only
//! on a private mount point under `/run/sesame/keys/` and keeps it mounted until
//! `release()`, before switch_root), and `read_key`, which cuts `keyfile-offset=` /
//! `keyfile-size=` out of a file into a zeroizing buffer.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::secret::Passphrase;

mod mount;
#[cfg(test)]
mod tests;

/// The most read from a key file when `keyfile-size=` is not given (cryptsetup's
/// default limit, 8 MiB).
pub const MAX_KEYFILE_SIZE: u64 = 8 * 1024 * 1024;

/// Reads key files, blocking. Errors name the file and say why; never its contents.
pub trait KeyfileReader: Send + Sync + 'static {
    /// `path`: absolute in the image (or a block device node) when `device` is `None`;
    /// else relative to the root of the file system on `device`.
    fn read(
        &self,
        path: &str,
        device: Option<&Path>,
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Passphrase, String>;
    /// Unmounts what `read` mounted (before switch_root).
    fn release(&self);
}

/// The real reader. Mounts key devices read-only, `nosuid,nodev,noexec`, on
/// `<root>/run/sesame/keys/<n>-<device>` (mode 0700), each once.
#[derive(Debug)]
pub struct MountingKeyfileReader {
    root: PathBuf,
    mounts: Mutex<Vec<mount::Mounted>>,
}

impl Default for MountingKeyfileReader {
    fn default() -> Self {
        MountingKeyfileReader::with_root("/")
    }
}

impl MountingKeyfileReader {
    /// A reader for the running system (root `/`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader whose image files and mount points live under `root` (for tests).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        MountingKeyfileReader {
            root: root.into(),
            mounts: Mutex::new(Vec::new()),
        }
    }

    /// Where `device` is mounted, mounting it first if needed.
    fn mounted(&self, device: &Path) -> Result<PathBuf, String> {
        let mut mounts = self
            .mounts
            .lock()
            .map_err(|_| "the key file mounts are poisoned".to_string())?;
        if let Some(m) = mounts.iter().find(|m| m.device == device) {
            return Ok(m.at.clone());
        }
        let base = self.root.join("run/sesame/keys");
        let m = mount::mount_read_only(device, &base, mounts.len())?;
        let at = m.at.clone();
        mounts.push(m);
        Ok(at)
    }
}

impl KeyfileReader for MountingKeyfileReader {
    fn read(
        &self,
        path: &str,
        device: Option<&Path>,
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Passphrase, String> {
        let (file, shown) = match device {
            None => (
                self.root.join(path.trim_start_matches('/')),
                path.to_string(),
            ),
            Some(dev) => (
                self.mounted(dev)?.join(path.trim_start_matches('/')),
                format!("{path} on {}", dev.display()),
            ),
        };
        let mut f = File::open(&file).map_err(|e| format!("key file {shown}: {e}"))?;
        read_key(&mut f, offset, size).map_err(|e| format!("key file {shown}: {e}"))
    }

    fn release(&self) {
        let Ok(mut mounts) = self.mounts.lock() else {
            return;
        };
        for m in mounts.drain(..) {
            if let Err(e) = m.unmount() {
                log::warn!("{e}");
            }
        }
    }
}

/// Reads a key: `size` bytes from `offset` (cryptsetup's `--keyfile-offset` and
/// `--keyfile-size`), or everything from `offset` to the end, at most
/// [`MAX_KEYFILE_SIZE`]. The buffer is allocated once, at its final size, so no copy of
/// the key is left behind in freed memory. Errors never contain key bytes.
pub fn read_key<R: Read + Seek>(
    r: &mut R,
    offset: Option<u64>,
    size: Option<u64>,
) -> Result<Passphrase, String> {
    let offset = offset.unwrap_or(0);
    let end = r
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("cannot find its size: {e}"))?;
    if offset > end {
        return Err(format!(
            "keyfile-offset={offset} is beyond its end ({end} bytes)"
        ));
    }
    let available = end - offset;
    let want = match size.filter(|s| *s > 0) {
        Some(s) if s > available => {
            return Err(format!(
                "keyfile-size={s} asks for more than the {available} bytes after offset {offset}"
            ))
        }
        Some(s) if s > MAX_KEYFILE_SIZE => {
            return Err(format!(
                "keyfile-size={s} is more than the {MAX_KEYFILE_SIZE} bytes sesame reads"
            ))
        }
        Some(s) => s,
        None if available > MAX_KEYFILE_SIZE => {
            return Err(format!(
                "it holds {available} bytes, more than the {MAX_KEYFILE_SIZE} read without keyfile-size="
            ))
        }
        None => available,
    };
    if want == 0 {
        return Err("it is empty".to_string());
    }
    let len = usize::try_from(want).map_err(|_| "it is too large".to_string())?;
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("cannot seek to keyfile-offset={offset}: {e}"))?;
    r.read_exact(&mut buf)
        .map_err(|e| format!("cannot read {want} bytes: {e}"))?;
    Ok(Passphrase::from(buf))
}
