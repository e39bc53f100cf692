//! Fuzzes the superblock prober (`sesame_storage::probe`): it must never panic, whatever
//! the device holds, and what it reports must be well-formed. The input is probed as a device
//! as is, and again shifted by up to 64 KiB (chosen by the first byte) so that small inputs
//! also reach the superblocks that live far from the start (iso9660, swap, btrfs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_storage::probe::{probe, probe_sized, Probe, ReadAt};

/// `data` placed at `shift` bytes into an otherwise zero device.
struct Shifted<'a> {
    data: &'a [u8],
    shift: u64,
}

impl ReadAt for Shifted<'_> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = self.shift + self.data.len() as u64;
        if offset >= end {
            return Ok(0);
        }
        let n = buf.len().min((end - offset) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let pos = offset + i as u64;
            *b = pos
                .checked_sub(self.shift)
                .and_then(|p| self.data.get(p as usize))
                .copied()
                .unwrap_or(0);
        }
        Ok(n)
    }
}

fn check(found: Option<Probe>) {
    let Some(p) = found else { return };
    for text in [&p.uuid, &p.label, &p.uuid_sub, &p.version]
        .into_iter()
        .flatten()
    {
        assert!(!text.is_empty(), "empty string reported for {:?}", p.fstype);
        assert!(!text.contains('\0'), "NUL in {text:?}");
        // At most 512 UTF-16 units (the f2fs label), 3 UTF-8 bytes each.
        assert!(text.len() <= 3 * 512, "{} bytes", text.len());
    }
    if let Some(label) = &p.label {
        assert_eq!(label.trim_end_matches([' ', '\t', '\n', '\r']), label);
    }
    assert!(!p.conflicts.contains(&p.fstype));
    assert!(p.conflicts.len() < 16);
}

fuzz_target!(|data: &[u8]| {
    check(probe(data).expect("a slice never fails to read"));
    check(probe_sized(data, Some(data.len() as u64)).expect("a slice never fails to read"));
    if let Some((&k, rest)) = data.split_first() {
        let dev = Shifted {
            data: rest,
            shift: u64::from(k) * 512,
        };
        check(probe(&dev).expect("never fails to read"));
    }
});
