//! Fuzzes the volume options and the `rd.luks.*` words (`sesame_crypt::spec`): no
//! panics, one diagnostic per rejected option, and a rejected word leaves the state
//! as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_crypt::spec::{parse_options, LuksCmdline, LUKS_KEYS};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let value = String::from_utf8_lossy(rest);
    let (opts, errors) = parse_options(&value);
    assert!(errors.iter().all(|e| e.part.is_some()));
    assert!(opts.unknown.len() >= errors.len());

    // Every known key, and one unknown.
    let i = usize::from(selector & 0x7f) % (LUKS_KEYS.len() + 1);
    let key = LUKS_KEYS.get(i).copied().unwrap_or("rd.luks.bogus");
    let mut luks = LuksCmdline::default();
    let mut notes = Vec::new();
    let value = if selector & 0x80 != 0 {
        None
    } else {
        Some(value.as_ref())
    };
    if luks.apply_noting(key, value, &mut notes).is_err() {
        assert_eq!(luks, LuksCmdline::default());
    }
    let _ = luks.options_for("0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab");
    let _ = luks.key_for("0b3c5a1e");
});
