//! ext4 filesystem images made from a directory with `mkfs.ext4 -d`, as a normal file:
//! no root, no loop device.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::tools::{command, run};

/// Makes (or overwrites) `path` as a `size_mib` MiB ext4 filesystem holding a copy of
/// `source_dir`, with an optional label. Returns the filesystem UUID (what `root=UUID=`
/// takes).
pub fn ext4_image(
    path: &Path,
    size_mib: u64,
    label: Option<&str>,
    source_dir: &Path,
) -> Result<String> {
    if size_mib < 2 {
        bail!("an ext4 image needs at least 2 MiB, not {size_mib}");
    }
    if !source_dir.is_dir() {
        bail!("{} is not a directory", source_dir.display());
    }
    let uuid = random_uuid()?;
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.set_len(size_mib << 20)
        .with_context(|| format!("sizing {} to {size_mib} MiB", path.display()))?;
    drop(file);
    let mut cmd = command("mkfs.ext4")?;
    cmd.args(["-q", "-F", "-U", &uuid, "-E", "root_owner=0:0", "-d"])
        .arg(source_dir);
    if let Some(label) = label {
        cmd.args(["-L", label]);
    }
    cmd.arg(path);
    run(&mut cmd).with_context(|| format!("making the ext4 image {}", path.display()))?;
    Ok(uuid)
}

/// A random (version 4) UUID in the usual lowercase text form.
pub fn random_uuid() -> Result<String> {
    let mut b = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = random_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, random_uuid().unwrap());
    }
}
