//! Fuzzes the crypttab parser (`sesame_crypt::crypttab`): no panics, every diagnostic
//! carries a line number within the text, every entry a valid name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_crypt::crypttab::parse_crypttab;
use sesame_crypt::spec::check_volume_name;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let (entries, errors) = parse_crypttab(&text);
    for e in &entries {
        assert!(e.line >= 1 && e.line <= lines);
        assert!(check_volume_name(&e.name).is_ok(), "{:?}", e.name);
    }
    for e in &errors {
        assert!(e.line.is_some_and(|l| l >= 1 && l <= lines), "{e:?}");
        let _ = e.to_string();
    }
});
