//! Fuzzes the LVM2 PV label and metadata area readers (`sesame_storage::lvm::label`):
//! never a panic, and whatever they accept stays inside the bytes and sizes they read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_storage::lvm::label::{
    read_label, read_mda_header, text_from_parts, text_ranges, DiskArea, MDA_HEADER_SIZE,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(l)) = read_label(data) {
        assert!(l.sector < 4);
        assert_eq!(l.pv_uuid.len(), 38);
    }
    let area = DiskArea {
        offset: 4096,
        size: data.len() as u64,
    };
    if let Ok(h) = read_mda_header(data, area) {
        if let Some(t) = h.text {
            let ranges = text_ranges(&h, t);
            assert!(ranges.len() <= 2);
            assert_eq!(ranges.iter().map(|r| r.1).sum::<u64>(), t.size);
            for &(o, n) in &ranges {
                assert!(o >= MDA_HEADER_SIZE && o + n <= h.size, "{ranges:?} in {h:?}");
            }
            let parts: Vec<&[u8]> = ranges
                .iter()
                .filter_map(|&(o, n)| data.get(o as usize..(o + n) as usize))
                .collect();
            let _ = text_from_parts(t, &parts);
        }
    }
});
