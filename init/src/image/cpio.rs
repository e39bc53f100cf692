//! The initramfs archive format: "newc" cpio (`070701`), written reproducibly (entries
//! sorted, parents first, fixed mtime and owner, inode numbers in order) and read back
//! for tests and for inspecting images. Compression (zstd, gzip) wraps the whole.

use std::collections::BTreeMap;
use std::io::{Read, Write};

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

/// One archive member. `path` is relative (`init`, `lib/modules/…`), no leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// Permission bits (0o7777).
    pub perm: u32,
    pub kind: Kind,
}

impl Entry {
    fn mode(&self) -> u32 {
        let fmt = match self.kind {
            Kind::Dir => 0o040000,
            Kind::File(_) => 0o100000,
            Kind::Symlink(_) => 0o120000,
            Kind::CharDev { .. } => 0o020000,
        };
        fmt | (self.perm & 0o7777)
    }

    fn data(&self) -> &[u8] {
        match &self.kind {
            Kind::File(d) => d,
            Kind::Symlink(t) => t.as_bytes(),
            _ => &[],
        }
    }
}

/// The archive being assembled: one entry per path; adding a path adds its parents.
#[derive(Debug, Default, Clone)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an entry, creating missing parent directories (0755). The path
    /// is normalised (`./a//b/` is `a/b`), so one file has one entry however it is named;
    /// the root itself (`.`, `/`, empty) has none.
    pub fn add(&mut self, path: &str, perm: u32, kind: Kind) {
        let path = normalise(path);
        if path.is_empty() {
            return;
        }
        let mut parent = String::new();
        for part in path.split('/').take(path.split('/').count() - 1) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.entries.entry(parent.clone()).or_insert(Entry {
                path: parent.clone(),
                perm: 0o755,
                kind: Kind::Dir,
            });
        }
        self.entries
            .insert(path.clone(), Entry { path, perm, kind });
    }

    pub fn add_dir(&mut self, path: &str) {
        if !self.entries.contains_key(&normalise(path)) {
            self.add(path, 0o755, Kind::Dir);
        }
    }

    pub fn add_file(&mut self, path: &str, perm: u32, data: Vec<u8>) {
        self.add(path, perm, Kind::File(data));
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&normalise(path))
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of file contents.
    pub fn payload_bytes(&self) -> u64 {
        self.entries.values().map(|e| e.data().len() as u64).sum()
    }

    /// Writes the uncompressed newc stream. Paths sort so that a directory comes before
    /// what it holds (the kernel's unpacker needs the parent to exist).
    pub fn write_newc(&self, mtime: u32, out: &mut impl Write) -> std::io::Result<u64> {
        let mut written = 0u64;
        for (ino, entry) in self.entries.values().enumerate() {
            let nlink = if matches!(entry.kind, Kind::Dir) {
                2
            } else {
                1
            };
            let (rmaj, rmin) = match entry.kind {
                Kind::CharDev { major, minor } => (major, minor),
                _ => (0, 0),
            };
            written += write_member(
                out,
                &entry.path,
                Header {
                    ino: ino as u32 + 1,
                    mode: entry.mode(),
                    nlink,
                    mtime,
                    rdevmajor: rmaj,
                    rdevminor: rmin,
                },
                entry.data(),
            )?;
        }
        written += write_member(out, TRAILER, Header::default(), &[])?;
        Ok(written)
    }
}

const TRAILER: &str = "TRAILER!!!";
const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;

#[derive(Default, Clone, Copy)]
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdevmajor: u32,
    rdevminor: u32,
}

fn write_member(out: &mut impl Write, name: &str, h: Header, data: &[u8]) -> std::io::Result<u64> {
    let namesize = name.len() + 1;
    let header = format!(
        "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        h.ino,
        h.mode,
        0,
        0,
        h.nlink,
        h.mtime,
        data.len(),
        0,
        0,
        h.rdevmajor,
        h.rdevminor,
        namesize,
        0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    let name_pad = pad4(HEADER_LEN + namesize);
    out.write_all(&[0; 3][..name_pad])?;
    out.write_all(data)?;
    let data_pad = pad4(data.len());
    out.write_all(&[0; 3][..data_pad])?;
    Ok((HEADER_LEN + namesize + name_pad + data.len() + data_pad) as u64)
}

/// `path` without empty and `.` components: `./etc//x/` is `etc/x`. `..` is kept as a
/// name (the archive is data to show, not a directory to resolve).
fn normalise(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("truncated archive at byte {0}")]
    Truncated(usize),
    #[error("bad cpio magic at byte {0} (not a newc archive)")]
    BadMagic(usize),
    #[error("bad header field at byte {0}")]
    BadField(usize),
    #[error("the archive has no trailer")]
    NoTrailer,
}

/// Reads a newc stream (uncompressed). Several concatenated archives (as the kernel
/// accepts, e.g. a microcode archive first) are read in order; later entries win.
pub fn read_newc(data: &[u8]) -> Result<Archive, ReadError> {
    let mut archive = Archive::new();
    let mut pos = 0usize;
    let mut saw_trailer = false;
    while pos < data.len() {
        // Zero padding between concatenated archives.
        if data[pos] == 0 {
            pos += 1;
            continue;
        }
        let header = data
            .get(pos..pos + HEADER_LEN)
            .ok_or(ReadError::Truncated(pos))?;
        if &header[..6] != MAGIC {
            return Err(ReadError::BadMagic(pos));
        }
        let field = |i: usize| -> Result<u32, ReadError> {
            let s = std::str::from_utf8(&header[6 + i * 8..14 + i * 8])
                .map_err(|_| ReadError::BadField(pos))?;
            u32::from_str_radix(s, 16).map_err(|_| ReadError::BadField(pos))
        };
        let mode = field(1)?;
        let filesize = field(6)? as usize;
        let (rmaj, rmin) = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        let name_start = pos + HEADER_LEN;
        let name_end = name_start
            .checked_add(namesize)
            .ok_or(ReadError::BadField(pos))?;
        let name_bytes = data
            .get(name_start..name_end)
            .ok_or(ReadError::Truncated(pos))?;
        let name = String::from_utf8_lossy(name_bytes.strip_suffix(&[0]).unwrap_or(name_bytes))
            .into_owned();
        let data_start = name_end + pad4(HEADER_LEN + namesize);
        let data_end = data_start
            .checked_add(filesize)
            .ok_or(ReadError::BadField(pos))?;
        let body = data
            .get(data_start..data_end)
            .ok_or(ReadError::Truncated(pos))?;
        pos = data_end + pad4(filesize);
        if name == TRAILER {
            saw_trailer = true;
            continue;
        }
        let perm = mode & 0o7777;
        let kind = match mode & 0o170000 {
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink(String::from_utf8_lossy(body).into_owned()),
            0o020000 => Kind::CharDev {
                major: rmaj,
                minor: rmin,
            },
            _ => Kind::File(body.to_vec()),
        };
        archive.add(&name, perm, kind);
    }
    if !saw_trailer {
        return Err(ReadError::NoTrailer);
    }
    Ok(archive)
}

/// Image compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

/// Compresses the newc stream. Both encoders are deterministic for the same input.
pub fn compress(raw: &[u8], how: Compression) -> std::io::Result<Vec<u8>> {
    match how {
        Compression::None => Ok(raw.to_vec()),
        // Level 19 stays within the kernel's zstd window limits for initramfs sizes.
        Compression::Zstd => zstd::stream::encode_all(raw, 19),
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            enc.write_all(raw)?;
            enc.finish()
        }
    }
}

/// Undoes `compress`, recognising the format by its magic bytes.
pub fn decompress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::decode_all(data)
    } else if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.add_file("init", 0o755, b"\x7fELF...".to_vec());
        a.add("dev/console", 0o600, Kind::CharDev { major: 5, minor: 1 });
        a.add("sbin/modprobe", 0o777, Kind::Symlink("/init".into()));
        a.add_file("lib/modules/6.1/kernel/a.ko", 0o644, vec![1, 2, 3]);
        a.add_dir("run");
        a
    }

    #[test]
    fn parents_are_created_and_come_first() {
        let a = sample();
        let paths: Vec<&str> = a.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "dev",
                "dev/console",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/6.1",
                "lib/modules/6.1/kernel",
                "lib/modules/6.1/kernel/a.ko",
                "run",
                "sbin",
                "sbin/modprobe"
            ]
        );
    }

    #[test]
    fn round_trip_and_alignment() {
        let a = sample();
        let mut raw = Vec::new();
        let n = a.write_newc(0, &mut raw).unwrap();
        assert_eq!(n as usize, raw.len());
        assert_eq!(raw.len() % 4, 0);
        assert!(raw.starts_with(b"070701"));
        let b = read_newc(&raw).unwrap();
        assert_eq!(
            a.entries().collect::<Vec<_>>(),
            b.entries().collect::<Vec<_>>()
        );
        assert_eq!(
            b.get("dev/console").unwrap().kind,
            Kind::CharDev { major: 5, minor: 1 }
        );
    }

    #[test]
    fn reproducible_bytes() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        sample().write_newc(42, &mut x).unwrap();
        sample().write_newc(42, &mut y).unwrap();
        assert_eq!(x, y);
        for how in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let c1 = compress(&x, how).unwrap();
            assert_eq!(c1, compress(&x, how).unwrap());
            assert_eq!(decompress(&c1).unwrap(), x);
        }
    }

    #[test]
    fn the_system_cpio_reads_our_archives() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = Vec::new();
        sample().write_newc(0, &mut raw).unwrap();
        let out = std::process::Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(&raw)?;
                child.wait_with_output()
            })
            .expect("cpio is needed for this test: apt-get install -y cpio");
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(listing.contains("sbin/modprobe -> /init"), "{listing}");
        assert!(listing.contains("crw-------"), "{listing}");
    }

    /// Found by the `cpio` fuzz target: an archive whose first member is `./` (as GNU
    /// cpio writes it) read as an entry named `.`, which did not survive a write and a
    /// read. Every spelling of a path is one entry, and the root none.
    #[test]
    fn one_entry_per_path_however_it_is_spelled() {
        let mut raw = Vec::new();
        let dir = Header {
            mode: 0o040755,
            ..Header::default()
        };
        let file = Header {
            mode: 0o100644,
            ..Header::default()
        };
        for name in ["./", ".", "/", "./etc", "etc//", "./etc/./x/"] {
            write_member(&mut raw, name, dir, &[]).unwrap();
        }
        write_member(&mut raw, "etc//x/./f", file, b"data").unwrap();
        write_member(&mut raw, TRAILER, Header::default(), &[]).unwrap();
        let archive = read_newc(&raw).unwrap();
        let paths: Vec<&str> = archive.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["etc", "etc/x", "etc/x/f"]);
        assert!(archive.get("./etc/x//f").is_some());
        let mut again = Vec::new();
        archive.write_newc(0, &mut again).unwrap();
        assert_eq!(read_newc(&again).unwrap().len(), archive.len());
    }

    #[test]
    fn malformed_archives_are_errors_not_panics() {
        assert_eq!(read_newc(b"").unwrap_err(), ReadError::NoTrailer);
        assert_eq!(read_newc(b"070701").unwrap_err(), ReadError::Truncated(0));
        assert!(matches!(
            read_newc(&[b'x'; 200]),
            Err(ReadError::BadMagic(0))
        ));
        let mut raw = Vec::new();
        sample().write_newc(0, &mut raw).unwrap();
        for cut in [1, 50, 111, 200, raw.len() - 1] {
            assert!(read_newc(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = raw.clone();
        bad[15] = b'z'; // inside the mode field
        assert_eq!(read_newc(&bad).unwrap_err(), ReadError::BadField(0));
        // Huge sizes do not overflow.
        let mut huge = raw.clone();
        huge[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"ffffffff");
        assert!(read_newc(&huge).is_err());
    }
}
