//! Fuzzes the kernel uevent datagram parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ev) = sesame::uevent::parse(data) {
        assert!(!ev.action.is_empty());
        assert!(ev.devpath.starts_with('/'));
    }
});
