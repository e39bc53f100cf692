//! Fuzzes the kernel command-line parser (`sesame::cmdline`): it must never panic, read
//! text and bytes alike, and print diagnostics that are bounded and free of control
//! characters, whatever the line holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::cmdline;

fuzz_target!(|data: &[u8]| {
    let (from_bytes, diags) = cmdline::parse_bytes(data);
    for d in &diags {
        let text = d.to_string();
        assert!(text.len() < 2048, "diagnostic too long: {}", text.len());
        assert!(
            !text.chars().any(char::is_control),
            "control character in {text:?}"
        );
    }
    // Valid UTF-8 gives the same result through either entry point.
    if let Ok(line) = std::str::from_utf8(data) {
        let (from_str, diags_str) = cmdline::parse(line);
        assert_eq!(from_str, from_bytes);
        assert_eq!(diags_str, diags);
        assert_eq!(cmdline::split_words(line), cmdline::split_words_bytes(data));
    }
});
