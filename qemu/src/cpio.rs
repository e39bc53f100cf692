//! A minimal writer for "newc" cpio archives, the initramfs format: enough for a test to
//! make a tiny initramfs (or an extra archive to concatenate) without root or `mknod`.

use std::path::Path;

use anyhow::{Context, Result};

/// An uncompressed newc archive being built. Parent directories must be added before the
/// entries inside them (the kernel does not create them).
#[derive(Default)]
pub struct Cpio {
    buf: Vec<u8>,
    next_ino: u32,
}

impl Cpio {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.entry(path, 0o040000 | mode, 0, 0, &[])
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        self.entry(path, 0o100000 | mode, 0, 0, data)
    }

    /// Adds the host file `src` as `path`.
    pub fn file_from(&mut self, path: &str, src: &Path, mode: u32) -> Result<&mut Self> {
        let data = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
        Ok(self.file(path, &data, mode))
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(path, 0o120777, 0, 0, target.as_bytes())
    }

    /// A character device node, e.g. `char_dev("dev/console", 0o600, 5, 1)`.
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> &mut Self {
        self.entry(path, 0o020000 | mode, major, minor, &[])
    }

    /// The archive with its trailer.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        header(&mut out, 0, 0, 1, 0, 0, "TRAILER!!!", &[]);
        out
    }

    /// Writes the finished archive to `path`.
    pub fn write_to(&mut self, path: &Path) -> Result<()> {
        std::fs::write(path, self.finish()).with_context(|| format!("writing {}", path.display()))
    }

    fn entry(&mut self, path: &str, mode: u32, major: u32, minor: u32, data: &[u8]) -> &mut Self {
        self.next_ino += 1;
        let name = path.trim_start_matches('/');
        header(
            &mut self.buf,
            self.next_ino,
            mode,
            1,
            major,
            minor,
            name,
            data,
        );
        self
    }
}

#[allow(clippy::too_many_arguments)]
fn header(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    rmajor: u32,
    rminor: u32,
    name: &str,
    data: &[u8],
) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        data.len() as u32,
        0, // devmajor
        0, // devminor
        rmajor,
        rminor,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_tool_reads_it() {
        crate::require_tools(&["cpio"]).unwrap();
        let mut c = Cpio::new();
        c.dir("dev", 0o755)
            .char_dev("dev/console", 0o600, 5, 1)
            .file("init", b"hello", 0o755)
            .symlink("sbin", "/");
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.cpio");
        c.write_to(&path).unwrap();
        let out = std::process::Command::new("cpio")
            .args(["-t", "-v", "-F"])
            .arg(&path)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(listing.contains("crw-------"), "{listing}");
        assert!(listing.contains("5,"), "{listing}");
        assert!(listing.contains("init"), "{listing}");
        assert!(listing.contains("sbin -> /"), "{listing}");
    }
}
