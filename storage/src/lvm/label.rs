//! LVM2's on-disk PV label and metadata areas (lvm2 `lib/label`, `lib/format_text`):
//! the `LABELONE` label in one of the first four sectors with the PV header after it
//! (PV UUID, device size, data areas, metadata areas), each metadata area's header
//! (` LVM2 x[5A%r0N*>`, its ring buffer's size, the `raw_locn` of the committed text),
//! and the text itself, read across the ring buffer's wrap and checked against its
//! CRC. Pure functions over byte slices: the caller reads the device.

use std::fmt;

/// Sector size of every LVM2 on-disk structure.
pub const SECTOR: usize = 512;
/// The label is in one of the first `LABEL_SCAN_SECTORS` sectors.
pub const LABEL_SCAN_SECTORS: usize = 4;
/// The seed of every LVM2 checksum (`INITIAL_CRC`).
pub const INITIAL_CRC: u32 = 0xf597_a6cf;
/// The metadata area header's magic (`FMTT_MAGIC`).
pub const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// Size of the metadata area header; the ring buffer starts after it.
pub const MDA_HEADER_SIZE: u64 = 512;
/// Metadata text larger than this is refused (lvm2's own limit is far below).
pub const MAX_TEXT: u64 = 64 << 20;
const RAW_LOCN_IGNORED: u32 = 1;

/// What is wrong with an LVM2 structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError(pub String);

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabelError {}

fn err<T>(text: impl Into<String>) -> Result<T, LabelError> {
    Err(LabelError(text.into()))
}

/// lvm2's `calc_crc`: CRC-32 (reflected, polynomial 0xedb88320) from `initial`, without
/// the final inversion.
pub fn calc_crc(initial: u32, data: &[u8]) -> u32 {
    let mut crc = initial;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// An area on the PV: byte offset from the start of the device and size in bytes (a
/// data area's size 0 means "to the end of the device").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskArea {
    pub offset: u64,
    pub size: u64,
}

/// The PV label and header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector (0–3) the label was found in.
    pub sector: u64,
    /// The PV UUID as lvm2 prints it (`xxxxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxxxx`).
    pub pv_uuid: String,
    pub device_size: u64,
    pub data_areas: Vec<DiskArea>,
    pub metadata_areas: Vec<DiskArea>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// lvm2's printed form of a 32-character id: groups of 6-4-4-4-4-4-6.
pub fn format_id(id: &str) -> String {
    let mut out = String::with_capacity(38);
    let mut at = 0;
    for (i, n) in [6, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push_str(id.get(at..at + n).unwrap_or(""));
        at += n;
    }
    out
}

/// Finds the label in `start` (the device's first [`LABEL_SCAN_SECTORS`] sectors, or
/// fewer if the device is smaller). `Ok(None)`: no label (not a PV).
pub fn read_label(start: &[u8]) -> Result<Option<PvLabel>, LabelError> {
    for sector in 0..LABEL_SCAN_SECTORS {
        let Some(s) = start.get(sector * SECTOR..(sector + 1) * SECTOR) else {
            break;
        };
        if &s[..8] != b"LABELONE" {
            continue;
        }
        if u64_at(s, 8) != Some(sector as u64) {
            return err(format!(
                "LVM2 label in sector {sector} names another sector"
            ));
        }
        let crc = u32_at(s, 16).unwrap_or(0);
        if calc_crc(INITIAL_CRC, &s[20..]) != crc {
            return err(format!("LVM2 label in sector {sector}: checksum mismatch"));
        }
        if &s[24..32] != b"LVM2 001" {
            return err(format!(
                "label in sector {sector} is not an LVM2 label (type {:?})",
                String::from_utf8_lossy(&s[24..32])
            ));
        }
        let offset = u32_at(s, 20).unwrap_or(0) as usize;
        return parse_pv_header(s, offset, sector as u64).map(Some);
    }
    Ok(None)
}

fn parse_pv_header(s: &[u8], offset: usize, sector: u64) -> Result<PvLabel, LabelError> {
    let uuid = s
        .get(offset..offset + 32)
        .ok_or_else(|| LabelError(format!("PV header offset {offset} is outside its sector")))?;
    if !uuid.iter().all(|b| b.is_ascii_alphanumeric()) {
        return err("PV header: the PV UUID is not 32 letters and digits");
    }
    let pv_uuid = format_id(&String::from_utf8_lossy(uuid));
    let device_size =
        u64_at(s, offset + 32).ok_or_else(|| LabelError("PV header cut short".into()))?;
    let mut at = offset + 40;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        loop {
            let (Some(o), Some(n)) = (u64_at(s, at), u64_at(s, at + 8)) else {
                return err("PV header: its area lists run past the label sector");
            };
            at += 16;
            if o == 0 {
                break;
            }
            list.push(DiskArea { offset: o, size: n });
        }
    }
    let [data_areas, metadata_areas] = lists;
    Ok(PvLabel {
        sector,
        pv_uuid,
        device_size,
        data_areas,
        metadata_areas,
    })
}

/// Where a metadata area's committed text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLocn {
    /// From the start of the metadata area.
    pub offset: u64,
    pub size: u64,
    pub checksum: u32,
}

/// A metadata area's header: its size and the committed text's location (`None` when
/// the area holds no metadata or is marked ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdaHeader {
    /// Absolute byte offset of the area on the device (as recorded).
    pub start: u64,
    pub size: u64,
    pub text: Option<RawLocn>,
}

/// Parses the metadata area header (the area's first 512 bytes) of the area at `area`.
pub fn read_mda_header(b: &[u8], area: DiskArea) -> Result<MdaHeader, LabelError> {
    let Some(h) = b.get(..SECTOR) else {
        return err("metadata area header cut short");
    };
    if calc_crc(INITIAL_CRC, &h[4..]) != u32_at(h, 0).unwrap_or(0) {
        return err(format!(
            "metadata area at {}: header checksum mismatch",
            area.offset
        ));
    }
    if &h[4..20] != MDA_MAGIC {
        return err(format!("metadata area at {}: wrong magic", area.offset));
    }
    if u32_at(h, 20) != Some(1) {
        return err(format!(
            "metadata area at {}: format version {} (sesame reads 1)",
            area.offset,
            u32_at(h, 20).unwrap_or(0)
        ));
    }
    let start = u64_at(h, 24).unwrap_or(0);
    let size = u64_at(h, 32).unwrap_or(0);
    if start != area.offset {
        return err(format!(
            "metadata area at {}: its header says it starts at {start}",
            area.offset
        ));
    }
    if size <= MDA_HEADER_SIZE {
        return err(format!(
            "metadata area at {}: size {size} too small",
            area.offset
        ));
    }
    let (offset, len) = (u64_at(h, 40).unwrap_or(0), u64_at(h, 48).unwrap_or(0));
    let checksum = u32_at(h, 56).unwrap_or(0);
    let flags = u32_at(h, 60).unwrap_or(0);
    let text = (offset != 0 && flags & RAW_LOCN_IGNORED == 0).then_some(RawLocn {
        offset,
        size: len,
        checksum,
    });
    if let Some(t) = text {
        if t.offset < MDA_HEADER_SIZE || t.offset >= size || t.size == 0 {
            return err(format!(
                "metadata area at {}: text at {} ({} bytes) is outside its ring buffer",
                area.offset, t.offset, t.size
            ));
        }
        if t.size > size - MDA_HEADER_SIZE || t.size > MAX_TEXT {
            return err(format!(
                "metadata area at {}: text of {} bytes is larger than its ring buffer",
                area.offset, t.size
            ));
        }
    }
    Ok(MdaHeader { start, size, text })
}

/// The byte ranges (relative to the area's start) holding the text: one, or two when it
/// wraps past the area's end back to just after the header.
pub fn text_ranges(h: &MdaHeader, t: RawLocn) -> Vec<(u64, u64)> {
    let first = (h.size - t.offset).min(t.size);
    let mut r = vec![(t.offset, first)];
    if first < t.size {
        r.push((MDA_HEADER_SIZE, t.size - first));
    }
    r
}

/// Joins the text's `parts` (read at [`text_ranges`]), checks its checksum and returns it
/// without the trailing NULs lvm2 pads with.
pub fn text_from_parts(t: RawLocn, parts: &[&[u8]]) -> Result<String, LabelError> {
    let joined: Vec<u8> = parts.concat();
    if joined.len() as u64 != t.size {
        return err("metadata text cut short");
    }
    if calc_crc(INITIAL_CRC, &joined) != t.checksum {
        return err("metadata text: checksum mismatch");
    }
    let end = joined.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8(joined[..end].to_vec())
        .map_err(|_| LabelError("metadata text is not UTF-8".into()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A label sector (sector `sector`) for a PV with one data and one metadata area.
    pub(crate) fn label_sector(sector: u64, uuid: &[u8; 32], mda: DiskArea) -> Vec<u8> {
        let mut s = vec![0u8; SECTOR];
        s[..8].copy_from_slice(b"LABELONE");
        s[8..16].copy_from_slice(&sector.to_le_bytes());
        s[20..24].copy_from_slice(&32u32.to_le_bytes());
        s[24..32].copy_from_slice(b"LVM2 001");
        s[32..64].copy_from_slice(uuid);
        s[64..72].copy_from_slice(&(64u64 << 20).to_le_bytes());
        // data area: 1 MiB to the end; terminator; metadata area; terminator
        s[72..80].copy_from_slice(&(1u64 << 20).to_le_bytes());
        s[104..112].copy_from_slice(&mda.offset.to_le_bytes());
        s[112..120].copy_from_slice(&mda.size.to_le_bytes());
        let crc = calc_crc(INITIAL_CRC, &s[20..]);
        s[16..20].copy_from_slice(&crc.to_le_bytes());
        s
    }

    /// A metadata area of `size` bytes at `start` holding `text` at `offset` (wrapping).
    pub(crate) fn mda(start: u64, size: u64, offset: u64, text: &[u8]) -> Vec<u8> {
        let mut a = vec![0u8; size as usize];
        let h = &mut a[..SECTOR];
        h[4..20].copy_from_slice(MDA_MAGIC);
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[24..32].copy_from_slice(&start.to_le_bytes());
        h[32..40].copy_from_slice(&size.to_le_bytes());
        h[40..48].copy_from_slice(&offset.to_le_bytes());
        h[48..56].copy_from_slice(&(text.len() as u64).to_le_bytes());
        h[56..60].copy_from_slice(&calc_crc(INITIAL_CRC, text).to_le_bytes());
        let crc = calc_crc(INITIAL_CRC, &a[4..SECTOR]);
        a[..4].copy_from_slice(&crc.to_le_bytes());
        for (i, &b) in text.iter().enumerate() {
            let mut at = offset as usize + i;
            if at >= size as usize {
                at = at - size as usize + MDA_HEADER_SIZE as usize;
            }
            a[at] = b;
        }
        a
    }

    const UUID: &[u8; 32] = b"Q1z4cKhdbYd0eTJqY9xW1mZ2VfE3aB7c";

    #[test]
    fn crc_is_lvm2s() {
        // Standard CRC-32 of "123456789" is 0xcbf43926 = !calc_crc(!0, …).
        assert_eq!(!calc_crc(!0, b"123456789"), 0xcbf4_3926);
        assert_eq!(calc_crc(INITIAL_CRC, b""), INITIAL_CRC);
    }

    #[test]
    fn reads_a_label_in_sector_one() {
        let area = DiskArea {
            offset: 4096,
            size: 1 << 20,
        };
        let mut dev = vec![0u8; SECTOR * 4];
        dev[SECTOR..2 * SECTOR].copy_from_slice(&label_sector(1, UUID, area));
        let l = read_label(&dev).unwrap().unwrap();
        assert_eq!(l.sector, 1);
        assert_eq!(l.pv_uuid, "Q1z4cK-hdbY-d0eT-JqY9-xW1m-Z2Vf-E3aB7c");
        assert_eq!(l.metadata_areas, [area]);
        assert_eq!(
            l.data_areas,
            [DiskArea {
                offset: 1 << 20,
                size: 0
            }]
        );
        assert_eq!(read_label(&vec![0u8; SECTOR * 4]).unwrap(), None);
        assert_eq!(read_label(&[]).unwrap(), None);
    }

    #[test]
    fn a_damaged_label_is_an_error() {
        let area = DiskArea {
            offset: 4096,
            size: 1 << 20,
        };
        let mut dev = vec![0u8; SECTOR * 4];
        dev[SECTOR..2 * SECTOR].copy_from_slice(&label_sector(1, UUID, area));
        let mut bad = dev.clone();
        bad[SECTOR + 40] ^= 1;
        assert!(read_label(&bad).unwrap_err().0.contains("checksum"));
        let mut moved = vec![0u8; SECTOR * 4];
        moved[..SECTOR].copy_from_slice(&label_sector(1, UUID, area));
        assert!(read_label(&moved).unwrap_err().0.contains("another sector"));
    }

    #[test]
    fn reads_text_across_the_wrap() {
        let text = b"vg { seqno = 7 }\n\0\0";
        let a = mda(4096, 2048, 2040, text);
        let h = read_mda_header(
            &a,
            DiskArea {
                offset: 4096,
                size: 2048,
            },
        )
        .unwrap();
        let t = h.text.unwrap();
        let ranges = text_ranges(&h, t);
        assert_eq!(ranges, [(2040, 8), (512, 11)]);
        let parts: Vec<&[u8]> = ranges
            .iter()
            .map(|&(o, n)| &a[o as usize..(o + n) as usize])
            .collect();
        assert_eq!(text_from_parts(t, &parts).unwrap(), "vg { seqno = 7 }\n");
        let mut wrong = parts[1].to_vec();
        wrong[0] ^= 1;
        assert!(text_from_parts(t, &[parts[0], &wrong])
            .unwrap_err()
            .0
            .contains("checksum"));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let area = DiskArea {
            offset: 4096,
            size: 2048,
        };
        let good = mda(4096, 2048, 512, b"x");
        assert!(read_mda_header(&good[..100], area).is_err());
        let mut bad = good.clone();
        bad[10] ^= 1;
        assert!(read_mda_header(&bad, area)
            .unwrap_err()
            .0
            .contains("checksum"));
        let other = DiskArea {
            offset: 8192,
            size: 2048,
        };
        assert!(read_mda_header(&good, other)
            .unwrap_err()
            .0
            .contains("starts at"));
        // text outside the ring buffer
        let far = mda(4096, 2048, 4000, b"");
        assert!(read_mda_header(&far, area).is_err());
    }
}
