//! Fuzzes the udev database record sesame writes for a device-mapper device: whatever
//! the dm name and UUID hold, the record is refused or is exactly one `E:` line per
//! property, so no name can smuggle a flag (or a link, a tag) into the real system's udev.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_storage::udev_db::{parse_dev, record, DmDevice};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let (name, uuid, dev) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let _ = parse_dev(dev);
    let d = DmDevice {
        kernel_name: "dm-0".into(),
        major: 253,
        minor: 0,
        name: name.into(),
        uuid: uuid.into(),
        suspended: false,
    };
    if let Ok(r) = record(&d) {
        assert!(!r.contains('\r'), "{r:?}");
        // udev reads the database line by line; each line is `E:KEY=value`
        // and every key is one sesame means to write, once.
        let mut keys: Vec<&str> = r
            .split_terminator('\n')
            .map(|l| {
                let l = l.strip_prefix("E:").unwrap_or_else(|| panic!("{r:?}"));
                l.split_once('=').unwrap_or_else(|| panic!("{r:?}")).0
            })
            .collect();
        let all = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all, "{r:?}");
        for k in keys {
            assert!(
                [
                    "DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG",
                    "DM_UDEV_PRIMARY_SOURCE_FLAG",
                    "DM_UDEV_RULES_VSN",
                    "DM_NAME",
                    "DM_UUID",
                    "DM_SUSPENDED",
                ]
                .contains(&k),
                "{r:?}"
            );
        }
    }
});
