//! Fuzzes the authorized_keys parser: every line is a key or an error with its number.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (keys, errors) = sesame_remote::authorized_keys::parse(text);
        let lines = text.lines().count();
        assert!(keys.iter().all(|k| k.line >= 1 && k.line <= lines));
        assert!(errors.iter().all(|e| e.line >= 1 && e.line <= lines));
    }
});
