//! Filesystem superblock prober: what a block device (or partition) holds — a filesystem, a
//! LUKS header, an md RAID or LVM member, swap — with its UUID and label formatted exactly as
//! `blkid -p` prints them, so `root=UUID=…`/`LABEL=…` resolve as they do with udev.
//!
//! Pure Rust, no libblkid. Each format reads only the sectors it needs (all superblocks lie in
//! the first 68 KiB, read at most once; a FAT/exFAT label may need one root-directory cluster),
//! checks magic *and* sanity (and the format's own checksum where it has one) so random data is
//! not taken for a filesystem, and never panics on hostile input. Probes run in blkid's order:
//! LUKS and RAID/LVM headers first (they win outright), then filesystems; a second,
//! conflicting filesystem signature is reported in [`Probe::conflicts`] (blkid calls such a
//! device "ambivalent" and reports nothing).

use std::fmt;
use std::io;

/// Reads from a block device (or a test buffer) at an absolute byte offset.
pub trait ReadAt {
    /// Reads into `buf` from byte `offset`; returns how many bytes were read, which may be
    /// fewer than asked (0 at or past the end), like `pread(2)`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let avail = self.get(start..).unwrap_or_default();
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
}

/// Fills `buf` from `offset`, retrying short reads; returns the bytes read (fewer only at the
/// end of the device). Offsets past what `pread` accepts read as the end of the device.
pub(crate) fn read_full<R: ReadAt + ?Sized>(
    dev: &R,
    offset: u64,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut done = 0usize;
    while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
        let pos = match offset.checked_add(done as u64) {
            Some(pos) if pos <= i64::MAX as u64 => pos,
            _ => break,
        };
        match dev.read_at(pos, rest) {
            Ok(0) => break,
            Ok(n) => done += n.min(rest.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads exactly `len` bytes at `offset`, or `None` if the device ends before.
pub(crate) fn read_vec<R: ReadAt + ?Sized>(
    dev: &R,
    offset: u64,
    len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; len];
    let n = read_full(dev, offset, &mut buf)?;
    Ok((n == len).then_some(buf))
}

/// What a device holds, named as blkid's `TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsType {
    Ext2,
    Ext3,
    Ext4,
    /// An ext3/4 external journal device.
    Jbd,
    Xfs,
    Btrfs,
    Vfat,
    Exfat,
    Iso9660,
    Squashfs,
    Erofs,
    F2fs,
    Swap,
    Luks1,
    Luks2,
    /// A member of an md (software RAID) array.
    LinuxRaidMember,
    /// An LVM2 physical volume.
    Lvm2Member,
}

impl FsType {
    /// blkid's `TYPE`; for mountable types also the kernel's filesystem name.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
            FsType::Jbd => "jbd",
            FsType::Xfs => "xfs",
            FsType::Btrfs => "btrfs",
            FsType::Vfat => "vfat",
            FsType::Exfat => "exfat",
            FsType::Iso9660 => "iso9660",
            FsType::Squashfs => "squashfs",
            FsType::Erofs => "erofs",
            FsType::F2fs => "f2fs",
            FsType::Swap => "swap",
            FsType::Luks1 | FsType::Luks2 => "crypto_LUKS",
            FsType::LinuxRaidMember => "linux_raid_member",
            FsType::Lvm2Member => "LVM2_member",
        }
    }

    /// Whether `mount(2)` can take the device with this type (after `kernel_name`). ext2 and
    /// ext3 are usually served by the ext4 driver: retry with "ext4" on ENODEV.
    pub fn is_mountable(&self) -> bool {
        matches!(
            self,
            FsType::Ext2
                | FsType::Ext3
                | FsType::Ext4
                | FsType::Xfs
                | FsType::Btrfs
                | FsType::Vfat
                | FsType::Exfat
                | FsType::Iso9660
                | FsType::Squashfs
                | FsType::Erofs
                | FsType::F2fs
        )
    }

    /// A LUKS header: the device must be opened with cryptsetup first.
    pub fn is_luks(&self) -> bool {
        matches!(self, FsType::Luks1 | FsType::Luks2)
    }

    /// Containers whose header wins over anything else found on the device (blkid's RAID and
    /// crypto usages): their payload may hold a filesystem signature that must not be used.
    pub fn is_container(&self) -> bool {
        self.is_luks() || matches!(self, FsType::LinuxRaidMember | FsType::Lvm2Member)
    }

    /// blkid's "tolerant" types, which may share a device with another tolerant one.
    fn is_tolerant(&self) -> bool {
        matches!(self, FsType::Iso9660)
    }
}

impl fmt::Display for FsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}

/// What [`probe`] found on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub fstype: FsType,
    /// blkid's `UUID`: 8-4-4-4-12 lower-case for most; `ABCD-1234` for vfat/exFAT; the stored
    /// string for LUKS; `YYYY-MM-DD-HH-MM-SS-CC` for iso9660; 6-4-4-4-4-4-6 for LVM.
    pub uuid: Option<String>,
    /// blkid's `LABEL`, trimmed as blkid trims it (`None` when empty).
    pub label: Option<String>,
    /// blkid's `UUID_SUB` (btrfs device UUID, md device UUID).
    pub uuid_sub: Option<String>,
    /// blkid's `VERSION` (e.g. "1.0" for ext, "FAT32", "2" for LUKS2).
    pub version: Option<String>,
    /// blkid's `BLOCK_SIZE`.
    pub block_size: Option<u32>,
    /// Other filesystem signatures found on the same device. Non-empty means blkid would call
    /// the device ambivalent and report nothing: refuse to mount it by UUID/LABEL and tell the
    /// user to clean the stale signature with `wipefs`.
    pub conflicts: Vec<FsType>,
}

impl Probe {
    fn new(fstype: FsType) -> Self {
        Probe {
            fstype,
            uuid: None,
            label: None,
            uuid_sub: None,
            version: None,
            block_size: None,
            conflicts: Vec::new(),
        }
    }
}

/// What the device holds, reading only the few sectors each format needs.
pub fn probe<R: ReadAt + ?Sized>(dev: &R) -> io::Result<Option<Probe>> {
    probe_sized(dev, None)
}

/// Like [`probe`]; knowing the device size in bytes also finds md RAID superblocks stored at
/// the end of the device (metadata 0.90 and 1.0). Give the size only for a partition or an
/// unpartitioned disk: on a partitioned disk the end of the disk is the last partition's end.
pub fn probe_sized<R: ReadAt + ?Sized>(dev: &R, size: Option<u64>) -> io::Result<Option<Probe>> {
    let dyn_dev = DynDev(dev);
    let mut d = Dev::new(&dyn_dev, size);
    for prober in CONTAINERS {
        if let Some(found) = prober(&mut d)? {
            return Ok(Some(found));
        }
    }
    let mut found: Vec<Probe> = Vec::new();
    for prober in FILESYSTEMS {
        if let Some(p) = prober(&mut d)? {
            found.push(p);
        }
    }
    Ok(pick(found))
}

/// blkid's safeprobe rule: the first match wins; more than one match with any intolerant type
/// is ambivalent, recorded as conflicts.
fn pick(found: Vec<Probe>) -> Option<Probe> {
    let mut iter = found.into_iter();
    let mut first = iter.next()?;
    let rest: Vec<FsType> = iter.map(|p| p.fstype).collect();
    let intolerant = !first.fstype.is_tolerant() || rest.iter().any(|t| !t.is_tolerant());
    if intolerant {
        first.conflicts = rest;
    }
    Some(first)
}

type Prober = fn(&mut Dev<'_>) -> io::Result<Option<Probe>>;

/// Headers that win outright (LUKS first: it sits at offset 0 and its payload is opaque).
const CONTAINERS: &[Prober] = &[probe_luks, probe_md, probe_lvm2];

/// Filesystems, in blkid's order.
const FILESYSTEMS: &[Prober] = &[
    probe_vfat,
    probe_swap,
    probe_xfs,
    probe_ext,
    probe_iso9660,
    probe_squashfs,
    probe_btrfs,
    probe_exfat,
    probe_f2fs,
    probe_erofs,
];

// ---------------------------------------------------------------------------------------------
// Reading: one growing buffer over the head of the device, where every superblock lives.

/// Everything up to the btrfs superblock (64 KiB + 4 KiB) and the 64 KiB-page swap signature.
const HEAD_MAX: u64 = 68 * 1024;
/// Cap on any other single read (a FAT/exFAT root directory cluster).
const FAR_READ_MAX: usize = 64 * 1024;

struct DynDev<'a, R: ?Sized>(&'a R);

impl<R: ReadAt + ?Sized> ReadAt for DynDev<'_, R> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_at(offset, buf)
    }
}

struct Dev<'a> {
    dev: &'a dyn ReadAt,
    size: Option<u64>,
    head: Vec<u8>,
    head_eof: bool,
}

impl<'a> Dev<'a> {
    fn new(dev: &'a dyn ReadAt, size: Option<u64>) -> Self {
        Dev {
            dev,
            size,
            head: Vec::new(),
            head_eof: false,
        }
    }

    /// `len` bytes at `off`, or `None` if the device is shorter.
    fn bytes(&mut self, off: u64, len: usize) -> io::Result<Option<Vec<u8>>> {
        let Some(end) = off.checked_add(len as u64) else {
            return Ok(None);
        };
        if end > HEAD_MAX {
            return read_vec(self.dev, off, len);
        }
        self.fill_head(end)?;
        let range = usize::try_from(off).ok().zip(usize::try_from(end).ok());
        Ok(range
            .and_then(|(s, e)| self.head.get(s..e))
            .map(<[u8]>::to_vec))
    }

    /// Grows the head buffer to cover `end` (in 4 KiB steps, at least doubling).
    fn fill_head(&mut self, end: u64) -> io::Result<()> {
        let have = self.head.len();
        if self.head_eof || have as u64 >= end {
            return Ok(());
        }
        let want = end
            .next_multiple_of(4096)
            .max(2 * have as u64)
            .min(HEAD_MAX) as usize;
        self.head.resize(want, 0);
        let n = match self.head.get_mut(have..) {
            Some(rest) => read_full(self.dev, have as u64, rest)?,
            None => 0,
        };
        self.head.truncate(have + n);
        self.head_eof = have + n < want;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Field access and string formatting, all bounds-checked.

fn arr<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    arr(b, off).map(u16::from_le_bytes)
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    arr(b, off).map(u32::from_le_bytes)
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    arr(b, off).map(u64::from_le_bytes)
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    arr(b, off).map(u16::from_be_bytes)
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    arr(b, off).map(u32::from_be_bytes)
}

fn be64(b: &[u8], off: usize) -> Option<u64> {
    arr(b, off).map(u64::from_be_bytes)
}

fn field(b: &[u8], off: usize, len: usize) -> &[u8] {
    off.checked_add(len)
        .and_then(|end| b.get(off..end))
        .unwrap_or_default()
}

fn has(b: &[u8], off: usize, magic: &[u8]) -> bool {
    field(b, off, magic.len()) == magic
}

/// C's `isspace` in the C locale, which blkid uses to trim.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A label as blkid sets it from a byte field: up to the first NUL, trailing white space cut.
pub(crate) fn c_label(raw: &[u8]) -> Option<String> {
    let s = raw.split(|&c| c == 0).next().unwrap_or_default();
    let end = s.iter().rposition(|&c| !is_c_space(c)).map_or(0, |i| i + 1);
    let s = s.get(..end).unwrap_or_default();
    (!s.is_empty()).then(|| String::from_utf8_lossy(s).into_owned())
}

/// A label from UTF-16 (up to the first NUL), trailing white space cut as blkid does.
pub(crate) fn utf16_label(raw: &[u8], big_endian: bool) -> Option<String> {
    let units = raw.chunks_exact(2).map(|c| match c {
        [a, b] if big_endian => u16::from_be_bytes([*a, *b]),
        [a, b] => u16::from_le_bytes([*a, *b]),
        _ => 0,
    });
    let units: Vec<u16> = units.take_while(|&u| u != 0).collect();
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    let s = s.trim_end_matches(|c: char| u8::try_from(c).is_ok_and(is_c_space));
    (!s.is_empty()).then(|| s.to_owned())
}

/// A DCE UUID as blkid prints it (`None` when all zero).
pub(crate) fn uuid_string(u: &[u8; 16]) -> Option<String> {
    if u.iter().all(|&b| b == 0) {
        return None;
    }
    let hex = |r: std::ops::Range<usize>| -> String {
        u.get(r)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    Some(format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    ))
}

fn uuid_at(b: &[u8], off: usize) -> Option<String> {
    arr::<16>(b, off).and_then(|u| uuid_string(&u))
}

/// A FAT/exFAT volume serial number, `ABCD-1234` (`None` when zero).
fn serial_string(s: [u8; 4]) -> Option<String> {
    let [a, b, c, d] = s;
    (s != [0; 4]).then(|| format!("{d:02X}{c:02X}-{b:02X}{a:02X}"))
}

// ---------------------------------------------------------------------------------------------
// Checksums.

const fn crc_table(poly: u32) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32_TABLE: [u32; 256] = crc_table(0xEDB8_8320);
static CRC32C_TABLE: [u32; 256] = crc_table(0x82F6_3B78);

fn crc_update(table: &[u32; 256], mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = table[usize::from(crc as u8 ^ b)] ^ (crc >> 8);
    }
    crc
}

/// CRC-32 (IEEE, reflected) register update without pre/post inversion.
pub(crate) fn crc32_raw(seed: u32, data: &[u8]) -> u32 {
    crc_update(&CRC32_TABLE, seed, data)
}

/// The usual CRC-32 (zlib, GPT).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    !crc32_raw(!0, data)
}

/// CRC-32C (Castagnoli) register update without pre/post inversion.
pub(crate) fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    crc_update(&CRC32C_TABLE, seed, data)
}

// ---------------------------------------------------------------------------------------------
// LUKS.

const LUKS_MAGIC: &[u8] = b"LUKS\xba\xbe";
const LUKS2_MAGIC_2: &[u8] = b"SKUL\xba\xbe";
/// Where cryptsetup may put the LUKS2 secondary header (blkid scans them when the primary
/// header is gone).
const LUKS2_HDR2_OFFSETS: [u64; 9] = [
    0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
];

fn probe_luks(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(hdr) = d.bytes(0, 512)? else {
        return Ok(None);
    };
    if let Some(p) = luks_header(&hdr, LUKS_MAGIC, 0) {
        return Ok(Some(p));
    }
    for off in LUKS2_HDR2_OFFSETS {
        let Some(hdr) = d.bytes(off, 512)? else {
            break;
        };
        if let Some(p) = luks_header(&hdr, LUKS2_MAGIC_2, off) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn luks_header(hdr: &[u8], magic: &[u8], offset: u64) -> Option<Probe> {
    if !has(hdr, 0, magic) {
        return None;
    }
    let version = be16(hdr, 6)?;
    let mut p = match version {
        1 if offset == 0 => Probe::new(FsType::Luks1),
        // The LUKS2 header records where it is: a copy found elsewhere is stale.
        2 if be64(hdr, 256)? == offset => Probe::new(FsType::Luks2),
        _ => return None,
    };
    p.version = Some(version.to_string());
    // Both versions keep the UUID as a 40-byte string at 168.
    p.uuid = c_label(field(hdr, 168, 40));
    if version == 2 {
        p.label = c_label(field(hdr, 24, 48));
    }
    Some(p)
}

// ---------------------------------------------------------------------------------------------
// md RAID members.

const MD_SB_MAGIC: u32 = 0xa92b_4efc;
const MD_RESERVED_BYTES: u64 = 0x10000;

fn probe_md(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    if let Some(size) = d.size.filter(|&s| s > MD_RESERVED_BYTES) {
        let v0 = (size & !(MD_RESERVED_BYTES - 1)) - MD_RESERVED_BYTES;
        if let Some(p) = md_v0(d, v0, size)? {
            return Ok(Some(p));
        }
        let v10 = (size & !0xfff).saturating_sub(0x2000);
        if let Some(p) = md_v1(d, v10, "1.0")? {
            return Ok(Some(p));
        }
    }
    if let Some(p) = md_v1(d, 0, "1.1")? {
        return Ok(Some(p));
    }
    md_v1(d, 0x1000, "1.2")
}

fn md_v1(d: &mut Dev<'_>, off: u64, version: &str) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(off, 256)? else {
        return Ok(None);
    };
    let valid = le32(&sb, 0) == Some(MD_SB_MAGIC)
        && le32(&sb, 4) == Some(1)
        && le64(&sb, 144) == Some(off >> 9);
    if !valid {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::LinuxRaidMember);
    p.uuid = uuid_at(&sb, 16);
    p.uuid_sub = uuid_at(&sb, 168);
    p.label = c_label(field(&sb, 32, 32));
    p.version = Some(version.to_owned());
    Ok(Some(p))
}

fn md_v0(d: &mut Dev<'_>, off: u64, size: u64) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(off, 64)? else {
        return Ok(None);
    };
    let word = |i: usize, big: bool| {
        if big {
            be32(&sb, i * 4)
        } else {
            le32(&sb, i * 4)
        }
    };
    let big = match (le32(&sb, 0), be32(&sb, 0)) {
        (Some(MD_SB_MAGIC), _) => false,
        (_, Some(MD_SB_MAGIC)) => true,
        _ => return Ok(None),
    };
    let (Some(major), Some(minor), Some(patch), Some(kib)) =
        (word(1, big), word(2, big), word(3, big), word(8, big))
    else {
        return Ok(None);
    };
    let data = u64::from(kib) << 10;
    if size < data.saturating_add(MD_RESERVED_BYTES) || off < data {
        return Ok(None);
    }
    // The set UUID is stored as four native-endian words: 5, then 13-15 (0.90 and later).
    let mut uuid = [0u8; 16];
    let words: &[usize] = if minor >= 90 { &[5, 13, 14, 15] } else { &[5] };
    for (slot, &w) in uuid.chunks_exact_mut(4).zip(words) {
        slot.copy_from_slice(&word(w, big).unwrap_or(0).to_be_bytes());
    }
    let mut p = Probe::new(FsType::LinuxRaidMember);
    p.uuid = uuid_string(&uuid);
    p.version = Some(format!("{major}.{minor}.{patch}"));
    Ok(Some(p))
}

// ---------------------------------------------------------------------------------------------
// LVM2 physical volumes.

fn probe_lvm2(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    for sector in 0u64..4 {
        let Some(label) = d.bytes(sector * 512, 512)? else {
            return Ok(None);
        };
        if has(&label, 0, b"LABELONE") && has(&label, 24, b"LVM2 001") {
            return Ok(lvm2_label(&label, sector));
        }
    }
    Ok(None)
}

fn lvm2_label(label: &[u8], sector: u64) -> Option<Probe> {
    if le64(label, 8)? != sector {
        return None;
    }
    if crc32_raw(0xf597_a6cf, field(label, 20, 512 - 20)) != le32(label, 16)? {
        return None;
    }
    let raw = field(label, 32, 32);
    let mut p = Probe::new(FsType::Lvm2Member);
    if raw.iter().any(|&b| b != 0) {
        let mut uuid = String::with_capacity(38);
        for (i, &c) in raw.iter().enumerate() {
            if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
                uuid.push('-');
            }
            uuid.push(char::from(c));
        }
        p.uuid = Some(uuid);
    }
    p.version = Some("LVM2 001".to_owned());
    Some(p)
}

// ---------------------------------------------------------------------------------------------
// vfat (FAT12/16/32).

const FAT12_MAX: u64 = 0xFF4;
const FAT16_MAX: u64 = 0xFFF4;
const FAT32_MAX: u64 = 0x0FFF_FFF6;
const FAT_NO_NAME: &[u8; 11] = b"NO NAME    ";
/// Root-directory clusters a FAT32 label search follows.
const FAT32_MAX_DIR_CLUSTERS: usize = 16;

/// The boot sector fields blkid's vfat prober looks at.
struct FatBpb {
    sector_size: u64,
    cluster_sectors: u64,
    reserved: u64,
    fats: u64,
    dir_entries: u64,
    fat16_length: u64,
    fat32_length: u64,
    cluster_count: u64,
}

impl FatBpb {
    fn is_fat32(&self) -> bool {
        self.fat16_length == 0 && self.fat32_length != 0
    }

    fn fat_sectors(&self) -> u64 {
        let len = if self.fat16_length != 0 {
            self.fat16_length
        } else {
            self.fat32_length
        };
        len * self.fats
    }
}

/// Whether `bs` (the first 512 bytes of a device) is a valid FAT boot sector, as blkid decides
/// it; the MBR parser uses this to tell a FAT "superfloppy" from a partition table.
pub(crate) fn is_fat_boot_sector(bs: &[u8]) -> bool {
    fat_bpb(bs).is_some()
}

fn fat_magic(bs: &[u8]) -> Option<bool> {
    // Returns whether the match was on a strong (string) magic.
    let strong: [(usize, &[u8]); 6] = [
        (0x52, b"MSWIN"),
        (0x52, b"FAT32   "),
        (0x36, b"MSDOS"),
        (0x36, b"FAT16   "),
        (0x36, b"FAT12   "),
        (0x36, b"FAT     "),
    ];
    if strong.iter().any(|(off, m)| has(bs, *off, m)) {
        return Some(true);
    }
    let weak = has(bs, 0, b"\xEB") || has(bs, 0, b"\xE9") || has(bs, 0x1fe, b"\x55\xAA");
    weak.then_some(false)
}

fn fat_bpb(bs: &[u8]) -> Option<FatBpb> {
    let strong = fat_magic(bs)?;
    if !strong
        && (!has(bs, 0x1fe, b"\x55\xAA")
            || has(bs, 0x36, b"JFS     ")
            || has(bs, 0x36, b"HPFS    "))
    {
        return None;
    }
    let cluster = u64::from(*bs.get(0x0d)?);
    let fats = u64::from(*bs.get(0x10)?);
    let media = *bs.get(0x15)?;
    let reserved = u64::from(le16(bs, 0x0e)?);
    let sector_size = u64::from(le16(bs, 0x0b)?);
    if fats == 0 || reserved == 0 || !(media >= 0xf8 || media == 0xf0) {
        return None;
    }
    if !cluster.is_power_of_two() || !sector_size.is_power_of_two() {
        return None;
    }
    if !(512..=4096).contains(&sector_size) {
        return None;
    }
    let sectors16 = u64::from(le16(bs, 0x13)?);
    let sectors = if sectors16 != 0 {
        sectors16
    } else {
        u64::from(le32(bs, 0x20)?)
    };
    let mut bpb = FatBpb {
        sector_size,
        cluster_sectors: cluster,
        reserved,
        fats,
        dir_entries: u64::from(le16(bs, 0x11)?),
        fat16_length: u64::from(le16(bs, 0x16)?),
        fat32_length: u64::from(le32(bs, 0x24)?),
        cluster_count: 0,
    };
    let dir_sectors = (bpb.dir_entries * 32).div_ceil(sector_size);
    let meta = reserved + bpb.fat_sectors() + dir_sectors;
    bpb.cluster_count = sectors.checked_sub(meta)? / cluster;
    let max = if bpb.is_fat32() {
        FAT32_MAX
    } else if bpb.cluster_count > FAT12_MAX {
        FAT16_MAX
    } else {
        FAT12_MAX
    };
    (bpb.cluster_count <= max).then_some(bpb)
}

fn probe_vfat(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(bs) = d.bytes(0, 512)? else {
        return Ok(None);
    };
    let Some(bpb) = fat_bpb(&bs) else {
        return Ok(None);
    };
    let mut p = Probe::new(FsType::Vfat);
    p.block_size = u32::try_from(bpb.sector_size).ok();
    if bpb.fat16_length == 0 && bpb.fat32_length == 0 {
        // Neither FAT layout: blkid reports the type and nothing else.
        return Ok(Some(p));
    }
    let (dir_label, boot_label, serial) = if bpb.is_fat32() {
        if !fat32_fsinfo_ok(d, &bs, &bpb)? {
            return Ok(None);
        }
        p.version = Some("FAT32".to_owned());
        (fat32_root_label(d, &bs, &bpb)?, field(&bs, 0x47, 11), 0x43)
    } else {
        p.version = match bpb.cluster_count {
            c if c < FAT12_MAX => Some("FAT12".to_owned()),
            c if c < FAT16_MAX => Some("FAT16".to_owned()),
            _ => None,
        };
        (fat16_root_label(d, &bpb)?, field(&bs, 0x2b, 11), 0x27)
    };
    let label = match dir_label {
        Some(l) if l.as_slice() != FAT_NO_NAME => l,
        _ => boot_label.to_vec(),
    };
    if label.as_slice() != FAT_NO_NAME {
        p.label = c_label(&label);
    }
    p.uuid = arr(&bs, serial).and_then(serial_string);
    Ok(Some(p))
}

/// blkid rejects a FAT32 whose FSInfo sector carries neither its signatures nor zeros.
fn fat32_fsinfo_ok(d: &mut Dev<'_>, bs: &[u8], bpb: &FatBpb) -> io::Result<bool> {
    let sector = u64::from(le16(bs, 0x30).unwrap_or(0));
    if sector == 0 {
        return Ok(true);
    }
    let Some(info) = d.bytes(sector * bpb.sector_size, 512)? else {
        return Ok(false);
    };
    let sig1 = field(&info, 0, 4);
    let sig2 = field(&info, 484, 4);
    Ok(matches!(sig1, b"RRaA" | b"RRdA" | [0, 0, 0, 0]) && matches!(sig2, b"rrAa" | [0, 0, 0, 0]))
}

enum DirScan {
    Found(Vec<u8>),
    End,
    More,
}

/// Looks for the volume-label entry in a run of FAT directory entries.
fn fat_dir_label(dir: &[u8]) -> DirScan {
    for ent in dir.chunks_exact(32) {
        let (Some(&first), Some(&attr)) = (ent.first(), ent.get(11)) else {
            break;
        };
        if first == 0 {
            return DirScan::End;
        }
        let clusters = le16(ent, 20).unwrap_or(0) | le16(ent, 26).unwrap_or(0);
        if first == 0xe5 || clusters != 0 || attr & 0x3f == 0x0f {
            continue;
        }
        if attr & (0x08 | 0x10) == 0x08 {
            return DirScan::Found(field(ent, 0, 11).to_vec());
        }
    }
    DirScan::More
}

fn fat16_root_label(d: &mut Dev<'_>, bpb: &FatBpb) -> io::Result<Option<Vec<u8>>> {
    let start = (bpb.reserved + bpb.fat_sectors()) * bpb.sector_size;
    let len = (bpb.dir_entries * 32).min(FAR_READ_MAX as u64) as usize;
    match d.bytes(start, len)? {
        Some(dir) => match fat_dir_label(&dir) {
            DirScan::Found(l) => Ok(Some(l)),
            _ => Ok(None),
        },
        None => Ok(None),
    }
}

fn fat32_root_label(d: &mut Dev<'_>, bs: &[u8], bpb: &FatBpb) -> io::Result<Option<Vec<u8>>> {
    let cluster_bytes = bpb.cluster_sectors * bpb.sector_size;
    let data_start = bpb.reserved + bpb.fat_sectors();
    let fat_entries = bpb.fat32_length * bpb.sector_size / 4;
    let mut next = u64::from(le32(bs, 0x2c).unwrap_or(0));
    for _ in 0..FAT32_MAX_DIR_CLUSTERS {
        if next < 2 || next >= fat_entries {
            break;
        }
        let off = (data_start + (next - 2) * bpb.cluster_sectors) * bpb.sector_size;
        let len = cluster_bytes.min(FAR_READ_MAX as u64) as usize;
        let Some(dir) = d.bytes(off, len)? else {
            break;
        };
        match fat_dir_label(&dir) {
            DirScan::Found(l) => return Ok(Some(l)),
            DirScan::End => break,
            DirScan::More => {}
        }
        let fat_entry = bpb.reserved * bpb.sector_size + next * 4;
        let Some(entry) = d.bytes(fat_entry, 4)? else {
            break;
        };
        next = u64::from(le32(&entry, 0).unwrap_or(0) & 0x0fff_ffff);
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// swap.

const TOI_MAGIC: &[u8] = b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c";

fn probe_swap(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    for page in [0x1000u64, 0x2000, 0x4000, 0x8000, 0x10000] {
        let Some(magic) = d.bytes(page - 10, 10)? else {
            return Ok(None);
        };
        let version = match magic.as_slice() {
            b"SWAP-SPACE" => 0,
            b"SWAPSPACE2" => 1,
            _ => continue,
        };
        // TuxOnIce keeps a valid swap header at the end of the first page.
        if d.bytes(0, 8)?.is_some_and(|b| b == TOI_MAGIC) {
            return Ok(None);
        }
        return if version == 0 {
            let mut p = Probe::new(FsType::Swap);
            p.version = Some("0".to_owned());
            Ok(Some(p))
        } else {
            swap_v1(d)
        };
    }
    Ok(None)
}

fn swap_v1(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    // The header follows 1024 bytes of boot bits: version, last page, bad pages, uuid, label.
    let Some(h) = d.bytes(1024, 44 + 117 * 4)? else {
        return Ok(None);
    };
    let version = le32(&h, 0).unwrap_or(0);
    if (version != 1 && version.swap_bytes() != 1) || le32(&h, 4) == Some(0) {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::Swap);
    p.version = Some("1".to_owned());
    // blkid's sanity check: padding[32..34] must be zero for uuid/label to be trusted.
    if le32(&h, 44 + 32 * 4) == Some(0) && le32(&h, 44 + 33 * 4) == Some(0) {
        p.uuid = uuid_at(&h, 12);
        p.label = c_label(field(&h, 28, 16));
    }
    Ok(Some(p))
}

// ---------------------------------------------------------------------------------------------
// XFS.

fn probe_xfs(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(0, 512)? else {
        return Ok(None);
    };
    if !has(&sb, 0, b"XFSB") || !xfs_sane(&sb).unwrap_or(false) {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::Xfs);
    p.uuid = uuid_at(&sb, 32);
    p.label = c_label(field(&sb, 108, 12));
    p.block_size = be16(&sb, 102).map(u32::from);
    Ok(Some(p))
}

fn pow2_log(value: u64, log: u8, min: u8, max: u8) -> bool {
    (min..=max).contains(&log) && value == 1u64 << log
}

fn xfs_sane(sb: &[u8]) -> Option<bool> {
    let blocksize = u64::from(be32(sb, 4)?);
    let dblocks = be64(sb, 8)?;
    let rextsize = u64::from(be32(sb, 80)?);
    let agblocks = u64::from(be32(sb, 84)?);
    let agcount = u64::from(be32(sb, 88)?);
    let version = be16(sb, 100)? & 0x000f;
    let sectsize = u64::from(be16(sb, 102)?);
    let inodesize = u64::from(be16(sb, 104)?);
    let [blocklog, sectlog, inodelog, inopblog] = arr::<4>(sb, 120)?;
    let imax_pct = *sb.get(127)?;
    let rtext_bytes = rextsize * blocksize;
    Some(
        (1..=5).contains(&version)
            && agcount > 0
            && pow2_log(sectsize, sectlog, 9, 15)
            && pow2_log(blocksize, blocklog, 9, 16)
            && pow2_log(inodesize, inodelog, 8, 11)
            && i32::from(blocklog) - i32::from(inodelog) == i32::from(inopblog)
            && (4096..=1 << 30).contains(&rtext_bytes)
            && imax_pct <= 100
            && dblocks != 0
            && dblocks <= agcount * agblocks
            && dblocks >= (agcount - 1) * agblocks + 64,
    )
}

// ---------------------------------------------------------------------------------------------
// ext2/3/4 and ext journal devices.

const EXT3_FEATURE_COMPAT_HAS_JOURNAL: u32 = 0x0004;
const EXT3_FEATURE_INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
const EXT4_FEATURE_RO_COMPAT_METADATA_CSUM: u32 = 0x0400;
/// ro_compat features ext2 and ext3 know: sparse_super, large_file, btree_dir.
const EXT2_RO_COMPAT_SUPP: u32 = 0x0001 | 0x0002 | 0x0004;
/// incompat features ext2 knows: filetype, meta_bg.
const EXT2_INCOMPAT_SUPP: u32 = 0x0002 | 0x0010;
/// incompat features ext3 knows: filetype, recover, meta_bg.
const EXT3_INCOMPAT_SUPP: u32 = 0x0002 | 0x0004 | 0x0010;

fn probe_ext(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(1024, 1024)? else {
        return Ok(None);
    };
    if !has(&sb, 0x38, b"\x53\xef") || !ext_sane(&sb).unwrap_or(false) {
        return Ok(None);
    }
    let Some(fstype) = ext_type(&sb) else {
        return Ok(None);
    };
    let mut p = Probe::new(fstype);
    p.uuid = uuid_at(&sb, 104);
    p.label = c_label(field(&sb, 120, 16));
    let (rev, minor) = (le32(&sb, 76).unwrap_or(0), le16(&sb, 62).unwrap_or(0));
    p.version = Some(format!("{rev}.{minor}"));
    p.block_size = le32(&sb, 24).map(|log| 1024u32 << log);
    Ok(Some(p))
}

fn ext_sane(sb: &[u8]) -> Option<bool> {
    let log_block = le32(sb, 24)?;
    let blocks_per_group = le32(sb, 32)?;
    let inodes_per_group = le32(sb, 40)?;
    let inodes = le32(sb, 0)?;
    let ro_compat = le32(sb, 100)?;
    if ro_compat & EXT4_FEATURE_RO_COMPAT_METADATA_CSUM != 0
        && crc32c_raw(!0, field(sb, 0, 0x3fc)) != le32(sb, 0x3fc)?
    {
        return Some(false);
    }
    // Journal devices carry no inodes or groups.
    let journal_dev = le32(sb, 96)? & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV != 0;
    let groups_ok = journal_dev || (inodes != 0 && blocks_per_group != 0 && inodes_per_group != 0);
    Some(log_block <= 6 && groups_ok)
}

/// blkid's ext2/ext3/ext4/jbd decision (on a system that has ext2 and ext4 drivers).
fn ext_type(sb: &[u8]) -> Option<FsType> {
    let compat = le32(sb, 92)?;
    let incompat = le32(sb, 96)?;
    let ro_compat = le32(sb, 100)?;
    let journal = compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL != 0;
    let beyond_ext3 = ro_compat & !EXT2_RO_COMPAT_SUPP != 0 || incompat & !EXT3_INCOMPAT_SUPP != 0;
    if incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV != 0 {
        Some(FsType::Jbd)
    } else if beyond_ext3 {
        Some(FsType::Ext4)
    } else if journal {
        Some(FsType::Ext3)
    } else if incompat & !EXT2_INCOMPAT_SUPP == 0 {
        Some(FsType::Ext2)
    } else {
        // No journal but "needs recovery": blkid claims none of the ext types.
        None
    }
}

// ---------------------------------------------------------------------------------------------
// ISO 9660 (with Joliet).

const ISO_VD_START: u64 = 0x8000;
const ISO_SECTOR: u64 = 0x800;
const ISO_VD_MAX: u64 = 16;

#[derive(Default)]
struct IsoDescriptors {
    pvd: Option<Vec<u8>>,
    joliet: Option<Vec<u8>>,
}

fn iso_descriptors(d: &mut Dev<'_>) -> io::Result<IsoDescriptors> {
    let mut found = IsoDescriptors::default();
    for i in 0..ISO_VD_MAX {
        let Some(vd) = d.bytes(ISO_VD_START + i * ISO_SECTOR, 2048)? else {
            break;
        };
        match vd.first().copied() {
            None | Some(0xff) => break,
            Some(_) if !has(&vd, 1, b"CD001") => break,
            Some(1) if found.pvd.is_none() => found.pvd = Some(vd),
            Some(2) if found.joliet.is_none() && is_joliet(&vd) => found.joliet = Some(vd),
            Some(_) => {}
        }
        if found.pvd.is_some() && found.joliet.is_some() {
            break;
        }
    }
    Ok(found)
}

fn is_joliet(vd: &[u8]) -> bool {
    let esc = field(vd, 88, 3);
    matches!(esc, b"%/@" | b"%/C" | b"%/E")
}

fn probe_iso9660(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    match d.bytes(ISO_VD_START + 1, 5)? {
        Some(m) if m == b"CD001" => {}
        _ => return Ok(None),
    }
    let vds = iso_descriptors(d)?;
    let Some(pvd) = vds.pvd else {
        return Ok(None);
    };
    let mut p = Probe::new(FsType::Iso9660);
    p.block_size = le16(&pvd, 128).map(u32::from);
    p.uuid = iso_date_uuid(&pvd, 830)
        .or_else(|| iso_date_uuid(&pvd, 813))
        .flatten();
    let pvd_label = field(&pvd, 40, 32);
    p.label = match &vds.joliet {
        Some(j) => {
            p.version = Some("Joliet Extension".to_owned());
            let joliet_label = field(j, 40, 32);
            match merge_utf16be_ascii(joliet_label, pvd_label) {
                Some(merged) => utf16_label(&merged, true),
                None => utf16_label(joliet_label, true),
            }
        }
        None => c_label(pvd_label),
    };
    Ok(Some(p))
}

/// The UUID blkid makes from a volume date: `None` when the date is unset (all '0' and a zero
/// offset: try the next date), `Some(None)` when it is set but empty.
fn iso_date_uuid(pvd: &[u8], off: usize) -> Option<Option<String>> {
    let date = field(pvd, off, 16);
    let offset = pvd.get(off + 16).copied().unwrap_or(0);
    if date.len() != 16 || (date.iter().all(|&c| c == b'0') && offset == 0) {
        return None;
    }
    if date.iter().all(|&c| c == 0) {
        return Some(None);
    }
    let s: String = date.iter().map(|&c| char::from(c)).collect();
    let part = |r: std::ops::Range<usize>| s.get(r).unwrap_or_default().to_owned();
    Some(Some(format!(
        "{}-{}-{}-{}-{}-{}-{}",
        part(0..4),
        part(4..6),
        part(6..8),
        part(8..10),
        part(10..12),
        part(12..14),
        part(14..16)
    )))
}

/// blkid's reconstruction of a label from the Joliet (UTF-16BE, may be cut short) and the PVD
/// (upper-case ASCII, '_' for what it cannot represent) copies: if the Joliet one is a prefix
/// of the PVD one, the result is the Joliet text followed by the rest of the PVD text.
fn merge_utf16be_ascii(utf16: &[u8], ascii: &[u8]) -> Option<Vec<u8>> {
    let len = ascii.len().min(utf16.len());
    let mut out = Vec::with_capacity(len * 2);
    let (mut a, mut u) = (0usize, 0usize);
    let at = |i: usize| utf16.get(i).copied().unwrap_or(0);
    while u + 1 < len && a < len {
        let hi = at(u);
        if (0xD8..=0xDB).contains(&hi) && u + 3 < len && (0xDC..=0xDF).contains(&at(u + 2)) {
            out.extend_from_slice(&[hi, at(u + 1)]);
            u += 2;
        }
        let (c_hi, c_lo) = (at(u), at(u + 1));
        let c = ascii.get(a).copied().unwrap_or(0);
        if c == b'_' {
            out.extend_from_slice(&[c_hi, c_lo]);
        } else if c_hi == 0 && c_lo == b'_' {
            out.extend_from_slice(&[0, c]);
        } else if c_hi == 0 && c.eq_ignore_ascii_case(&c_lo) {
            out.extend_from_slice(&[0, if c.is_ascii_uppercase() { c_lo } else { c }]);
        } else {
            return None;
        }
        a += 1;
        u += 2;
    }
    for &c in ascii.get(a..len).unwrap_or_default() {
        out.extend_from_slice(&[0, c]);
    }
    (!out.is_empty()).then_some(out)
}

// ---------------------------------------------------------------------------------------------
// squashfs (version 4; blkid calls 1-3 "squashfs3", which Linux no longer mounts).

fn probe_squashfs(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(0, 96)? else {
        return Ok(None);
    };
    if !has(&sb, 0, b"hsqs") {
        return Ok(None);
    }
    let (Some(block_size), Some(block_log), Some(major), Some(minor)) =
        (le32(&sb, 12), le16(&sb, 22), le16(&sb, 28), le16(&sb, 30))
    else {
        return Ok(None);
    };
    let block_ok = (12..=20).contains(&block_log) && u64::from(block_size) == 1 << block_log;
    if major < 4 || !block_ok {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::Squashfs);
    p.version = Some(format!("{major}.{minor}"));
    Ok(Some(p))
}

// ---------------------------------------------------------------------------------------------
// btrfs.

const BTRFS_SB_OFFSET: u64 = 0x10000;

fn probe_btrfs(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(BTRFS_SB_OFFSET, 4096)? else {
        return Ok(None);
    };
    if !has(&sb, 0x40, b"_BHRfS_M") || !btrfs_sane(&sb).unwrap_or(false) {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::Btrfs);
    p.uuid = uuid_at(&sb, 32);
    p.uuid_sub = uuid_at(&sb, 267);
    p.label = c_label(field(&sb, 299, 256));
    p.block_size = le32(&sb, 144);
    Ok(Some(p))
}

fn btrfs_sane(sb: &[u8]) -> Option<bool> {
    let sectorsize = u64::from(le32(sb, 144)?);
    let nodesize = u64::from(le32(sb, 148)?);
    let csum_type = le16(sb, 196)?;
    let sizes_ok = sectorsize.is_power_of_two()
        && (512..=65536).contains(&sectorsize)
        && nodesize.is_power_of_two()
        && (sectorsize..=65536).contains(&nodesize);
    // crc32c, xxhash64, sha256, blake2b; only crc32c (the default) is checked here.
    let csum_ok = match csum_type {
        0 => !crc32c_raw(!0, field(sb, 32, 4096 - 32)) == le32(sb, 0)?,
        1..=3 => true,
        _ => false,
    };
    Some(le64(sb, 48)? == BTRFS_SB_OFFSET && sizes_ok && csum_ok)
}

// ---------------------------------------------------------------------------------------------
// exFAT.

const EXFAT_MAX_DIR_CLUSTERS: usize = 4;

struct ExfatGeometry {
    sector_shift: u32,
    cluster_shift: u32,
    fat_offset: u64,
    heap_offset: u64,
}

impl ExfatGeometry {
    fn cluster_offset(&self, cluster: u64) -> Option<u64> {
        let sectors = self.heap_offset + ((cluster.checked_sub(2)?) << self.cluster_shift);
        Some(sectors << self.sector_shift)
    }
}

/// Whether `bs` (the first 512 bytes) is an exFAT boot sector (without the boot-region
/// checksum, which needs 12 sectors); the MBR parser uses this.
pub(crate) fn is_exfat_boot_sector(bs: &[u8]) -> bool {
    exfat_geometry(bs).is_some()
}

fn exfat_geometry(bs: &[u8]) -> Option<ExfatGeometry> {
    let must_be_zero = field(bs, 11, 53);
    let valid = has(bs, 3, b"EXFAT   ")
        && has(bs, 0, b"\xEB\x76\x90")
        && has(bs, 510, b"\x55\xAA")
        && must_be_zero.len() == 53
        && must_be_zero.iter().all(|&b| b == 0);
    let sector_shift = u32::from(*bs.get(108)?);
    let cluster_shift = u32::from(*bs.get(109)?);
    let shifts_ok = (9..=12).contains(&sector_shift) && cluster_shift <= 25 - sector_shift;
    (valid && shifts_ok).then(|| ExfatGeometry {
        sector_shift,
        cluster_shift,
        fat_offset: u64::from(le32(bs, 80).unwrap_or(0)),
        heap_offset: u64::from(le32(bs, 88).unwrap_or(0)),
    })
}

fn probe_exfat(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(bs) = d.bytes(0, 512)? else {
        return Ok(None);
    };
    let Some(geo) = exfat_geometry(&bs) else {
        return Ok(None);
    };
    let sector = 1usize << geo.sector_shift;
    let Some(region) = d.bytes(0, sector * 12)? else {
        return Ok(None);
    };
    if !exfat_checksum_ok(&region, sector) {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::Exfat);
    p.label = exfat_label(d, &geo, le32(&bs, 96).unwrap_or(0))?;
    p.uuid = arr(&bs, 100).and_then(serial_string);
    let (minor, major) = (bs.get(104).copied(), bs.get(105).copied());
    p.version = Some(format!("{}.{}", major.unwrap_or(0), minor.unwrap_or(0)));
    p.block_size = Some(1u32 << geo.sector_shift);
    Ok(Some(p))
}

/// The boot region checksum (sectors 0-10, skipping VolumeFlags and PercentInUse), repeated
/// over all of sector 11.
fn exfat_checksum_ok(region: &[u8], sector: usize) -> bool {
    let sum = field(region, 0, sector * 11)
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 106 | 107 | 112))
        .fold(0u32, |sum, (_, &b)| {
            sum.rotate_right(1).wrapping_add(u32::from(b))
        });
    let expected = field(region, sector * 11, sector);
    expected.len() == sector && expected.chunks_exact(4).all(|c| le32(c, 0) == Some(sum))
}

fn exfat_label(d: &mut Dev<'_>, geo: &ExfatGeometry, root: u32) -> io::Result<Option<String>> {
    let cluster_bytes = 1u64 << (geo.sector_shift + geo.cluster_shift);
    let mut cluster = u64::from(root);
    for _ in 0..EXFAT_MAX_DIR_CLUSTERS {
        if !(2..=0x0fff_fff6).contains(&cluster) {
            break;
        }
        let Some(off) = geo.cluster_offset(cluster) else {
            break;
        };
        let len = cluster_bytes.min(FAR_READ_MAX as u64) as usize;
        let Some(dir) = d.bytes(off, len)? else {
            break;
        };
        for ent in dir.chunks_exact(32) {
            match ent.first() {
                Some(0x00) | None => return Ok(None),
                Some(0x83) => {
                    let chars = usize::from(ent.get(1).copied().unwrap_or(0));
                    return Ok(utf16_label(field(ent, 2, (chars * 2).min(22)), false));
                }
                Some(_) => {}
            }
        }
        if cluster_bytes > FAR_READ_MAX as u64 {
            break;
        }
        let fat_entry = (geo.fat_offset << geo.sector_shift) + cluster * 4;
        let Some(next) = d.bytes(fat_entry, 4)? else {
            break;
        };
        cluster = u64::from(le32(&next, 0).unwrap_or(0));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// F2FS.

const F2FS_SB_OFFSET: u64 = 0x400;

fn probe_f2fs(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(F2FS_SB_OFFSET, 3072)? else {
        return Ok(None);
    };
    if !has(&sb, 0, b"\x10\x20\xF5\xF2") || !f2fs_sane(&sb).unwrap_or(false) {
        return Ok(None);
    }
    let (major, minor) = (le16(&sb, 4).unwrap_or(0), le16(&sb, 6).unwrap_or(0));
    let mut p = Probe::new(FsType::F2fs);
    if (major, minor) == (1, 0) {
        // blkid cannot know the 1.0 layout and reports the type alone.
        return Ok(Some(p));
    }
    let csum_off = le32(&sb, 32).unwrap_or(0) as usize;
    if csum_off != 0
        && crc32_raw(0xF2F5_2010, field(&sb, 0, csum_off)) != le32(&sb, csum_off).unwrap_or(0)
    {
        return Ok(None);
    }
    p.uuid = uuid_at(&sb, 0x6c);
    p.label = utf16_label(field(&sb, 0x7c, 1024), false);
    p.version = Some(format!("{major}.{minor}"));
    p.block_size = le32(&sb, 16).map(|log| 1u32 << log);
    Ok(Some(p))
}

fn f2fs_sane(sb: &[u8]) -> Option<bool> {
    let log_sector = le32(sb, 8)?;
    let log_sectors_per_block = le32(sb, 12)?;
    let log_block = le32(sb, 16)?;
    let csum_off = le32(sb, 32)?;
    Some(
        (9..=12).contains(&log_sector)
            && (12..=16).contains(&log_block)
            && log_sector.checked_add(log_sectors_per_block) == Some(log_block)
            && csum_off <= 3068,
    )
}

// ---------------------------------------------------------------------------------------------
// EROFS.

const EROFS_SB_OFFSET: u64 = 1024;
const EROFS_FEATURE_SB_CSUM: u32 = 1;

fn probe_erofs(d: &mut Dev<'_>) -> io::Result<Option<Probe>> {
    let Some(sb) = d.bytes(EROFS_SB_OFFSET, 128)? else {
        return Ok(None);
    };
    let blkszbits = sb.get(12).copied().unwrap_or(0);
    if !has(&sb, 0, b"\xE2\xE1\xF5\xE0") || !(9..=16).contains(&blkszbits) {
        return Ok(None);
    }
    if le32(&sb, 8).unwrap_or(0) & EROFS_FEATURE_SB_CSUM != 0 && !erofs_csum_ok(d, blkszbits)? {
        return Ok(None);
    }
    let mut p = Probe::new(FsType::Erofs);
    p.uuid = uuid_at(&sb, 48);
    p.label = c_label(field(&sb, 64, 16));
    p.block_size = Some(1u32 << blkszbits);
    Ok(Some(p))
}

/// crc32c of the superblock block (from the superblock on) with its checksum field zeroed.
fn erofs_csum_ok(d: &mut Dev<'_>, blkszbits: u8) -> io::Result<bool> {
    let block = 1usize << blkszbits;
    let len = if block > 1024 { block - 1024 } else { block };
    let Some(mut data) = d.bytes(EROFS_SB_OFFSET, len)? else {
        return Ok(false);
    };
    let expected = le32(&data, 4);
    if let Some(csum) = data.get_mut(4..8) {
        csum.fill(0);
    }
    Ok(expected == Some(crc32c_raw(!0, &data)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    // -- helpers shared with partition.rs tests ------------------------------------------------

    pub(crate) fn put(buf: &mut Vec<u8>, off: usize, bytes: &[u8]) {
        if buf.len() < off + bytes.len() {
            buf.resize(off + bytes.len(), 0);
        }
        buf[off..off + bytes.len()].copy_from_slice(bytes);
    }
    pub(crate) fn put16(buf: &mut Vec<u8>, off: usize, v: u16) {
        put(buf, off, &v.to_le_bytes());
    }
    pub(crate) fn put32(buf: &mut Vec<u8>, off: usize, v: u32) {
        put(buf, off, &v.to_le_bytes());
    }
    pub(crate) fn put64(buf: &mut Vec<u8>, off: usize, v: u64) {
        put(buf, off, &v.to_le_bytes());
    }
    fn bput16(buf: &mut Vec<u8>, off: usize, v: u16) {
        put(buf, off, &v.to_be_bytes());
    }
    fn bput32(buf: &mut Vec<u8>, off: usize, v: u32) {
        put(buf, off, &v.to_be_bytes());
    }
    fn bput64(buf: &mut Vec<u8>, off: usize, v: u64) {
        put(buf, off, &v.to_be_bytes());
    }

    /// xorshift64*: deterministic pseudo-random bytes for robustness tests.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// Mutates `img` many times (random bytes, or adversarial values) within its first
    /// `span` bytes and runs `f` on each mutant: nothing may panic.
    pub(crate) fn mutate_all(img: &[u8], span: usize, seed: u64, rounds: usize, f: impl Fn(&[u8])) {
        let mut rng = Rng(seed);
        let span = span.min(img.len()).max(1);
        for _ in 0..rounds {
            let mut m = img.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(span);
                let v = match rng.below(4) {
                    0 => 0x00,
                    1 => 0xff,
                    2 => 0x80,
                    _ => rng.next() as u8,
                };
                if let Some(b) = m.get_mut(at) {
                    *b = v;
                }
            }
            f(&m);
        }
    }

    /// A `Command` for a host tool the test needs, found by the harness
    /// ([`sesame_qemu::command`]); panics with the `apt-get install` line when it is missing.
    pub(crate) fn tool(name: &str) -> Command {
        sesame_qemu::command(name).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub(crate) fn run(cmd: &mut Command) -> String {
        sesame_qemu::run(cmd).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// `blkid -p -o export` as a map, values unescaped.
    pub(crate) fn blkid_export(path: &Path) -> HashMap<String, String> {
        let out = tool("blkid")
            .args(["-p", "-o", "export"])
            .arg(path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let mut s = String::new();
                let mut chars = v.chars();
                while let Some(c) = chars.next() {
                    s.push(if c == '\\' {
                        chars.next().unwrap_or('\\')
                    } else {
                        c
                    });
                }
                (k.to_owned(), s)
            })
            .collect()
    }

    fn probe_file(path: &Path) -> Option<Probe> {
        let f = std::fs::File::open(path).unwrap();
        probe(&f).unwrap()
    }

    /// Compares our probe of `path` with blkid's: TYPE, UUID, LABEL, VERSION, BLOCK_SIZE.
    fn assert_like_blkid(path: &Path) -> Probe {
        let ours = probe_file(path).unwrap_or_else(|| panic!("nothing found on {path:?}"));
        let theirs = blkid_export(path);
        assert_eq!(
            Some(ours.fstype.kernel_name()),
            theirs.get("TYPE").map(String::as_str)
        );
        assert_eq!(ours.uuid.as_ref(), theirs.get("UUID"), "UUID of {path:?}");
        assert_eq!(
            ours.label.as_ref(),
            theirs.get("LABEL"),
            "LABEL of {path:?}"
        );
        assert_eq!(ours.uuid_sub.as_ref(), theirs.get("UUID_SUB"), "UUID_SUB");
        assert_eq!(
            ours.version.as_ref(),
            theirs.get("VERSION"),
            "VERSION of {path:?}"
        );
        let bs = ours.block_size.map(|b| b.to_string());
        assert_eq!(
            bs.as_ref(),
            theirs.get("BLOCK_SIZE"),
            "BLOCK_SIZE of {path:?}"
        );
        assert!(ours.conflicts.is_empty());
        ours
    }

    fn sparse_file(dir: &Path, name: &str, size: u64) -> PathBuf {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(size).unwrap();
        path
    }

    fn mkfs(dir: &Path, size: u64, program: &str, args: &[&str]) -> PathBuf {
        let path = sparse_file(dir, "img", size);
        run(tool(program).args(args).arg(&path));
        path
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    const UUID: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
        0x88,
    ];
    const UUID_STR: &str = "12345678-9abc-def0-1122-334455667788";

    fn found(img: &[u8]) -> Probe {
        probe(img).unwrap().expect("a signature")
    }

    // -- ext -----------------------------------------------------------------------------------

    fn ext_image(compat: u32, incompat: u32, ro_compat: u32) -> Vec<u8> {
        let mut img = vec![0u8; 8192];
        let sb = 1024;
        put32(&mut img, sb, 16); // inodes
        put32(&mut img, sb + 4, 8192); // blocks
        put32(&mut img, sb + 24, 0); // 1 KiB blocks
        put32(&mut img, sb + 32, 8192);
        put32(&mut img, sb + 40, 16);
        put(&mut img, sb + 0x38, &[0x53, 0xef]);
        put32(&mut img, sb + 76, 1);
        put32(&mut img, sb + 92, compat);
        put32(&mut img, sb + 96, incompat);
        put32(&mut img, sb + 100, ro_compat);
        put(&mut img, sb + 104, &UUID);
        put(&mut img, sb + 120, b"root  \0junk");
        img
    }

    fn set_ext_csum(img: &mut Vec<u8>) {
        let c = crc32c_raw(!0, &img[1024..1024 + 0x3fc]);
        put32(img, 1024 + 0x3fc, c);
    }

    #[test]
    fn ext_types_follow_blkid_feature_rules() {
        let cases = [
            (0, 0x2, 0x1, FsType::Ext2),
            (0x4, 0x2, 0x3, FsType::Ext3),
            (0x4, 0x2 | 0x40, 0x1, FsType::Ext4),  // extents
            (0x4, 0x2 | 0x200, 0x1, FsType::Ext4), // flex_bg
            (0x4, 0x2 | 0x80, 0x1, FsType::Ext4),  // 64bit
            (0x0, 0x2, 0x1 | 0x8, FsType::Ext4),   // huge_file without a journal
            (0x4, 0x2, 0x1 | 0x10, FsType::Ext4),  // gdt_csum
            (0x0, 0x8, 0x0, FsType::Jbd),          // journal device
        ];
        for (compat, incompat, ro, want) in cases {
            let p = found(&ext_image(compat, incompat, ro));
            assert_eq!(p.fstype, want, "features {compat:x} {incompat:x} {ro:x}");
            assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
            assert_eq!(p.label.as_deref(), Some("root"));
            assert_eq!(p.version.as_deref(), Some("1.0"));
            assert_eq!(p.block_size, Some(1024));
        }
        // No journal yet "needs recovery": blkid claims no ext type.
        assert_eq!(probe(&ext_image(0, 0x4, 0)[..]).unwrap(), None);
    }

    #[test]
    fn ext_sanity_rejects_impossible_superblocks() {
        let mut img = ext_image(0x4, 0x42, 0x1);
        put32(&mut img, 1024 + 24, 7); // 128 KiB blocks
        assert_eq!(probe(&img[..]).unwrap(), None);
        let mut img = ext_image(0x4, 0x42, 0x1);
        put32(&mut img, 1024 + 40, 0); // no inodes per group
        assert_eq!(probe(&img[..]).unwrap(), None);
        let mut img = ext_image(0x4, 0x42, 0x1);
        put(&mut img, 1024 + 104, &[0; 16]);
        put(&mut img, 1024 + 120, &[0; 16]);
        let p = found(&img);
        assert_eq!((p.uuid, p.label), (None, None));
    }

    #[test]
    fn ext_metadata_csum_is_verified() {
        let mut img = ext_image(0x4, 0x42, 0x1 | 0x400);
        set_ext_csum(&mut img);
        assert_eq!(found(&img).fstype, FsType::Ext4);
        img[1024 + 0x3fc] ^= 1;
        assert_eq!(probe(&img[..]).unwrap(), None);
    }

    // -- xfs -----------------------------------------------------------------------------------

    fn xfs_image() -> Vec<u8> {
        let mut img = vec![0u8; 4096];
        put(&mut img, 0, b"XFSB");
        bput32(&mut img, 4, 4096);
        bput64(&mut img, 8, 4000);
        put(&mut img, 32, &UUID);
        bput32(&mut img, 80, 1);
        bput32(&mut img, 84, 1000);
        bput32(&mut img, 88, 4);
        bput16(&mut img, 100, 0xb4a5);
        bput16(&mut img, 102, 512);
        bput16(&mut img, 104, 512);
        bput16(&mut img, 106, 8);
        put(&mut img, 108, b"data\0\0\0\0\0\0\0\0");
        put(&mut img, 120, &[12, 9, 9, 3]);
        img[127] = 25;
        img
    }

    #[test]
    fn xfs_hand_built() {
        let p = found(&xfs_image());
        assert_eq!(p.fstype, FsType::Xfs);
        assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
        assert_eq!(p.label.as_deref(), Some("data"));
        assert_eq!(p.block_size, Some(512));
        let mut bad = xfs_image();
        bput16(&mut bad, 100, 0xb4a0); // version 0
        assert_eq!(probe(&bad[..]).unwrap(), None);
        let mut bad = xfs_image();
        bput16(&mut bad, 102, 1000); // sector size not a power of two
        assert_eq!(probe(&bad[..]).unwrap(), None);
        let mut bad = xfs_image();
        bput64(&mut bad, 8, 5000); // more blocks than the allocation groups hold
        assert_eq!(probe(&bad[..]).unwrap(), None);
    }

    // -- vfat ----------------------------------------------------------------------------------

    fn fat16_image(dir_label: Option<&[u8; 11]>, boot_label: &[u8; 11]) -> Vec<u8> {
        let mut img = vec![0u8; 52 * 1024];
        put(&mut img, 0, &[0xeb, 0x3c, 0x90]);
        put(&mut img, 3, b"mkfs.fat");
        put16(&mut img, 0x0b, 512);
        img[0x0d] = 4;
        put16(&mut img, 0x0e, 4);
        img[0x10] = 2;
        put16(&mut img, 0x11, 512);
        put16(&mut img, 0x13, 32768);
        img[0x15] = 0xf8;
        put16(&mut img, 0x16, 32);
        img[0x26] = 0x29;
        put(&mut img, 0x27, &[0x34, 0x12, 0xcd, 0xab]);
        put(&mut img, 0x2b, boot_label);
        put(&mut img, 0x36, b"FAT16   ");
        put(&mut img, 0x1fe, &[0x55, 0xaa]);
        let root = (4 + 64) * 512;
        // A deleted entry and a long-name entry come first and must be skipped.
        put(&mut img, root, b"\xe5DELETED   ");
        img[root + 11] = 0x08;
        put(&mut img, root + 32, b"ALONGNAME  ");
        img[root + 32 + 11] = 0x0f;
        if let Some(l) = dir_label {
            put(&mut img, root + 64, l);
            img[root + 64 + 11] = 0x08;
        }
        img
    }

    #[test]
    fn vfat_label_from_root_dir_then_boot_sector() {
        let p = found(&fat16_image(Some(b"DIRLABEL   "), b"BOOTLABEL  "));
        assert_eq!(p.fstype, FsType::Vfat);
        assert_eq!(p.label.as_deref(), Some("DIRLABEL"));
        assert_eq!(p.uuid.as_deref(), Some("ABCD-1234"));
        assert_eq!(p.version.as_deref(), Some("FAT16"));
        assert_eq!(p.block_size, Some(512));
        let p = found(&fat16_image(Some(b"NO NAME    "), b"BOOTLABEL  "));
        assert_eq!(p.label.as_deref(), Some("BOOTLABEL"));
        let p = found(&fat16_image(None, b"NO NAME    "));
        assert_eq!(p.label, None);
        let p = found(&fat16_image(None, b"           "));
        assert_eq!(p.label, None);
    }

    #[test]
    fn vfat_rejects_mbr_and_bad_fields() {
        // An MBR: boot code, partition entries, 55 aa, but no BPB.
        let mut mbr = vec![0u8; 4096];
        put(&mut mbr, 0, &[0xeb, 0x63, 0x90]);
        put(&mut mbr, 446, &[0x80, 0, 0, 0, 0x83, 0, 0, 0]);
        put32(&mut mbr, 454, 2048);
        put32(&mut mbr, 458, 4096);
        put(&mut mbr, 510, &[0x55, 0xaa]);
        assert_eq!(probe(&mbr[..]).unwrap(), None);
        assert!(!is_fat_boot_sector(&mbr));
        for (off, v) in [(0x10usize, 0u8), (0x15, 0x12), (0x0d, 3), (0x0e, 0)] {
            let mut img = fat16_image(None, b"X          ");
            img[off] = v;
            if off == 0x0e {
                img[0x0f] = 0;
            }
            assert_eq!(probe(&img[..]).unwrap(), None, "field {off:#x} = {v:#x}");
        }
    }

    fn fat32_image(fsinfo_ok: bool, with_dir_label: bool) -> Vec<u8> {
        let mut img = vec![0u8; 512];
        put(&mut img, 0, &[0xeb, 0x58, 0x90]);
        put16(&mut img, 0x0b, 512);
        img[0x0d] = 1;
        put16(&mut img, 0x0e, 32);
        img[0x10] = 2;
        img[0x15] = 0xf8;
        put32(&mut img, 0x20, 100_000);
        put32(&mut img, 0x24, 800);
        put32(&mut img, 0x2c, 2);
        put16(&mut img, 0x30, 1);
        put(&mut img, 0x43, &[0x78, 0x56, 0x34, 0x12]);
        put(&mut img, 0x47, b"BOOT32     ");
        put(&mut img, 0x52, b"FAT32   ");
        put(&mut img, 0x1fe, &[0x55, 0xaa]);
        put(&mut img, 512, if fsinfo_ok { b"RRaA" } else { b"XXXX" });
        put(&mut img, 512 + 484, b"rrAa");
        // FAT: cluster 2 -> 3 -> end; the label is in cluster 3.
        put32(&mut img, 32 * 512 + 8, 3);
        put32(&mut img, 32 * 512 + 12, 0x0fff_ffff);
        let data = (32 + 1600) * 512;
        for i in 0..16 {
            put(&mut img, data + i * 32, b"FILE    TXT");
            put16(&mut img, data + i * 32 + 26, 5);
        }
        if with_dir_label {
            put(&mut img, data + 512, b"Data Disk  \x08");
        }
        img.resize(data + 1024 + 512, 0);
        img
    }

    #[test]
    fn vfat_fat32_follows_root_cluster_chain() {
        let p = found(&fat32_image(true, true));
        assert_eq!(p.version.as_deref(), Some("FAT32"));
        assert_eq!(p.label.as_deref(), Some("Data Disk"));
        assert_eq!(p.uuid.as_deref(), Some("1234-5678"));
        assert_eq!(
            found(&fat32_image(true, false)).label.as_deref(),
            Some("BOOT32")
        );
        assert_eq!(probe(&fat32_image(false, true)[..]).unwrap(), None);
    }

    // -- btrfs ---------------------------------------------------------------------------------

    fn btrfs_image(csum_type: u16) -> Vec<u8> {
        let mut img = vec![0u8; 0x10000 + 4096];
        let sb = 0x10000;
        put(&mut img, sb + 32, &UUID);
        put64(&mut img, sb + 48, 0x10000);
        put(&mut img, sb + 64, b"_BHRfS_M");
        put32(&mut img, sb + 144, 4096);
        put32(&mut img, sb + 148, 16384);
        put16(&mut img, sb + 196, csum_type);
        put(&mut img, sb + 267, &[0xaa; 16]);
        put(&mut img, sb + 299, b"pool");
        let c = !crc32c_raw(!0, &img[sb + 32..sb + 4096]);
        put32(&mut img, sb, c);
        img
    }

    #[test]
    fn btrfs_checks_superblock_checksum() {
        let p = found(&btrfs_image(0));
        assert_eq!(p.fstype, FsType::Btrfs);
        assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
        assert_eq!(
            p.uuid_sub.as_deref(),
            Some("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
        );
        assert_eq!(p.label.as_deref(), Some("pool"));
        assert_eq!(p.block_size, Some(4096));
        let mut bad = btrfs_image(0);
        bad[0x10000 + 400] ^= 1;
        assert_eq!(probe(&bad[..]).unwrap(), None);
        assert_eq!(probe(&btrfs_image(9)[..]).unwrap(), None);
    }

    // -- swap ----------------------------------------------------------------------------------

    fn swap_image(page: usize, magic: &[u8; 10]) -> Vec<u8> {
        let mut img = vec![0u8; page * 10];
        put(&mut img, page - 10, magic);
        put32(&mut img, 1024, 1);
        put32(&mut img, 1028, 9);
        put(&mut img, 1036, &UUID);
        put(&mut img, 1052, b"swap0");
        img
    }

    #[test]
    fn swap_at_every_page_size() {
        for page in [4096, 8192, 16384, 32768, 65536] {
            let p = found(&swap_image(page, b"SWAPSPACE2"));
            assert_eq!(p.fstype, FsType::Swap, "page {page}");
            assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
            assert_eq!(p.label.as_deref(), Some("swap0"));
            assert_eq!(p.version.as_deref(), Some("1"));
        }
        let p = found(&swap_image(4096, b"SWAP-SPACE"));
        assert_eq!((p.version.as_deref(), p.uuid), (Some("0"), None));
        let mut img = swap_image(4096, b"SWAPSPACE2");
        put32(&mut img, 1028, 0); // no last page
        assert_eq!(probe(&img[..]).unwrap(), None);
        let mut img = swap_image(4096, b"SWAPSPACE2");
        put(&mut img, 0, TOI_MAGIC);
        assert_eq!(probe(&img[..]).unwrap(), None);
        let mut img = swap_image(4096, b"SWAPSPACE2");
        put32(&mut img, 1024 + 44 + 128, 7); // garbage: uuid and label are not trusted
        let p = found(&img);
        assert_eq!((p.uuid, p.label), (None, None));
    }

    // -- LUKS ----------------------------------------------------------------------------------

    fn luks_image(version: u16) -> Vec<u8> {
        let mut img = vec![0u8; 0x8000];
        put(&mut img, 0, LUKS_MAGIC);
        bput16(&mut img, 6, version);
        put(
            &mut img,
            168,
            b"0b7a9d8c-1111-4222-8333-444455556666\0\0\0\0",
        );
        if version == 2 {
            put(&mut img, 24, b"cryptroot");
        }
        img
    }

    #[test]
    fn luks_headers_and_secondary() {
        let p = found(&luks_image(1));
        assert_eq!(p.fstype, FsType::Luks1);
        assert!(p.fstype.is_luks() && !p.fstype.is_mountable());
        assert_eq!(
            p.uuid.as_deref(),
            Some("0b7a9d8c-1111-4222-8333-444455556666")
        );
        assert_eq!((p.label, p.version.as_deref()), (None, Some("1")));
        let p = found(&luks_image(2));
        assert_eq!(p.fstype, FsType::Luks2);
        assert_eq!(p.fstype.kernel_name(), "crypto_LUKS");
        assert_eq!(p.label.as_deref(), Some("cryptroot"));
        // Primary header wiped: the secondary at 16 KiB still names the device.
        let mut img = luks_image(2);
        let hdr = img[..512].to_vec();
        put(&mut img, 0x4000, &hdr);
        put(&mut img, 0x4000, LUKS2_MAGIC_2);
        bput64(&mut img, 0x4000 + 256, 0x4000);
        img[..4096].fill(0);
        assert_eq!(found(&img).fstype, FsType::Luks2);
        // A secondary header that says it lives elsewhere is stale.
        bput64(&mut img, 0x4000 + 256, 0x8000);
        assert_eq!(probe(&img[..]).unwrap(), None);
        assert_eq!(probe(&luks_image(3)[..]).unwrap(), None);
    }

    #[test]
    fn luks_wins_over_filesystem_signatures() {
        let mut img = ext_image(0x4, 0x42, 0x1);
        img.resize(0x10000 + 4096, 0);
        put(&mut img, 0x10000, &btrfs_image(0)[0x10000..]);
        let luks = luks_image(2);
        put(&mut img, 0, &luks[..1024]);
        let p = found(&img);
        assert_eq!(p.fstype, FsType::Luks2);
        assert!(p.conflicts.is_empty());
    }

    // -- iso9660 -------------------------------------------------------------------------------

    fn iso_image(pvd_label: &[u8], joliet_label: Option<&str>) -> Vec<u8> {
        let mut img = vec![0u8; 0x8000];
        let vd = |img: &mut Vec<u8>, at: usize, kind: u8| {
            put(img, at, &[kind]);
            put(img, at + 1, b"CD001\x01");
        };
        vd(&mut img, 0x8000, 1);
        let mut label = [b' '; 32];
        label[..pvd_label.len()].copy_from_slice(pvd_label);
        put(&mut img, 0x8000 + 40, &label);
        put16(&mut img, 0x8000 + 128, 2048);
        put(&mut img, 0x8000 + 813, b"2023123123595900\x04");
        put(&mut img, 0x8000 + 830, b"2024010203040506\x00");
        let mut next = 0x8800;
        if let Some(j) = joliet_label {
            vd(&mut img, next, 2);
            put(&mut img, next + 88, b"%/E");
            let mut units: Vec<u8> = j.encode_utf16().flat_map(u16::to_be_bytes).collect();
            units.resize(32, 0);
            put(&mut img, next + 40, &units);
            next += 0x800;
        }
        vd(&mut img, next, 0xff);
        img.resize(next + 0x800, 0);
        img
    }

    #[test]
    fn iso9660_label_uuid_and_joliet() {
        let p = found(&iso_image(b"MYISO", None));
        assert_eq!(p.fstype, FsType::Iso9660);
        assert_eq!(p.label.as_deref(), Some("MYISO"));
        assert_eq!(p.uuid.as_deref(), Some("2024-01-02-03-04-05-06"));
        assert_eq!((p.block_size, p.version), (Some(2048), None));
        let p = found(&iso_image(b"MYISO", Some("MyIso")));
        assert_eq!(p.label.as_deref(), Some("MyIso"));
        assert_eq!(p.version.as_deref(), Some("Joliet Extension"));
        // Joliet keeps 16 characters; the rest comes from the PVD.
        let p = found(&iso_image(
            b"ABCDEFGHIJKLMNOPQRSTUV",
            Some("abcdefghijklmnop"),
        ));
        assert_eq!(p.label.as_deref(), Some("abcdefghijklmnopQRSTUV"));
        // Joliet text the PVD cannot represent ('_' there) is taken as is.
        let p = found(&iso_image(b"CAF_", Some("Café")));
        assert_eq!(p.label.as_deref(), Some("Café"));
        // Unset modification date: the creation date is used.
        let mut img = iso_image(b"X", None);
        put(&mut img, 0x8000 + 830, b"0000000000000000\x00");
        assert_eq!(found(&img).uuid.as_deref(), Some("2023-12-31-23-59-59-00"));
    }

    // -- squashfs, erofs, f2fs -----------------------------------------------------------------

    fn squashfs_image(major: u16, block_log: u16) -> Vec<u8> {
        let mut img = vec![0u8; 4096];
        put(&mut img, 0, b"hsqs");
        put32(&mut img, 12, 1 << 17);
        put16(&mut img, 22, block_log);
        put16(&mut img, 28, major);
        img
    }

    #[test]
    fn squashfs_version_and_block_size() {
        let p = found(&squashfs_image(4, 17));
        assert_eq!(
            (p.fstype, p.version.as_deref()),
            (FsType::Squashfs, Some("4.0"))
        );
        assert_eq!(probe(&squashfs_image(3, 17)[..]).unwrap(), None);
        assert_eq!(probe(&squashfs_image(4, 16)[..]).unwrap(), None);
    }

    fn erofs_image(csum: bool) -> Vec<u8> {
        let mut img = vec![0u8; 4096];
        put(&mut img, 1024, b"\xE2\xE1\xF5\xE0");
        put32(&mut img, 1024 + 8, u32::from(csum));
        img[1024 + 12] = 12;
        put(&mut img, 1024 + 48, &UUID);
        put(&mut img, 1024 + 64, b"ro");
        if csum {
            let c = crc32c_raw(!0, &img[1024..4096]);
            put32(&mut img, 1024 + 4, c);
        }
        img
    }

    #[test]
    fn erofs_checksum() {
        for csum in [false, true] {
            let p = found(&erofs_image(csum));
            assert_eq!(p.fstype, FsType::Erofs);
            assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
            assert_eq!((p.label.as_deref(), p.block_size), (Some("ro"), Some(4096)));
        }
        let mut bad = erofs_image(true);
        bad[3000] = 1;
        assert_eq!(probe(&bad[..]).unwrap(), None);
    }

    fn f2fs_image(minor: u16) -> Vec<u8> {
        let mut img = vec![0u8; 8192];
        let sb = 1024;
        put(&mut img, sb, b"\x10\x20\xF5\xF2");
        put16(&mut img, sb + 4, 1);
        put16(&mut img, sb + 6, minor);
        put32(&mut img, sb + 8, 9);
        put32(&mut img, sb + 12, 3);
        put32(&mut img, sb + 16, 12);
        put32(&mut img, sb + 32, 3068);
        put(&mut img, sb + 0x6c, &UUID);
        let name: Vec<u8> = "données"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        put(&mut img, sb + 0x7c, &name);
        let c = crc32_raw(0xF2F5_2010, &img[sb..sb + 3068]);
        put32(&mut img, sb + 3068, c);
        img
    }

    #[test]
    fn f2fs_checksum_and_utf16_label() {
        let p = found(&f2fs_image(15));
        assert_eq!(p.fstype, FsType::F2fs);
        assert_eq!(p.label.as_deref(), Some("données"));
        assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
        assert_eq!(
            (p.version.as_deref(), p.block_size),
            (Some("1.15"), Some(4096))
        );
        let mut bad = f2fs_image(15);
        bad[1024 + 200] ^= 1;
        assert_eq!(probe(&bad[..]).unwrap(), None);
        // Found by fuzzing: log sizes that overflow when added.
        let mut bad = f2fs_image(15);
        put32(&mut bad, 1024 + 12, u32::MAX);
        assert_eq!(probe(&bad[..]).unwrap(), None);
        // Version 1.0: blkid reports the type alone.
        let p = found(&f2fs_image(0));
        assert_eq!((p.fstype, p.uuid), (FsType::F2fs, None));
    }

    // -- exfat ---------------------------------------------------------------------------------

    fn exfat_image() -> Vec<u8> {
        let mut img = vec![0u8; 64 * 1024];
        put(&mut img, 0, &[0xeb, 0x76, 0x90]);
        put(&mut img, 3, b"EXFAT   ");
        put32(&mut img, 80, 24);
        put32(&mut img, 84, 8);
        put32(&mut img, 88, 32);
        put32(&mut img, 92, 100);
        put32(&mut img, 96, 4);
        put(&mut img, 100, &[0x43, 0x2a, 0x07, 0x7f]);
        put(&mut img, 104, &[0, 1]);
        img[108] = 9;
        img[109] = 3;
        img[110] = 1;
        put(&mut img, 510, &[0x55, 0xaa]);
        let sum = img[..512 * 11]
            .iter()
            .enumerate()
            .filter(|(i, _)| !matches!(i, 106 | 107 | 112))
            .fold(0u32, |s, (_, &b)| {
                s.rotate_right(1).wrapping_add(u32::from(b))
            });
        for i in 0..128 {
            put32(&mut img, 512 * 11 + i * 4, sum);
        }
        // Root directory at cluster 4: (32 + 2 * 8) sectors in; a bitmap entry, then the label.
        let root = 48 * 512;
        img[root] = 0x81;
        img[root + 32] = 0x83;
        img[root + 33] = 5;
        let name: Vec<u8> = "exlab".encode_utf16().flat_map(u16::to_le_bytes).collect();
        put(&mut img, root + 34, &name);
        put32(&mut img, 24 * 512 + 16, 0xffff_ffff);
        img
    }

    #[test]
    fn exfat_checksum_label_serial() {
        let p = found(&exfat_image());
        assert_eq!(p.fstype, FsType::Exfat);
        assert_eq!(p.label.as_deref(), Some("exlab"));
        assert_eq!(p.uuid.as_deref(), Some("7F07-2A43"));
        assert_eq!(
            (p.version.as_deref(), p.block_size),
            (Some("1.0"), Some(512))
        );
        assert!(is_exfat_boot_sector(&exfat_image()));
        let mut bad = exfat_image();
        bad[300] ^= 1;
        assert_eq!(probe(&bad[..]).unwrap(), None);
    }

    // -- md, LVM -------------------------------------------------------------------------------

    fn md1_image(size: usize, off: usize) -> Vec<u8> {
        let mut img = vec![0u8; size];
        put32(&mut img, off, MD_SB_MAGIC);
        put32(&mut img, off + 4, 1);
        put(&mut img, off + 16, &UUID);
        put(&mut img, off + 32, b"host:0");
        put64(&mut img, off + 144, (off >> 9) as u64);
        put(&mut img, off + 168, &[0x55; 16]);
        img
    }

    #[test]
    fn md_members_v1() {
        let p = found(&md1_image(65536, 4096));
        assert_eq!(p.fstype, FsType::LinuxRaidMember);
        assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
        assert_eq!(p.label.as_deref(), Some("host:0"));
        assert_eq!(p.version.as_deref(), Some("1.2"));
        assert_eq!(found(&md1_image(65536, 0)).version.as_deref(), Some("1.1"));
        // 1.0 lives at the end: found only when the size is known.
        let size = 1 << 20;
        let img = md1_image(size, size - 0x2000);
        assert_eq!(probe(&img[..]).unwrap(), None);
        let p = probe_sized(&img[..], Some(size as u64)).unwrap().unwrap();
        assert_eq!(p.version.as_deref(), Some("1.0"));
        // A superblock claiming another position is not one.
        let mut bad = md1_image(65536, 4096);
        put64(&mut bad, 4096 + 144, 0);
        assert_eq!(probe(&bad[..]).unwrap(), None);
    }

    #[test]
    fn md_member_v090_at_end() {
        let size = 1usize << 20;
        let off = size - 0x10000;
        let mut img = vec![0u8; size];
        put32(&mut img, off, MD_SB_MAGIC);
        put32(&mut img, off + 8, 90);
        put32(&mut img, off + 20, 0x1234_5678);
        put32(&mut img, off + 32, 512);
        put32(&mut img, off + 52, 0x9abc_def0);
        put32(&mut img, off + 56, 0x1122_3344);
        put32(&mut img, off + 60, 0x5566_7788);
        let p = probe_sized(&img[..], Some(size as u64)).unwrap().unwrap();
        assert_eq!(p.uuid.as_deref(), Some(UUID_STR));
        assert_eq!(p.version.as_deref(), Some("0.90.0"));
    }

    fn lvm_image(sector: usize) -> Vec<u8> {
        let mut img = vec![0u8; 4096];
        let l = sector * 512;
        put(&mut img, l, b"LABELONE");
        put64(&mut img, l + 8, sector as u64);
        put32(&mut img, l + 20, 32);
        put(&mut img, l + 24, b"LVM2 001");
        put(&mut img, l + 32, b"abcdefGHIJklmnOPQRstuvWXYZ012345");
        let c = crc32_raw(0xf597_a6cf, &img[l + 20..l + 512]);
        put32(&mut img, l + 16, c);
        img
    }

    #[test]
    fn lvm2_label() {
        let p = found(&lvm_image(1));
        assert_eq!(p.fstype, FsType::Lvm2Member);
        assert_eq!(
            p.uuid.as_deref(),
            Some("abcdef-GHIJ-klmn-OPQR-stuv-WXYZ-012345")
        );
        assert_eq!(found(&lvm_image(0)).fstype, FsType::Lvm2Member);
        let mut bad = lvm_image(1);
        bad[600] ^= 1;
        assert_eq!(probe(&bad[..]).unwrap(), None);
    }

    // -- several signatures --------------------------------------------------------------------

    #[test]
    fn second_filesystem_is_a_conflict() {
        let mut img = ext_image(0x4, 0x42, 0x1);
        put(&mut img, 0x10000, &btrfs_image(0)[0x10000..]);
        let p = found(&img);
        assert_eq!((p.fstype, p.conflicts), (FsType::Ext4, vec![FsType::Btrfs]));
        // iso9660 is tolerant only of other tolerant types: ext + iso is ambivalent too.
        let mut img = iso_image(b"X", None);
        put(&mut img, 0, &ext_image(0x4, 0x42, 0x1)[..4096]);
        let p = found(&img);
        assert_eq!(
            (p.fstype, p.conflicts),
            (FsType::Ext4, vec![FsType::Iso9660])
        );
    }

    // -- robustness ----------------------------------------------------------------------------

    fn all_images() -> Vec<Vec<u8>> {
        let mut ext = ext_image(0x4, 0x42, 0x401);
        set_ext_csum(&mut ext);
        vec![
            ext,
            xfs_image(),
            fat16_image(Some(b"DIRLABEL   "), b"BOOT       "),
            fat32_image(true, true),
            btrfs_image(0),
            swap_image(4096, b"SWAPSPACE2"),
            swap_image(65536, b"SWAPSPACE2"),
            luks_image(1),
            luks_image(2),
            iso_image(b"ABC", Some("abc")),
            squashfs_image(4, 17),
            erofs_image(true),
            f2fs_image(15),
            exfat_image(),
            md1_image(65536, 4096),
            lvm_image(1),
        ]
    }

    #[test]
    fn empty_zero_and_ff_devices_hold_nothing() {
        assert_eq!(probe(&[][..]).unwrap(), None);
        assert_eq!(probe(&vec![0u8; 1 << 20]).unwrap(), None);
        assert_eq!(probe(&vec![0xffu8; 1 << 20]).unwrap(), None);
        assert_eq!(
            probe_sized(&vec![0u8; 1 << 20], Some(1 << 20)).unwrap(),
            None
        );
    }

    #[test]
    fn random_bytes_are_not_a_filesystem() {
        let mut rng = Rng(0x5eed);
        for _ in 0..300 {
            let img = rng.bytes(70 * 1024);
            assert_eq!(probe(&img[..]).unwrap(), None);
        }
    }

    #[test]
    fn truncated_images_never_panic() {
        for img in all_images() {
            assert!(probe(&img[..]).unwrap().is_some());
            let mut cuts: Vec<usize> = vec![0, 1, 8, 511, 512, 1023, 1024, 1100, 2047, 2048];
            cuts.extend([4095, 4096, 4097, 8191, 0x8000, 0x8801, 0x10000, 0x10100]);
            cuts.extend([img.len().saturating_sub(1), img.len() / 2]);
            for cut in cuts.into_iter().filter(|&c| c <= img.len()) {
                let _ = probe(&img[..cut]).unwrap();
                let _ = probe_sized(&img[..cut], Some(cut as u64)).unwrap();
            }
        }
    }

    #[test]
    fn mutated_images_never_panic() {
        for (i, img) in all_images().into_iter().enumerate() {
            mutate_all(&img, 70 * 1024, i as u64 + 1, 1500, |m| {
                let _ = probe(m).unwrap();
            });
        }
    }

    /// Returns at most 7 bytes per call, counting calls and bytes.
    struct Stingy<'a> {
        data: &'a [u8],
        calls: std::cell::Cell<usize>,
        bytes: std::cell::Cell<usize>,
    }
    impl ReadAt for Stingy<'_> {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            self.calls.set(self.calls.get() + 1);
            let n = buf.len().min(7);
            let got = self.data.read_at(offset, &mut buf[..n])?;
            self.bytes.set(self.bytes.get() + got);
            Ok(got)
        }
    }

    #[test]
    fn short_reads_are_retried_and_reads_stay_small() {
        for img in all_images() {
            let stingy = Stingy {
                data: &img,
                calls: 0.into(),
                bytes: 0.into(),
            };
            assert_eq!(probe(&stingy).unwrap(), probe(&img[..]).unwrap());
            // Everything but a FAT root directory lies in the first 68 KiB.
            assert!(
                stingy.bytes.get() <= 70 * 1024 + 2 * FAR_READ_MAX,
                "{}",
                stingy.bytes.get()
            );
        }
    }

    #[test]
    fn read_errors_are_reported() {
        struct Broken;
        impl ReadAt for Broken {
            fn read_at(&self, _: u64, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("EIO"))
            }
        }
        assert!(probe(&Broken).is_err());
    }

    #[test]
    fn labels_and_uuids_are_formatted_like_blkid() {
        assert_eq!(c_label(b"  a b \t\x0b\0zz").as_deref(), Some("  a b"));
        assert_eq!(c_label(b"\0abc"), None);
        assert_eq!(c_label(b"   "), None);
        let be: Vec<u8> = "Ü x ".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(utf16_label(&be, true).as_deref(), Some("Ü x"));
        assert_eq!(uuid_string(&[0; 16]), None);
        assert_eq!(
            serial_string([0x34, 0x12, 0xcd, 0xab]).as_deref(),
            Some("ABCD-1234")
        );
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(!crc32c_raw(!0, b"123456789"), 0xe306_9283);
    }

    // -- against the real tools and blkid ------------------------------------------------------

    #[test]
    fn real_ext_filesystems_match_blkid() {
        let dir = tmp();
        let img = mkfs(dir.path(), 8 << 20, "mkfs.ext4", &["-q", "-L", "a label"]);
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Ext4);
        let img = mkfs(dir.path(), 8 << 20, "mkfs.ext3", &["-q", "-F", "-L", "e3"]);
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Ext3);
        let img = mkfs(
            dir.path(),
            64 << 20,
            "mkfs.ext4",
            &["-q", "-F", "-b", "4096"],
        );
        assert_eq!(assert_like_blkid(&img).block_size, Some(4096));
        // ext2: blkid says ext2 where /proc/filesystems lists it, ext4 where only ext4 does.
        let img = mkfs(dir.path(), 8 << 20, "mkfs.ext2", &["-q", "-F", "-L", "e2"]);
        let ours = probe_file(&img).unwrap();
        assert_eq!(ours.fstype, FsType::Ext2);
        let kernel_has_ext2 = std::fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().last() == Some("ext2"));
        let blkid_type = blkid_export(&img).get("TYPE").cloned();
        let want = if kernel_has_ext2 { "ext2" } else { "ext4" };
        assert_eq!(blkid_type.as_deref(), Some(want));
        if kernel_has_ext2 {
            assert_like_blkid(&img);
        }
    }

    #[test]
    fn real_xfs_and_btrfs_match_blkid() {
        let dir = tmp();
        let img = mkfs(dir.path(), 300 << 20, "mkfs.xfs", &["-q", "-L", "xlab"]);
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Xfs);
        let img = mkfs(
            dir.path(),
            128 << 20,
            "mkfs.btrfs",
            &["-q", "-f", "-L", "pool"],
        );
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Btrfs);
    }

    #[test]
    fn real_fat_and_exfat_match_blkid() {
        let dir = tmp();
        for (size, args) in [
            (1u64 << 20, &["-F", "12"][..]),
            (16 << 20, &["-F", "16", "-n", "EFI"][..]),
            (40 << 20, &["-F", "32", "-n", "MY DISK"][..]),
            (40 << 20, &["-F", "32", "-S", "4096"][..]),
        ] {
            let img = mkfs(dir.path(), size, "mkfs.vfat", args);
            assert_eq!(assert_like_blkid(&img).fstype, FsType::Vfat);
        }
        // A label changed later lives in the root directory, which blkid prefers.
        let img = mkfs(
            dir.path(),
            40 << 20,
            "mkfs.vfat",
            &["-F", "32", "-n", "OLD"],
        );
        run(tool("fatlabel").arg(&img).arg("NEWER"));
        assert_eq!(assert_like_blkid(&img).label.as_deref(), Some("NEWER"));
        let img = mkfs(dir.path(), 16 << 20, "mkfs.exfat", &["-L", "exlab"]);
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Exfat);
    }

    #[test]
    fn real_f2fs_swap_squashfs_erofs_iso_match_blkid() {
        let dir = tmp();
        let img = mkfs(
            dir.path(),
            64 << 20,
            "mkfs.f2fs",
            &["-q", "-f", "-l", "f2lab"],
        );
        assert_eq!(assert_like_blkid(&img).fstype, FsType::F2fs);
        let img = mkfs(dir.path(), 1 << 20, "mkswap", &["-L", "swlab"]);
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Swap);

        let content = dir.path().join("content");
        std::fs::create_dir(&content).unwrap();
        std::fs::write(content.join("file"), b"hello").unwrap();
        let img = dir.path().join("sq");
        run(tool("mksquashfs")
            .arg(&content)
            .arg(&img)
            .args(["-quiet", "-no-progress"]));
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Squashfs);
        let img = dir.path().join("ero");
        run(tool("mkfs.erofs").arg(&img).arg(&content));
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Erofs);
        let img = dir.path().join("iso");
        run(tool("genisoimage")
            .args(["-quiet", "-J", "-V", "Live System 2024", "-o"])
            .arg(&img)
            .arg(&content));
        assert_eq!(assert_like_blkid(&img).fstype, FsType::Iso9660);
    }

    #[test]
    fn real_luks_matches_blkid() {
        let dir = tmp();
        let key = dir.path().join("key");
        std::fs::write(&key, b"secret").unwrap();
        for (kind, label) in [("luks1", None), ("luks2", Some("cryptroot"))] {
            let img = sparse_file(dir.path(), kind, 20 << 20);
            let mut cmd = tool("cryptsetup");
            cmd.args([
                "luksFormat",
                "--type",
                kind,
                "-q",
                "--pbkdf-force-iterations",
                "1000",
            ]);
            if kind == "luks2" {
                cmd.args(["--pbkdf", "pbkdf2"]);
            }
            if let Some(l) = label {
                cmd.args(["--label", l]);
            }
            run(cmd.arg(&img).arg(&key));
            let p = assert_like_blkid(&img);
            assert!(p.fstype.is_luks());
            assert_eq!(p.label.as_deref(), label);
        }
    }
}
