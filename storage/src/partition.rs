//! Partition tables: GPT (header and entry-array CRCs checked, backup header at the last LBA
//! when the disk size is known) and MBR (with the extended/logical chain), numbered as the
//! kernel numbers them so partition N of `/sys/block/vda` is `vdaN`, with PARTUUID and
//! PARTLABEL as blkid prints them. Also [`probe_disk`], which decides whether a whole disk is
//! partitioned or holds a filesystem itself. Bounded work and no panics on hostile tables.

use std::collections::HashSet;
use std::io;

use crate::probe::{self, FsType, Probe, ReadAt};

/// The kernel creates partitions 1..=255 at most (`DISK_MAX_PARTS` is 256).
pub const MAX_PARTITION_NUMBER: u32 = 255;
/// Largest GPT entry array read (8192 entries of 128 bytes; tools write 128 entries).
const GPT_MAX_ENTRIES_BYTES: u64 = 1 << 20;
const GPT_ENTRY_SIZE: u64 = 128;
/// Extended boot records followed in one chain, whatever the links say.
const MAX_EBRS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    /// `disk_guid` is blkid's PTUUID, lower case.
    Gpt { disk_guid: String },
    /// `signature` is the disk signature at byte 440 (blkid's PTUUID, as `{:08x}`).
    Mbr { signature: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// As the kernel numbers them: GPT entry index + 1 (empty entries keep their number), MBR
    /// 1-4 for the primary slots and 5.. for logical partitions in chain order.
    pub number: u32,
    /// In units of the `sector_size` given to [`read_partitions`].
    pub start_lba: u64,
    pub size_lba: u64,
    /// GPT unique partition GUID (lower case); MBR `ssssssss-nn` (signature, number in hex),
    /// as the kernel and blkid make it.
    pub partuuid: String,
    /// GPT partition name (UTF-16LE, trailing white space cut as blkid does).
    pub partlabel: Option<String>,
    /// GPT partition type GUID (lower case); MBR type byte as blkid prints it (`0x83`).
    pub type_guid_or_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    pub kind: TableKind,
    pub partitions: Vec<Partition>,
    /// The logical sector size the LBAs are in.
    pub sector_size: u64,
    /// The primary GPT header was damaged and the backup one was used. The kernel itself uses
    /// the backup only with the `gpt` command-line option, so it may have made no partitions.
    pub from_backup: bool,
}

impl PartitionTable {
    /// The partition whose PARTUUID is `uuid` (compared case-insensitively, as the kernel does).
    pub fn by_partuuid(&self, uuid: &str) -> Option<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.partuuid.eq_ignore_ascii_case(uuid))
    }

    /// The partition whose PARTLABEL is `label`.
    pub fn by_partlabel(&self, label: &str) -> Option<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.partlabel.as_deref() == Some(label))
    }
}

/// The partition table of a whole disk, `None` if it has none (or a FAT/exFAT boot sector,
/// which looks like an MBR). `sector_size` is the disk's logical block size (a power of two,
/// 512 to 65536); `disk_size_bytes` enables the GPT backup header and the range checks.
pub fn read_partitions<R: ReadAt + ?Sized>(
    disk: &R,
    sector_size: u64,
    disk_size_bytes: Option<u64>,
) -> io::Result<Option<PartitionTable>> {
    if !sector_size.is_power_of_two() || !(512..=65536).contains(&sector_size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sector size {sector_size} is not a power of two from 512 to 65536"),
        ));
    }
    let Some(mbr) = probe::read_vec(disk, 0, 512)? else {
        return Ok(None);
    };
    if !has_boot_signature(&mbr) {
        return Ok(None);
    }
    let entries = mbr_entries(&mbr);
    if entries.iter().any(|e| e.sys_type == 0xee) {
        return read_gpt(disk, sector_size, disk_size_bytes);
    }
    read_mbr(disk, sector_size, &mbr, &entries)
}

fn has_boot_signature(sector: &[u8]) -> bool {
    sector.get(510..512) == Some(&[0x55, 0xaa][..])
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_le_bytes)
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off.checked_add(8)?)?
        .try_into()
        .ok()
        .map(u64::from_le_bytes)
}

// ---------------------------------------------------------------------------------------------
// GPT.

struct GptHeader {
    disk_guid: String,
    entries_lba: u64,
    entries_bytes: u64,
    entries_crc: u32,
}

fn read_gpt<R: ReadAt + ?Sized>(
    disk: &R,
    sector_size: u64,
    disk_size: Option<u64>,
) -> io::Result<Option<PartitionTable>> {
    let last_lba = disk_size.and_then(|s| (s / sector_size).checked_sub(1));
    if let Some(table) = gpt_at(disk, sector_size, 1, last_lba)? {
        return Ok(Some(table));
    }
    if let Some(last) = last_lba.filter(|&l| l > 1) {
        if let Some(mut table) = gpt_at(disk, sector_size, last, last_lba)? {
            log::warn!("primary GPT header is invalid, using the backup at LBA {last}");
            table.from_backup = true;
            return Ok(Some(table));
        }
    }
    log::warn!("protective MBR found but no valid GPT header");
    Ok(None)
}

fn gpt_at<R: ReadAt + ?Sized>(
    disk: &R,
    sector_size: u64,
    lba: u64,
    last_lba: Option<u64>,
) -> io::Result<Option<PartitionTable>> {
    let Some(sector) = read_lba(disk, lba, sector_size, sector_size)? else {
        return Ok(None);
    };
    let Some(header) = gpt_header(&sector, lba, last_lba) else {
        return Ok(None);
    };
    let Some(entries) = read_lba(disk, header.entries_lba, sector_size, header.entries_bytes)?
    else {
        return Ok(None);
    };
    if probe::crc32(&entries) != header.entries_crc {
        return Ok(None);
    }
    Ok(Some(PartitionTable {
        kind: TableKind::Gpt {
            disk_guid: header.disk_guid,
        },
        partitions: gpt_partitions(&entries, last_lba),
        sector_size,
        from_backup: false,
    }))
}

fn read_lba<R: ReadAt + ?Sized>(
    disk: &R,
    lba: u64,
    sector_size: u64,
    len: u64,
) -> io::Result<Option<Vec<u8>>> {
    match (lba.checked_mul(sector_size), usize::try_from(len)) {
        (Some(off), Ok(len)) => probe::read_vec(disk, off, len),
        _ => Ok(None),
    }
}

/// Checks a GPT header as the kernel and blkid do: signature, size, CRC, its own LBA, the
/// usable range, and the entry array's geometry (bounded here to 1 MiB).
fn gpt_header(sector: &[u8], lba: u64, last_lba: Option<u64>) -> Option<GptHeader> {
    if sector.get(0..8) != Some(&b"EFI PART"[..]) {
        return None;
    }
    let size = usize::try_from(le32(sector, 12)?).ok()?;
    if size < 92 || size > sector.len() {
        return None;
    }
    let mut copy = sector.get(..size)?.to_vec();
    copy.get_mut(16..20)?.fill(0);
    if probe::crc32(&copy) != le32(sector, 16)? || le64(sector, 24)? != lba {
        return None;
    }
    let (first, last) = (le64(sector, 40)?, le64(sector, 48)?);
    let in_disk = last_lba.is_none_or(|end| first <= end && last <= end);
    if last < first || !in_disk || (first < lba && lba < last) {
        return None;
    }
    let count = u64::from(le32(sector, 80)?);
    let entries_bytes = count * GPT_ENTRY_SIZE;
    let entry_size = u64::from(le32(sector, 84)?);
    if entry_size != GPT_ENTRY_SIZE || entries_bytes == 0 || entries_bytes > GPT_MAX_ENTRIES_BYTES {
        return None;
    }
    Some(GptHeader {
        disk_guid: guid_string(sector.get(56..72)?)?,
        entries_lba: le64(sector, 72)?,
        entries_bytes,
        entries_crc: le32(sector, 88)?,
    })
}

fn gpt_partitions(entries: &[u8], last_lba: Option<u64>) -> Vec<Partition> {
    entries
        .chunks_exact(GPT_ENTRY_SIZE as usize)
        .zip(1..=MAX_PARTITION_NUMBER)
        .filter_map(|(entry, number)| gpt_partition(entry, number, last_lba))
        .collect()
}

/// One GPT entry; empty entries (zero type GUID) and entries the kernel rejects (reversed, or
/// past the end of the disk) are skipped, keeping the numbering.
fn gpt_partition(entry: &[u8], number: u32, last_lba: Option<u64>) -> Option<Partition> {
    let type_guid = entry.get(0..16)?;
    if type_guid.iter().all(|&b| b == 0) {
        return None;
    }
    let (start, end) = (le64(entry, 32)?, le64(entry, 40)?);
    if end < start || last_lba.is_some_and(|last| end > last) {
        return None;
    }
    Some(Partition {
        number,
        start_lba: start,
        size_lba: (end - start).checked_add(1)?,
        partuuid: guid_string(entry.get(16..32)?)?,
        partlabel: probe::utf16_label(entry.get(56..128)?, false),
        type_guid_or_id: guid_string(type_guid)?,
    })
}

/// A GUID as stored by EFI (first three fields little-endian) in the usual text form.
fn guid_string(raw: &[u8]) -> Option<String> {
    let b: [u8; 16] = raw.try_into().ok()?;
    let swapped = [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ];
    Some(
        probe::uuid_string(&swapped)
            .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".to_owned()),
    )
}

// ---------------------------------------------------------------------------------------------
// MBR.

#[derive(Clone, Copy, Default)]
struct MbrEntry {
    boot: u8,
    sys_type: u8,
    start: u64,
    size: u64,
}

impl MbrEntry {
    fn is_extended(&self) -> bool {
        matches!(self.sys_type, 0x05 | 0x0f | 0x85)
    }
}

fn mbr_entries(sector: &[u8]) -> [MbrEntry; 4] {
    let mut entries = [MbrEntry::default(); 4];
    for (i, e) in entries.iter_mut().enumerate() {
        let off = 446 + i * 16;
        *e = MbrEntry {
            boot: sector.get(off).copied().unwrap_or(0),
            sys_type: sector.get(off + 4).copied().unwrap_or(0),
            start: u64::from(le32(sector, off + 8).unwrap_or(0)),
            size: u64::from(le32(sector, off + 12).unwrap_or(0)),
        };
    }
    entries
}

fn read_mbr<R: ReadAt + ?Sized>(
    disk: &R,
    sector_size: u64,
    mbr: &[u8],
    entries: &[MbrEntry; 4],
) -> io::Result<Option<PartitionTable>> {
    // A FAT or exFAT boot sector also ends in 55 aa; blkid takes it for a filesystem.
    if probe::is_fat_boot_sector(mbr) || probe::is_exfat_boot_sector(mbr) {
        return Ok(None);
    }
    if entries.iter().any(|e| e.boot != 0 && e.boot != 0x80) {
        return Ok(None);
    }
    let signature = le32(mbr, 440).unwrap_or(0);
    let mut partitions: Vec<Partition> = (1u32..)
        .zip(entries)
        .filter(|(_, e)| e.size != 0)
        .map(|(number, e)| mbr_partition(signature, number, e.start, e.size, e.sys_type))
        .collect();
    let mut next = 5;
    for e in entries.iter().filter(|e| e.size != 0 && e.is_extended()) {
        let chain = ExtendedChain {
            signature,
            sector_size,
            start: e.start,
            size: e.size,
        };
        chain.read(disk, &mut next, &mut partitions)?;
    }
    Ok(Some(PartitionTable {
        kind: TableKind::Mbr { signature },
        partitions,
        sector_size,
        from_backup: false,
    }))
}

fn mbr_partition(signature: u32, number: u32, start: u64, size: u64, sys: u8) -> Partition {
    Partition {
        number,
        start_lba: start,
        size_lba: size,
        partuuid: format!("{signature:08x}-{number:02x}"),
        partlabel: None,
        type_guid_or_id: format!("0x{sys:x}"),
    }
}

/// An extended partition: a chain of EBRs, each with one logical partition and a link to the
/// next EBR (relative to the extended partition's start).
struct ExtendedChain {
    signature: u32,
    sector_size: u64,
    start: u64,
    size: u64,
}

impl ExtendedChain {
    fn read<R: ReadAt + ?Sized>(
        &self,
        disk: &R,
        next: &mut u32,
        out: &mut Vec<Partition>,
    ) -> io::Result<()> {
        let mut seen = HashSet::new();
        let (mut cur, mut cur_size) = (self.start, self.size);
        for _ in 0..MAX_EBRS {
            if *next > MAX_PARTITION_NUMBER || !seen.insert(cur) {
                break;
            }
            let Some(ebr) = read_lba(disk, cur, self.sector_size, 512)? else {
                break;
            };
            if !has_boot_signature(&ebr) {
                break;
            }
            let entries = mbr_entries(&ebr);
            self.logicals(&entries, cur, cur_size, next, out);
            let Some(link) = entries.iter().find(|e| e.size != 0 && e.is_extended()) else {
                break;
            };
            cur = self.start + link.start;
            cur_size = link.size;
        }
        Ok(())
    }

    /// The data partitions of one EBR, checked as the kernel checks them (the 3rd and 4th
    /// slots often hold garbage and must lie inside the EBR's and the extended partition's
    /// extent).
    fn logicals(
        &self,
        entries: &[MbrEntry; 4],
        cur: u64,
        cur_size: u64,
        next: &mut u32,
        out: &mut Vec<Partition>,
    ) {
        for (slot, e) in entries.iter().enumerate() {
            if e.size == 0 || e.is_extended() || *next > MAX_PARTITION_NUMBER {
                continue;
            }
            let abs = cur + e.start;
            let outside = e.start + e.size > cur_size
                || abs < self.start
                || abs + e.size > self.start + self.size;
            if slot >= 2 && outside {
                continue;
            }
            out.push(mbr_partition(
                self.signature,
                *next,
                abs,
                e.size,
                e.sys_type,
            ));
            *next += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Whole disks.

/// What a whole disk holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskContents {
    /// A partition table: the filesystems are in the partitions.
    Partitioned {
        table: PartitionTable,
        /// An iso9660 filesystem spanning the disk next to its table (hybrid ISO images written
        /// to a stick): the whole disk is mountable too, as blkid and udev report it.
        whole_disk: Option<Probe>,
        /// Any other filesystem signature found on the whole disk: stale, left by an earlier
        /// format (the table was written after it), and ignored. Worth a warning.
        stale: Option<Probe>,
    },
    /// No partition table: the disk itself holds this.
    Filesystem(Probe),
    /// Nothing recognised.
    Empty,
}

/// Decides whether a whole disk is partitioned or holds a filesystem (or LUKS, RAID, LVM)
/// itself. Unlike blkid, which reports both a table and a stale filesystem signature (and udev
/// then links the stale UUID to the whole disk), a valid GPT, or an MBR with partitions, wins
/// over filesystem signatures found on the whole disk; a LUKS, md or LVM header at the start
/// of the disk wins over the table, and a hybrid iso9660 is reported with its table.
pub fn probe_disk<R: ReadAt + ?Sized>(
    disk: &R,
    sector_size: u64,
    disk_size_bytes: Option<u64>,
) -> io::Result<DiskContents> {
    let table = read_partitions(disk, sector_size, disk_size_bytes)?;
    let Some(table) = table.filter(is_real_table) else {
        return unpartitioned(disk, disk_size_bytes);
    };
    // Without the size: an md superblock at the disk's end would be the last partition's.
    let found = probe::probe(disk)?;
    Ok(match found {
        Some(p) if p.fstype.is_container() => DiskContents::Filesystem(p),
        Some(p) if p.fstype == FsType::Iso9660 && p.conflicts.is_empty() => {
            DiskContents::Partitioned {
                table,
                whole_disk: Some(p),
                stale: None,
            }
        }
        stale => DiskContents::Partitioned {
            table,
            whole_disk: None,
            stale,
        },
    })
}

/// A GPT (checksummed, so deliberate) or an MBR that lists partitions; a bare `55 aa` sector
/// with four empty slots is weaker evidence than a filesystem superblock.
fn is_real_table(table: &PartitionTable) -> bool {
    matches!(table.kind, TableKind::Gpt { .. }) || !table.partitions.is_empty()
}

fn unpartitioned<R: ReadAt + ?Sized>(disk: &R, size: Option<u64>) -> io::Result<DiskContents> {
    Ok(match probe::probe_sized(disk, size)? {
        Some(p) => DiskContents::Filesystem(p),
        None => DiskContents::Empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::{blkid_export, mutate_all, put, put32, put64, run, tool, Rng};

    const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
    const LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

    fn guid_bytes(s: &str) -> [u8; 16] {
        let hex: Vec<u8> = s
            .split('-')
            .collect::<String>()
            .as_bytes()
            .chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect();
        let mut b: [u8; 16] = hex.try_into().unwrap();
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        b
    }

    struct Entry<'a> {
        index: usize,
        type_guid: &'a str,
        uuid: &'a str,
        start: u64,
        end: u64,
        name: &'a str,
    }

    fn entries_array(entries: &[Entry<'_>], count: u32) -> Vec<u8> {
        let mut arr = vec![0u8; count as usize * 128];
        for e in entries {
            let at = e.index * 128;
            put(&mut arr, at, &guid_bytes(e.type_guid));
            put(&mut arr, at + 16, &guid_bytes(e.uuid));
            put64(&mut arr, at + 32, e.start);
            put64(&mut arr, at + 40, e.end);
            let name: Vec<u8> = e.name.encode_utf16().flat_map(u16::to_le_bytes).collect();
            put(&mut arr, at + 56, &name);
        }
        arr
    }

    fn write_header(
        disk: &mut Vec<u8>,
        ss: usize,
        lba: u64,
        alt: u64,
        entries_lba: u64,
        count: u32,
        crc: u32,
    ) {
        let sectors = (disk.len() / ss) as u64;
        let at = lba as usize * ss;
        let mut h = vec![0u8; 92];
        put(&mut h, 0, b"EFI PART");
        put32(&mut h, 8, 0x0001_0000);
        put32(&mut h, 12, 92);
        put64(&mut h, 24, lba);
        put64(&mut h, 32, alt);
        put64(&mut h, 40, 34);
        put64(&mut h, 48, sectors - 34);
        put(
            &mut h,
            56,
            &guid_bytes("01234567-89ab-cdef-0123-456789abcdef"),
        );
        put64(&mut h, 72, entries_lba);
        put32(&mut h, 80, count);
        put32(&mut h, 84, 128);
        put32(&mut h, 88, crc);
        let hcrc = probe::crc32(&h);
        put32(&mut h, 16, hcrc);
        put(disk, at, &h);
    }

    /// A GPT disk with primary and backup headers and entry arrays.
    fn gpt_disk(ss: usize, sectors: usize, entries: &[Entry<'_>]) -> Vec<u8> {
        let mut disk = vec![0u8; ss * sectors];
        put(&mut disk, 446 + 4, &[0xee]);
        put32(&mut disk, 446 + 8, 1);
        put32(&mut disk, 446 + 12, (sectors - 1) as u32);
        put(&mut disk, 510, &[0x55, 0xaa]);
        let arr = entries_array(entries, 128);
        let crc = probe::crc32(&arr);
        let last = sectors as u64 - 1;
        let backup_entries = last - (arr.len() / ss) as u64;
        put(&mut disk, 2 * ss, &arr);
        put(&mut disk, backup_entries as usize * ss, &arr);
        write_header(&mut disk, ss, 1, last, 2, 128, crc);
        write_header(&mut disk, ss, last, 1, backup_entries, 128, crc);
        disk
    }

    fn sample_gpt(ss: usize) -> Vec<u8> {
        gpt_disk(
            ss,
            4096,
            &[
                Entry {
                    index: 0,
                    type_guid: ESP,
                    uuid: "AAAAAAAA-1111-2222-3333-444444444444",
                    start: 34,
                    end: 1000,
                    name: "EFI System",
                },
                Entry {
                    index: 2,
                    type_guid: LINUX,
                    uuid: "bbbbbbbb-1111-2222-3333-444444444444",
                    start: 1001,
                    end: 3000,
                    name: "röot \u{1F600}  ",
                },
                Entry {
                    index: 3,
                    type_guid: LINUX,
                    uuid: "cccccccc-1111-2222-3333-444444444444",
                    start: 3001,
                    end: 9999,
                    name: "",
                },
            ],
        )
    }

    fn parts(disk: &[u8], ss: u64, size: Option<u64>) -> Option<PartitionTable> {
        read_partitions(disk, ss, size).unwrap()
    }

    #[test]
    fn gpt_numbering_names_and_guids() {
        let disk = sample_gpt(512);
        let t = parts(&disk, 512, Some(disk.len() as u64)).unwrap();
        assert_eq!(
            t.kind,
            TableKind::Gpt {
                disk_guid: "01234567-89ab-cdef-0123-456789abcdef".into()
            }
        );
        assert!(!t.from_backup);
        // Entry 3 ends past the disk: skipped, as the kernel does; numbers keep their holes.
        let numbers: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 3]);
        let esp = &t.partitions[0];
        assert_eq!((esp.start_lba, esp.size_lba), (34, 967));
        assert_eq!(esp.partuuid, "aaaaaaaa-1111-2222-3333-444444444444");
        assert_eq!(esp.type_guid_or_id, ESP);
        assert_eq!(esp.partlabel.as_deref(), Some("EFI System"));
        assert_eq!(t.partitions[1].partlabel.as_deref(), Some("röot \u{1F600}"));
        assert_eq!(
            t.by_partuuid("AAAAAAAA-1111-2222-3333-444444444444")
                .unwrap()
                .number,
            1
        );
        assert_eq!(t.by_partlabel("EFI System").unwrap().number, 1);
        // Without the size the range check is not possible: the kernel-invalid entry stays.
        assert_eq!(parts(&disk, 512, None).unwrap().partitions.len(), 3);
    }

    #[test]
    fn gpt_on_4k_sectors() {
        let disk = sample_gpt(4096);
        let t = parts(&disk, 4096, Some(disk.len() as u64)).unwrap();
        assert_eq!(t.sector_size, 4096);
        assert_eq!(t.partitions.len(), 2);
        // Read as 512-byte sectors it is not a GPT.
        assert_eq!(parts(&disk, 512, Some(disk.len() as u64)), None);
    }

    #[test]
    fn gpt_backup_header_when_primary_is_corrupt() {
        let mut disk = sample_gpt(512);
        disk[512 + 60] ^= 0xff; // the disk GUID: the header CRC no longer matches
        let t = parts(&disk, 512, Some(disk.len() as u64)).unwrap();
        assert!(t.from_backup);
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(parts(&disk, 512, None), None, "no size, no backup");
        // Corrupt entry arrays: both copies bad, nothing.
        let mut disk = sample_gpt(512);
        disk[2 * 512 + 5] ^= 1;
        let last_entries = (4095 - 32) * 512;
        disk[last_entries + 5] ^= 1;
        assert_eq!(parts(&disk, 512, Some(disk.len() as u64)), None);
    }

    #[test]
    fn gpt_hostile_headers_are_rejected_cheaply() {
        for (count, entry_size) in [
            (u32::MAX, 128u32),
            (1 << 20, 128),
            (0, 128),
            (128, 256),
            (128, 0),
        ] {
            let mut disk = sample_gpt(512);
            let mut h = disk[512..512 + 92].to_vec();
            put32(&mut h, 80, count);
            put32(&mut h, 84, entry_size);
            put32(&mut h, 16, 0);
            let c = probe::crc32(&h);
            put32(&mut h, 16, c);
            put(&mut disk, 512, &h);
            let t = parts(&disk, 512, None);
            assert_eq!(t, None, "count {count} size {entry_size}");
        }
        // An entry spanning all of u64.
        let disk = gpt_disk(
            512,
            4096,
            &[Entry {
                index: 0,
                type_guid: LINUX,
                uuid: LINUX,
                start: 0,
                end: u64::MAX,
                name: "",
            }],
        );
        assert_eq!(parts(&disk, 512, None).unwrap().partitions, []);
        // Header larger than a sector.
        let mut disk = sample_gpt(512);
        put32(&mut disk, 512 + 12, 513);
        assert_eq!(parts(&disk, 512, None), None);
    }

    #[test]
    fn gpt_needs_protective_mbr_and_signature() {
        let mut disk = sample_gpt(512);
        disk[510] = 0;
        assert_eq!(parts(&disk, 512, None), None);
        let mut disk = sample_gpt(512);
        disk[446 + 4] = 0x83; // no 0xEE: read as an MBR, which the GPT bytes do not spoil
        let t = parts(&disk, 512, None).unwrap();
        assert!(matches!(t.kind, TableKind::Mbr { .. }));
        // PMBR but no GPT at all.
        let mut disk = sample_gpt(512);
        disk[512..1024].fill(0);
        assert_eq!(parts(&disk, 512, None), None);
    }

    fn mbr_entry(
        disk: &mut Vec<u8>,
        sector: usize,
        slot: usize,
        boot: u8,
        sys: u8,
        start: u32,
        size: u32,
    ) {
        let at = sector * 512 + 446 + slot * 16;
        put(disk, at, &[boot]);
        put(disk, at + 4, &[sys]);
        put32(disk, at + 8, start);
        put32(disk, at + 12, size);
        put(disk, sector * 512 + 510, &[0x55, 0xaa]);
    }

    /// Primaries in slots 1 and 2, slot 3 empty, an extended partition in slot 4 at 1000 with
    /// three logical partitions (EBRs at 1000, 1100, 1300).
    fn sample_mbr() -> Vec<u8> {
        let mut d = vec![0u8; 2000 * 512];
        put32(&mut d, 440, 0xdead_beef);
        mbr_entry(&mut d, 0, 0, 0x80, 0x83, 2048, 100);
        mbr_entry(&mut d, 0, 1, 0, 0x0c, 200, 300);
        mbr_entry(&mut d, 0, 3, 0, 0x05, 1000, 900);
        mbr_entry(&mut d, 1000, 0, 0, 0x83, 10, 50);
        mbr_entry(&mut d, 1000, 1, 0, 0x05, 100, 150);
        mbr_entry(&mut d, 1100, 0, 0, 0x82, 10, 40);
        mbr_entry(&mut d, 1100, 1, 0, 0x05, 300, 100);
        // Garbage in the 3rd slot, outside the extended partition: ignored.
        mbr_entry(&mut d, 1100, 2, 0, 0x83, 5000, 10);
        mbr_entry(&mut d, 1300, 0, 0, 0x8e, 20, 60);
        d
    }

    #[test]
    fn mbr_primaries_and_logicals_numbered_like_the_kernel() {
        let t = parts(&sample_mbr(), 512, None).unwrap();
        assert_eq!(
            t.kind,
            TableKind::Mbr {
                signature: 0xdead_beef
            }
        );
        let got: Vec<(u32, u64, u64, &str, &str)> = t
            .partitions
            .iter()
            .map(|p| {
                (
                    p.number,
                    p.start_lba,
                    p.size_lba,
                    p.partuuid.as_str(),
                    p.type_guid_or_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, 2048, 100, "deadbeef-01", "0x83"),
                (2, 200, 300, "deadbeef-02", "0xc"),
                (4, 1000, 900, "deadbeef-04", "0x5"),
                (5, 1010, 50, "deadbeef-05", "0x83"),
                (6, 1110, 40, "deadbeef-06", "0x82"),
                (7, 1320, 60, "deadbeef-07", "0x8e"),
            ]
        );
        assert!(t.partitions.iter().all(|p| p.partlabel.is_none()));
    }

    #[test]
    fn mbr_ebr_loops_terminate() {
        // An EBR linking to itself.
        let mut d = vec![0u8; 2000 * 512];
        mbr_entry(&mut d, 0, 0, 0, 0x0f, 1000, 900);
        mbr_entry(&mut d, 1000, 0, 0, 0x83, 10, 50);
        mbr_entry(&mut d, 1000, 1, 0, 0x05, 0, 900);
        let t = parts(&d, 512, None).unwrap();
        assert_eq!(t.partitions.len(), 2);
        // Two EBRs linking to each other.
        mbr_entry(&mut d, 1000, 1, 0, 0x05, 100, 100);
        mbr_entry(&mut d, 1100, 0, 0, 0x83, 10, 50);
        mbr_entry(&mut d, 1100, 1, 0, 0x85, 0, 900);
        let t = parts(&d, 512, None).unwrap();
        assert_eq!(
            t.partitions.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1, 5, 6]
        );
        // A link past the end of the disk.
        mbr_entry(&mut d, 1100, 1, 0, 0x05, u32::MAX, 900);
        assert_eq!(parts(&d, 512, None).unwrap().partitions.len(), 3);
    }

    #[test]
    fn mbr_long_chain_stops_at_the_kernel_limit() {
        // 300 EBRs each with one logical: numbers stop at 255.
        let mut d = vec![0u8; 700 * 512];
        mbr_entry(&mut d, 0, 0, 0, 0x05, 2, 698);
        for i in 0..300u32 {
            let s = 2 + i as usize * 2;
            mbr_entry(&mut d, s, 0, 0, 0x83, 1, 1);
            mbr_entry(&mut d, s, 1, 0, 0x05, (i + 1) * 2, 2);
        }
        let t = parts(&d, 512, None).unwrap();
        assert_eq!(t.partitions.last().unwrap().number, MAX_PARTITION_NUMBER);
    }

    #[test]
    fn not_an_mbr() {
        let mut d = sample_mbr();
        d[446] = 0x12; // bad boot indicator
        assert_eq!(parts(&d, 512, None), None);
        let mut d = sample_mbr();
        d[511] = 0;
        assert_eq!(parts(&d, 512, None), None);
        assert_eq!(parts(&[0u8; 4096], 512, None), None);
        assert_eq!(parts(&[], 512, None), None);
        // A FAT boot sector is a filesystem, not a table.
        let mut fat = vec![0u8; 512];
        put(&mut fat, 0, &[0xeb, 0x3c, 0x90]);
        put(&mut fat, 0x0b, &512u16.to_le_bytes());
        put(&mut fat, 0x0d, &[4, 4, 0, 2, 0, 2]);
        put(&mut fat, 0x13, &32768u16.to_le_bytes());
        put(&mut fat, 0x15, &[0xf8, 32, 0]);
        put(&mut fat, 0x36, b"FAT16   ");
        put(&mut fat, 510, &[0x55, 0xaa]);
        assert_eq!(parts(&fat, 512, None), None);
        // Nor is an exFAT one.
        let mut ex = vec![0u8; 512];
        put(&mut ex, 0, b"\xeb\x76\x90EXFAT   ");
        put(&mut ex, 108, &[9, 3]);
        put(&mut ex, 510, &[0x55, 0xaa]);
        assert_eq!(parts(&ex, 512, None), None);
        // An empty but valid MBR is a table without partitions.
        let mut empty = vec![0u8; 512];
        put(&mut empty, 510, &[0x55, 0xaa]);
        assert_eq!(parts(&empty, 512, None).unwrap().partitions, []);
    }

    #[test]
    fn bad_sector_sizes_are_an_error() {
        for ss in [0, 256, 1000, 1 << 17] {
            let err = read_partitions(&[0u8; 512][..], ss, None).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn hostile_tables_never_panic() {
        let gpt = sample_gpt(512);
        let mbr = sample_mbr();
        for disk in [&gpt, &mbr] {
            for cut in (0..disk.len()).step_by(97) {
                let _ = read_partitions(&disk[..cut], 512, Some(cut as u64)).unwrap();
                let _ = probe_disk(&disk[..cut], 512, Some(cut as u64)).unwrap();
            }
        }
        mutate_all(&mbr, mbr.len(), 7, 2000, |m| {
            let _ = read_partitions(m, 512, Some(m.len() as u64)).unwrap();
        });
        mutate_all(&gpt, 34 * 512, 8, 2000, |m| {
            let _ = read_partitions(m, 512, Some(m.len() as u64)).unwrap();
        });
        // Mutate the entries, then fix the CRCs so the entry parsing itself is exercised.
        let mut rng = Rng(99);
        for _ in 0..500 {
            let mut d = gpt.clone();
            for _ in 0..8 {
                let at = 1024 + rng.below(128 * 128);
                d[at] = rng.next() as u8;
            }
            let crc = probe::crc32(&d[1024..1024 + 128 * 128]);
            let alt = (d.len() / 512 - 1) as u64;
            write_header(&mut d, 512, 1, alt, 2, 128, crc);
            let t = read_partitions(&d[..], 512, None).unwrap().unwrap();
            assert!(t.partitions.len() <= 128);
        }
        for _ in 0..200 {
            let junk = rng.bytes(64 * 1024);
            let _ = read_partitions(&junk[..], 512, Some(junk.len() as u64)).unwrap();
        }
    }

    // -- whole disks ---------------------------------------------------------------------------

    fn ext4_superblock() -> Vec<u8> {
        let mut sb = vec![0u8; 1024];
        put32(&mut sb, 0, 16);
        put32(&mut sb, 32, 8192);
        put32(&mut sb, 40, 16);
        put(&mut sb, 0x38, &[0x53, 0xef]);
        put32(&mut sb, 96, 0x42);
        put(&mut sb, 104, &[7; 16]);
        sb
    }

    #[test]
    fn whole_disk_table_beats_stale_filesystem() {
        let mut d = sample_mbr();
        put(&mut d, 1024, &ext4_superblock());
        match probe_disk(&d[..], 512, Some(d.len() as u64)).unwrap() {
            DiskContents::Partitioned {
                table,
                whole_disk: None,
                stale: Some(s),
            } => {
                assert_eq!(table.partitions.len(), 6);
                assert_eq!(s.fstype, FsType::Ext4);
            }
            other => panic!("{other:?}"),
        }
        // The same superblock without a table is the disk's filesystem.
        let mut d = vec![0u8; 1 << 20];
        put(&mut d, 1024, &ext4_superblock());
        assert!(matches!(
            probe_disk(&d[..], 512, Some(d.len() as u64)).unwrap(),
            DiskContents::Filesystem(Probe {
                fstype: FsType::Ext4,
                ..
            })
        ));
        assert_eq!(
            probe_disk(&[0u8; 8192][..], 512, None).unwrap(),
            DiskContents::Empty
        );
    }

    #[test]
    fn whole_disk_luks_and_hybrid_iso() {
        let mut d = sample_mbr();
        put(&mut d, 0, b"LUKS\xba\xbe\x00\x01");
        assert!(matches!(
            probe_disk(&d[..], 512, None).unwrap(),
            DiskContents::Filesystem(Probe {
                fstype: FsType::Luks1,
                ..
            })
        ));
        let mut d = sample_mbr();
        d.resize(2000 * 512, 0);
        put(&mut d, 0x8000, b"\x01CD001\x01");
        put(&mut d, 0x8000 + 40, b"LIVE");
        put(&mut d, 0x8800, b"\xffCD001\x01");
        match probe_disk(&d[..], 512, None).unwrap() {
            DiskContents::Partitioned {
                whole_disk: Some(iso),
                stale: None,
                ..
            } => {
                assert_eq!(iso.label.as_deref(), Some("LIVE"));
            }
            other => panic!("{other:?}"),
        }
    }

    // -- against the real tools ----------------------------------------------------------------

    /// `partx` (libblkid) listing: number, start, sectors, uuid, name, type.
    fn partx(path: &std::path::Path) -> Vec<(u32, u64, u64, String, Option<String>, String)> {
        let out = run(tool("partx")
            .args(["-g", "-r", "-o", "NR,START,SECTORS,UUID,NAME,TYPE"])
            .arg(path));
        let unescape = |s: &str| -> String {
            let mut bytes = Vec::new();
            let mut rest = s.as_bytes();
            while let Some((&b, tail)) = rest.split_first() {
                if b == b'\\' && tail.len() >= 3 && tail[0] == b'x' {
                    bytes.push(
                        u8::from_str_radix(std::str::from_utf8(&tail[1..3]).unwrap(), 16).unwrap(),
                    );
                    rest = &tail[3..];
                } else {
                    bytes.push(b);
                    rest = tail;
                }
            }
            String::from_utf8(bytes).unwrap()
        };
        out.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let name = unescape(f[4]);
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].to_owned(),
                    (!name.is_empty()).then_some(name),
                    f[5].to_owned(),
                )
            })
            .collect()
    }

    fn ours(t: &PartitionTable) -> Vec<(u32, u64, u64, String, Option<String>, String)> {
        t.partitions
            .iter()
            .map(|p| {
                (
                    p.number,
                    p.start_lba,
                    p.size_lba,
                    p.partuuid.clone(),
                    p.partlabel.clone(),
                    p.type_guid_or_id.clone(),
                )
            })
            .collect()
    }

    fn image(dir: &std::path::Path, name: &str, size: u64) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
        path
    }

    fn read_file_table(path: &std::path::Path) -> PartitionTable {
        let f = std::fs::File::open(path).unwrap();
        let size = f.metadata().unwrap().len();
        read_partitions(&f, 512, Some(size))
            .unwrap()
            .expect("a table")
    }

    #[test]
    fn real_sfdisk_mbr_matches_partx() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), "mbr", 64 << 20);
        let script = "label: dos\nlabel-id: 0x0a1b2c3d\n\
            start=2048, size=4096, type=83, bootable\n\
            start=8192, size=4096, type=c\n\
            start=16384, type=5\n\
            start=18432, size=2048, type=83\n\
            start=22528, size=2048, type=82\n\
            start=26624, size=2048, type=8e\n";
        let mut child = tool("sfdisk")
            .args(["-q"])
            .arg(&img)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let t = read_file_table(&img);
        assert_eq!(
            t.kind,
            TableKind::Mbr {
                signature: 0x0a1b_2c3d
            }
        );
        assert_eq!(ours(&t), partx(&img));
        let blkid = blkid_export(&img);
        assert_eq!(blkid.get("PTTYPE").map(String::as_str), Some("dos"));
        assert_eq!(blkid.get("PTUUID").map(String::as_str), Some("0a1b2c3d"));
    }

    #[test]
    fn real_sgdisk_gpt_matches_partx_and_backup_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), "gpt", 64 << 20);
        run(tool("sgdisk")
            .args(["-n", "1:2048:+8M", "-t", "1:ef00", "-c", "1:EFI System"])
            .args(["-n", "3:0:+8M", "-c", "3:röot fs"])
            .args(["-n", "4:0:+1M", "-t", "4:8309"])
            .arg(&img));
        let t = read_file_table(&img);
        assert_eq!(ours(&t), partx(&img));
        let TableKind::Gpt { disk_guid } = &t.kind else {
            panic!("{t:?}")
        };
        assert_eq!(Some(disk_guid), blkid_export(&img).get("PTUUID"));
        // Break the primary header: blkid and we fall back to the backup.
        let mut bytes = std::fs::read(&img).unwrap();
        bytes[512 + 40] ^= 0xff;
        std::fs::write(&img, &bytes).unwrap();
        let t2 = read_file_table(&img);
        assert!(t2.from_backup);
        assert_eq!(ours(&t2), ours(&t));
        assert_eq!(ours(&t2), partx(&img));
    }
}
