//! Fuzzes the newc reader (used on images given to `sesame` on the host): no panic, no
//! huge allocation from a lying header; what it reads writes back and reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::image::cpio::read_newc;

fuzz_target!(|data: &[u8]| {
    if let Ok(archive) = read_newc(data) {
        let mut raw = Vec::new();
        archive.write_newc(0, &mut raw).expect("writing to memory");
        let again = read_newc(&raw).expect("our own output reads back");
        assert_eq!(again.len(), archive.len());
    }
});
