//! Reading one PV: its label and, of its metadata areas, the newest copy of the VG's
//! metadata text (highest `seqno`), over any [`ReadAt`] (a block device, a disk image).
//! A damaged area is reported and skipped while another copy is good, as lvm2 does.

use crate::probe::ReadAt;

use super::label::{
    read_label, read_mda_header, text_from_parts, text_ranges, PvLabel, LABEL_SCAN_SECTORS, SECTOR,
};
use super::text::{self, Section};

/// What one PV holds.
#[derive(Clone, Debug)]
pub struct PvMetadata {
    pub label: PvLabel,
    /// The newest metadata text on this PV, parsed, and its seqno (`None`: the PV has no
    /// metadata area in use, as with `pvcreate --metadatacopies 0`).
    pub newest: Option<(u64, Section)>,
    /// Areas that could not be read, each with why.
    pub problems: Vec<String>,
}

/// Reads exactly `buf.len()` bytes at `offset`, or says what was short.
fn read_exact<R: ReadAt + ?Sized>(dev: &R, offset: u64, buf: &mut [u8]) -> Result<(), String> {
    let mut done = 0;
    while done < buf.len() {
        match dev.read_at(offset + done as u64, &mut buf[done..]) {
            Ok(0) => {
                return Err(format!(
                    "the device ends before byte {}",
                    offset + buf.len() as u64
                ))
            }
            Ok(n) => done += n,
            Err(e) => return Err(format!("reading at {offset}: {e}")),
        }
    }
    Ok(())
}

/// Reads the PV on `dev`. `Ok(None)`: no LVM2 label. An error: the label itself is
/// damaged, or every metadata area is.
pub fn read_pv<R: ReadAt + ?Sized>(dev: &R) -> Result<Option<PvMetadata>, String> {
    let mut start = vec![0u8; SECTOR * LABEL_SCAN_SECTORS];
    let mut n = 0;
    while n < start.len() {
        match dev.read_at(n as u64, &mut start[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("reading the LVM2 label: {e}")),
        }
    }
    start.truncate(n);
    let Some(label) = read_label(&start).map_err(|e| e.0)? else {
        return Ok(None);
    };
    let mut newest: Option<(u64, Section)> = None;
    let mut problems = Vec::new();
    for area in &label.metadata_areas {
        match read_area(dev, *area) {
            Ok(None) => {}
            Ok(Some((seqno, top))) => {
                if newest.as_ref().is_none_or(|(s, _)| seqno > *s) {
                    newest = Some((seqno, top));
                }
            }
            Err(e) => problems.push(format!("metadata area at byte {}: {e}", area.offset)),
        }
    }
    if newest.is_none() && !problems.is_empty() {
        return Err(format!("PV {}: {}", label.pv_uuid, problems.join("; ")));
    }
    Ok(Some(PvMetadata {
        label,
        newest,
        problems,
    }))
}

/// One area's committed text, parsed, with its VG's seqno.
fn read_area<R: ReadAt + ?Sized>(
    dev: &R,
    area: super::label::DiskArea,
) -> Result<Option<(u64, Section)>, String> {
    let mut header = vec![0u8; SECTOR];
    read_exact(dev, area.offset, &mut header)?;
    let h = read_mda_header(&header, area).map_err(|e| e.0)?;
    let Some(t) = h.text else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    for (o, len) in text_ranges(&h, t) {
        let mut b = vec![0u8; len as usize];
        read_exact(dev, area.offset + o, &mut b)?;
        parts.push(b);
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let text = text_from_parts(t, &refs).map_err(|e| e.0)?;
    let top = text::parse(&text)?;
    let seqno = top
        .sections()
        .next()
        .and_then(|(_, vg)| vg.int("seqno"))
        .and_then(|s| u64::try_from(s).ok())
        .ok_or("the metadata has no VG with a seqno")?;
    Ok(Some((seqno, top)))
}

#[cfg(test)]
mod tests {
    use super::super::label::tests::{label_sector, mda};
    use super::super::label::DiskArea;
    use super::*;

    const UUID: &[u8; 32] = b"Q1z4cKhdbYd0eTJqY9xW1mZ2VfE3aB7c";

    /// A PV image: label in sector 1, metadata areas at 4096 and (when `second`) at 8192.
    fn image(first: &[u8], second: Option<&[u8]>) -> Vec<u8> {
        let mut dev = vec![0u8; 16384];
        let a1 = DiskArea {
            offset: 4096,
            size: 4096,
        };
        let mut label = label_sector(1, UUID, a1);
        if second.is_some() {
            // a second metadata area after the first in the PV header's list
            label[120..128].copy_from_slice(&8192u64.to_le_bytes());
            label[128..136].copy_from_slice(&4096u64.to_le_bytes());
            let crc = super::super::label::calc_crc(super::super::label::INITIAL_CRC, &label[20..]);
            label[16..20].copy_from_slice(&crc.to_le_bytes());
        }
        dev[512..1024].copy_from_slice(&label);
        dev[4096..8192].copy_from_slice(&mda(4096, 4096, 512, first));
        if let Some(s) = second {
            dev[8192..12288].copy_from_slice(&mda(8192, 4096, 512, s));
        }
        dev
    }

    #[test]
    fn the_newest_copy_wins_and_a_damaged_one_is_reported() {
        let old = b"vg { id = \"x\" seqno = 4 }\n";
        let new = b"vg { id = \"x\" seqno = 5 }\n";
        let dev = image(old, Some(new));
        let pv = read_pv(dev.as_slice()).unwrap().unwrap();
        assert_eq!(pv.newest.as_ref().unwrap().0, 5);
        assert!(pv.problems.is_empty());

        let mut damaged = dev.clone();
        damaged[8192 + 512] ^= 0x20; // the newer copy's text
        let pv = read_pv(damaged.as_slice()).unwrap().unwrap();
        assert_eq!(pv.newest.as_ref().unwrap().0, 4);
        assert!(pv.problems[0].contains("checksum"), "{:?}", pv.problems);

        let mut both = damaged.clone();
        both[4096 + 512] ^= 0x20;
        assert!(read_pv(both.as_slice()).unwrap_err().contains("checksum"));
    }

    #[test]
    fn not_a_pv_and_short_devices() {
        assert!(read_pv(vec![0u8; 4096].as_slice()).unwrap().is_none());
        assert!(read_pv([0u8; 0].as_slice()).unwrap().is_none());
        let dev = image(b"vg { id = \"x\" seqno = 1 }\n", None);
        // Cut inside the metadata area: an error naming the end of the device.
        let e = read_pv(&dev[..4300]).unwrap_err();
        assert!(e.contains("ends before"), "{e}");
    }
}
