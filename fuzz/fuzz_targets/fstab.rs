//! Fuzzes the builder's fstab reader (which volumes the host's root and /usr sit on):
//! never a panic, and every source it returns comes from a line mounting / or /usr.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let sources = sesame::image::root_volumes::fstab_sources(text);
        let early = text
            .lines()
            .filter(|l| {
                let mut f = l.split_whitespace();
                !l.trim_start().starts_with('#')
                    && f.next().is_some()
                    && f.next().is_some_and(|t| t.starts_with('/') || t.starts_with('\\'))
            })
            .count();
        assert!(sources.len() <= early, "{sources:?} from {text:?}");
    }
});
