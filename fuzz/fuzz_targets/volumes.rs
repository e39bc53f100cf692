//! Fuzzes `sesame_crypt::select_volumes` with arbitrary `rd.luks.*` words and crypttab
//! text: no panics, `rd.luks=0` disables, listed volumes have valid, unique names, the
//! volume discover-all makes is valid, and every note prints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_crypt::crypttab::parse_crypttab;
use sesame_crypt::spec::check_volume_name;
use sesame_crypt::{select_volumes, DeviceSpec, LuksCmdline, Selection};

fuzz_target!(|data: &[u8]| {
    // <words> NUL <crypttab>; `root=<device>` and `cfg=<name>` words give root= and the
    // config's volume names.
    let (words, tab) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let words = String::from_utf8_lossy(words);
    let tab = String::from_utf8_lossy(tab);
    let mut luks = LuksCmdline::default();
    let mut root = None;
    let mut config = Vec::new();
    for w in words.split_whitespace() {
        let (k, v) = match w.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (w, None),
        };
        match (k, v) {
            ("root", Some(v)) => root = DeviceSpec::parse(v).ok(),
            ("cfg", Some(v)) => config.push(v.to_string()),
            _ => {
                let _ = luks.apply(k, v);
            }
        }
    }
    let (entries, _) = parse_crypttab(&tab);
    let (selection, notes) = select_volumes(&luks, &entries, root.as_ref(), &config);
    for n in &notes {
        let _ = n.to_string();
    }
    match &selection {
        Selection::Disabled => assert_eq!(luks.enabled, Some(false)),
        Selection::Listed(v) => {
            assert_ne!(luks.enabled, Some(false));
            for (i, a) in v.iter().enumerate() {
                assert!(check_volume_name(&a.name).is_ok(), "{:?}", a.name);
                assert!(v[i + 1..].iter().all(|b| b.name != a.name), "{:?} twice", a.name);
                let _ = a.device.to_string();
            }
        }
        Selection::DiscoverAll { .. } => {
            assert!(!luks.restricts());
            let v = selection
                .discovered("0B3C5A1E-9F1D-4C2B-8A7E-1234567890AB")
                .expect("a volume for every LUKS device");
            assert!(check_volume_name(&v.name).is_ok());
        }
    }
});
