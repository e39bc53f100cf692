//! What an initramfs image holds, measured from the outside (for the benchmark against
//! other initramfs generators): its size compressed and unpacked, its entries, and where
//! the bytes go. Reads any image the kernel would: concatenated newc archives, each plain
//! or compressed (zstd, gzip, xz, lz4 — decompressed with the host's own tools).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::tools::require_tools;

const NEWC: &[u8] = b"070701";
const NEWC_CRC: &[u8] = b"070702";
const TRAILER: &str = "TRAILER!!!";

/// One regular file in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile {
    pub path: String,
    pub size: u64,
}

/// What [`initramfs_stats`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitramfsStats {
    /// The image file's size.
    pub compressed_bytes: u64,
    /// The unpacked cpio archives' total size (headers, names and data).
    pub unpacked_bytes: u64,
    /// Entries of any kind (files, directories, links, device nodes), trailers excluded.
    pub entries: u64,
    /// Every regular file with its size, in archive order.
    pub files: Vec<ImageFile>,
    /// How each archive in the image was stored (`plain`, `zstd`, …).
    pub segments: Vec<String>,
}

impl InitramfsStats {
    /// Total size of the regular files whose path satisfies `pred`, and their number.
    pub fn sum_where(&self, pred: impl Fn(&str) -> bool) -> (u64, u64) {
        self.files
            .iter()
            .filter(|f| pred(&f.path))
            .fold((0, 0), |(b, n), f| (b + f.size, n + 1))
    }

    /// Bytes of regular files per top-level group (`usr/lib/modules` style prefixes of at
    /// most `depth` components), largest first.
    pub fn by_prefix(&self, depth: usize) -> Vec<(String, u64, u64)> {
        let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for f in &self.files {
            let key: Vec<&str> = f.path.split('/').take(depth).collect();
            let e = m.entry(key.join("/")).or_default();
            e.0 += f.size;
            e.1 += 1;
        }
        let mut v: Vec<(String, u64, u64)> = m.into_iter().map(|(k, (b, n))| (k, b, n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// Reads the image at `path`.
pub fn initramfs_stats(path: &Path) -> Result<InitramfsStats> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut stats = InitramfsStats {
        compressed_bytes: data.len() as u64,
        ..Default::default()
    };
    let mut rest: &[u8] = &data;
    loop {
        // Archives are padded with zeros between them.
        let skip = rest.iter().take_while(|b| **b == 0).count();
        rest = &rest[skip..];
        if rest.is_empty() {
            break;
        }
        if rest.starts_with(NEWC) || rest.starts_with(NEWC_CRC) {
            let used = walk_newc(rest, &mut stats).context("reading a plain cpio archive")?;
            stats.unpacked_bytes += used as u64;
            stats.segments.push("plain".into());
            rest = &rest[used..];
            continue;
        }
        let (name, tool, args): (&str, &str, &[&str]) =
            if rest.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                ("zstd", "zstd", &["-dcq"])
            } else if rest.starts_with(&[0x1f, 0x8b]) {
                ("gzip", "gzip", &["-dc"])
            } else if rest.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
                ("xz", "xz", &["-dc"])
            } else if rest.starts_with(&[0x02, 0x21, 0x4c, 0x18]) {
                ("lz4", "lz4", &["-dc"])
            } else {
                bail!(
                    "{}: unknown data at offset {} (not newc, zstd, gzip, xz or lz4)",
                    path.display(),
                    data.len() - rest.len()
                );
            };
        // The compressed stream runs to the end of the image (as the kernel reads it).
        let unpacked = decompress(tool, args, rest)
            .with_context(|| format!("decompressing the {name} part of {}", path.display()))?;
        stats.unpacked_bytes += unpacked.len() as u64;
        stats.segments.push(name.into());
        let mut inner: &[u8] = &unpacked;
        loop {
            let skip = inner.iter().take_while(|b| **b == 0).count();
            inner = &inner[skip..];
            if inner.is_empty() {
                break;
            }
            let used = walk_newc(inner, &mut stats)
                .with_context(|| format!("reading the {name}-compressed cpio archive"))?;
            inner = &inner[used..];
        }
        break;
    }
    Ok(stats)
}

fn decompress(tool: &str, args: &[&str], data: &[u8]) -> Result<Vec<u8>> {
    require_tools(&[tool])?;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {tool}"))?;
    let mut stdin = child.stdin.take().context("the decompressor's stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .context("running the decompressor")?;
    let written = writer.join();
    if !out.status.success() {
        bail!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !matches!(written, Ok(Ok(()))) {
        bail!("{tool} stopped reading its input");
    }
    Ok(out.stdout)
}

fn hex_field(h: &[u8], index: usize) -> Result<u64> {
    let s = std::str::from_utf8(&h[6 + index * 8..6 + index * 8 + 8]).context("cpio header")?;
    u64::from_str_radix(s, 16).with_context(|| format!("cpio header field `{s}`"))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Walks one newc archive at the start of `data` up to and including its trailer; returns
/// the bytes it used.
fn walk_newc(data: &[u8], stats: &mut InitramfsStats) -> Result<usize> {
    let mut at = 0;
    loop {
        let h = data.get(at..at + 110).context("truncated cpio header")?;
        if !(h.starts_with(NEWC) || h.starts_with(NEWC_CRC)) {
            bail!("bad cpio magic at offset {at}");
        }
        let mode = hex_field(h, 1)?;
        let filesize = hex_field(h, 6)? as usize;
        let namesize = hex_field(h, 11)? as usize;
        let name_bytes = data
            .get(at + 110..at + 110 + namesize)
            .context("truncated cpio name")?;
        let name = String::from_utf8_lossy(name_bytes.strip_suffix(&[0]).unwrap_or(name_bytes))
            .into_owned();
        let data_start = align4(at + 110 + namesize);
        let next = align4(data_start + filesize);
        if next > data.len() && name != TRAILER {
            bail!("truncated cpio data for {name}");
        }
        if name == TRAILER {
            return Ok(next.min(data.len()));
        }
        stats.entries += 1;
        if mode & 0o170000 == 0o100000 {
            let path = name
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string();
            stats.files.push(ImageFile {
                path,
                size: filesize as u64,
            });
        }
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(out: &mut Vec<u8>, name: &str, mode: u32, body: &[u8]) {
        let namesize = name.len() + 1;
        let fields = [
            1,
            mode,
            0,
            0,
            1,
            0,
            body.len() as u32,
            0,
            0,
            0,
            0,
            namesize as u32,
            0,
        ];
        out.extend_from_slice(NEWC);
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }

    #[test]
    fn counts_plain_concatenated_archives() {
        let mut a = Vec::new();
        entry(&mut a, "kernel", 0o040755, b"");
        entry(&mut a, "kernel/x.bin", 0o100644, b"12345");
        entry(&mut a, TRAILER, 0, b"");
        a.resize(512, 0);
        entry(&mut a, "usr/lib/modules/m.ko", 0o100644, b"abcdefgh");
        entry(&mut a, "init", 0o100755, b"xyz");
        entry(&mut a, TRAILER, 0, b"");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        std::fs::write(&p, &a).unwrap();
        let s = initramfs_stats(&p).unwrap();
        assert_eq!(s.entries, 4);
        assert_eq!(s.files.len(), 3);
        assert_eq!(s.segments, ["plain", "plain"]);
        assert_eq!(s.sum_where(|p| p.contains("/modules/")), (8, 1));
        assert_eq!(s.by_prefix(1)[0], ("usr".to_string(), 8, 1));
        assert_eq!(s.compressed_bytes, a.len() as u64);
    }

    #[test]
    fn reads_a_plain_archive_then_a_zstd_one() {
        let mut early = Vec::new();
        entry(&mut early, "kernel/x.bin", 0o100644, b"12345");
        entry(&mut early, TRAILER, 0, b"");
        let mut main = Vec::new();
        entry(&mut main, "init", 0o100755, b"xyz");
        entry(&mut main, TRAILER, 0, b"");
        let out = std::process::Command::new("zstd")
            .args(["-q", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(&main)?;
                c.wait_with_output()
            })
            .expect("zstd (apt-get install zstd)");
        let mut image = early.clone();
        image.extend_from_slice(&out.stdout);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        std::fs::write(&p, &image).unwrap();
        let s = initramfs_stats(&p).unwrap();
        assert_eq!(s.segments, ["plain", "zstd"]);
        assert_eq!(s.unpacked_bytes, (early.len() + main.len()) as u64);
        let names: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["kernel/x.bin", "init"]);
    }

    #[test]
    fn refuses_a_truncated_archive() {
        let mut a = Vec::new();
        entry(&mut a, "init", 0o100755, b"0123456789");
        entry(&mut a, TRAILER, 0, b"");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        // Cut inside the file's data, then inside the first header.
        for cut in [120, 50] {
            std::fs::write(&p, &a[..cut]).unwrap();
            let e = initramfs_stats(&p).unwrap_err();
            assert!(format!("{e:#}").contains("truncated"), "{e:#}");
        }
    }

    #[test]
    fn refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        std::fs::write(&p, b"not an archive").unwrap();
        assert!(initramfs_stats(&p).is_err());
    }
}
