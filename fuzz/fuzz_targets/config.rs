//! Fuzzes the config file parser: any text gives a Config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = sesame::config::parse(text, "/etc/sesame/config.toml") {
            assert!(!e.message.contains('\n'), "multi-line error: {e}");
        }
    }
});
