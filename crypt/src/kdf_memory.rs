//! Whether the machine has the memory a LUKS2 key slot's Argon2 asks for, checked before
//! libcryptsetup tries: on a small machine an Argon2 costing more than the free memory
//! would fail deep inside libcryptsetup, or worse make the kernel's OOM killer fire with
//! PID 1 as the only candidate (a kernel panic). The verdict is a pure function; reading
//! the header and `/proc/meminfo` are thin wrappers.

use std::path::Path;

use libcryptsetup_rs::consts::vals::{CryptKdf, KeyslotInfo};
use libcryptsetup_rs::CryptDevice;

/// LUKS2 has at most this many key slots.
const MAX_KEYSLOTS: u32 = 32;

/// The Argon2 memory (KiB) of each usable key slot (`only`: just that one); PBKDF2 slots
/// cost none. Empty when the header says nothing (LUKS1, or a read error).
pub fn keyslot_costs_kib(cd: &mut CryptDevice, only: Option<u32>) -> Vec<u32> {
    let slots: Vec<u32> = match only {
        Some(s) => vec![s],
        None => (0..MAX_KEYSLOTS).collect(),
    };
    let mut costs = Vec::new();
    for slot in slots {
        let active = matches!(
            cd.keyslot_handle().status(slot),
            Ok(KeyslotInfo::Active | KeyslotInfo::ActiveLast)
        );
        if !active {
            continue;
        }
        match cd.keyslot_handle().get_pbkdf(slot) {
            Ok(p) if matches!(p.type_, CryptKdf::Argon2I | CryptKdf::Argon2Id) => {
                costs.push(p.max_memory_kb)
            }
            Ok(_) => costs.push(0),
            Err(_) => {}
        }
    }
    costs
}

/// `MemAvailable` of `/proc/meminfo` in KiB, if it can be read.
pub fn available_kib() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemAvailable:  123456 kB` → 123456.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// When every key slot needs more memory than is available: the cheapest slot's cost in
/// KiB. `None` when one fits, or when nothing is known.
pub fn too_costly(costs_kib: &[u32], available_kib: Option<u64>) -> Option<u32> {
    let available = available_kib?;
    let cheapest = *costs_kib.iter().min()?;
    (u64::from(cheapest) > available).then_some(cheapest)
}

/// The message for [`too_costly`]: how much is needed, how much there is, what to do.
pub fn explain(device: &Path, needed_kib: u32, available_kib: u64) -> String {
    format!(
        "{}: not enough memory to derive the key: its key slot needs {} MiB for Argon2 but \
         only {} MiB is available; give the machine more memory, or add a key slot that \
         costs less (`cryptsetup luksAddKey --pbkdf-memory <KiB>`)",
        device.display(),
        needed_kib / 1024,
        available_kib / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_from_meminfo() {
        let text = "MemTotal:         250000 kB\nMemFree:  1 kB\nMemAvailable:     180312 kB\n";
        assert_eq!(parse_mem_available(text), Some(180312));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(parse_mem_available(""), None);
    }

    #[test]
    fn verdict() {
        // One slot of 1 GiB, 180 MiB free: refused, naming the cost.
        assert_eq!(too_costly(&[1 << 20], Some(180 * 1024)), Some(1 << 20));
        // A cheap slot beside it: libcryptsetup may try.
        assert_eq!(too_costly(&[1 << 20, 64 * 1024], Some(180 * 1024)), None);
        // PBKDF2 costs nothing.
        assert_eq!(too_costly(&[0], Some(0)), None);
        // Nothing known: no verdict.
        assert_eq!(too_costly(&[], Some(1)), None);
        assert_eq!(too_costly(&[1 << 20], None), None);
    }

    #[test]
    fn message_says_how_much_and_what_to_do() {
        let m = explain(Path::new("/dev/vda"), 1 << 20, 180 * 1024);
        for needle in ["/dev/vda", "1024 MiB", "180 MiB", "luksAddKey"] {
            assert!(m.contains(needle), "{m} lacks {needle}");
        }
    }
}
