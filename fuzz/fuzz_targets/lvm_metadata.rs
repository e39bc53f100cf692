//! Fuzzes the LVM2 metadata text parser and the VG reader (`sesame_storage::lvm::text`,
//! `lvm::vg`): never a panic; an LV the reader accepts has segments that start where
//! the previous one ended, and its table has one line per segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_storage::lvm::{text, vg};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(top) = text::parse(s) else {
        return;
    };
    let Ok(v) = vg::read_vg(&top, None) else {
        return;
    };
    for lv in v.lvs.iter().filter(|l| l.refused.is_none()) {
        let mut next = 0;
        for seg in &lv.segments {
            assert_eq!(seg.start_extent, next);
            next += seg.extent_count;
        }
        if let Ok(t) = vg::table(&v, lv, |_| Some("253:0".into())) {
            assert_eq!(t.len(), lv.segments.len());
        }
        let _ = vg::dm_name(&v.name, &lv.name);
    }
});
