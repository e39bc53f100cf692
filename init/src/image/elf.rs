//! What sesame reads from ELF64 files: a kernel module's `.modinfo` section (`key=value`
//! strings such as `firmware=rtl_nic/rtl8168h-2.fw`), and whether an executable needs a
//! dynamic loader (`/init` must not).

/// The `key=value` pairs of the module's `.modinfo` section, in order; empty when the
/// bytes are not a little-endian ELF64 object or have no such section.
pub fn modinfo(elf: &[u8]) -> Vec<(String, String)> {
    section(elf, b".modinfo")
        .map(|data| {
            data.split(|&b| b == 0)
                .filter_map(|kv| std::str::from_utf8(kv).ok())
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every `firmware=` file the module may request.
pub fn firmware(elf: &[u8]) -> Vec<String> {
    modinfo(elf)
        .into_iter()
        .filter(|(k, _)| k == "firmware")
        .map(|(_, v)| v)
        .collect()
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Whether an ELF64 executable asks for an interpreter (a `PT_INTERP` program header),
/// i.e. is dynamically linked. None when the bytes are not a little-endian ELF64 file.
pub fn needs_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(elf, 0x20)?).ok()?;
    let phentsize = usize::from(u16_at(elf, 0x36)?);
    let phnum = usize::from(u16_at(elf, 0x38)?);
    if phentsize < 56 {
        return None;
    }
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(elf, at)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// The bytes of the named section.
fn section<'a>(elf: &'a [u8], wanted: &[u8]) -> Option<&'a [u8]> {
    // ELF magic, 64-bit, little-endian.
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize::try_from(u64_at(elf, 0x28)?).ok()?;
    let shentsize = usize::from(u16_at(elf, 0x3a)?);
    let shnum = usize::from(u16_at(elf, 0x3c)?);
    let shstrndx = usize::from(u16_at(elf, 0x3e)?);
    if shentsize < 64 {
        return None;
    }
    let header = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let bytes_of = |hdr: usize| -> Option<&'a [u8]> {
        let off = usize::try_from(u64_at(elf, hdr.checked_add(0x18)?)?).ok()?;
        let size = usize::try_from(u64_at(elf, hdr.checked_add(0x20)?)?).ok()?;
        elf.get(off..off.checked_add(size)?)
    };
    let names = bytes_of(header(shstrndx)?)?;
    for i in 0..shnum {
        let hdr = header(i)?;
        let name_off = usize::try_from(u32_at(elf, hdr)?).ok()?;
        let name = names.get(name_off..)?;
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        if name == wanted {
            return bytes_of(hdr);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with sections: null, .shstrtab, .modinfo.
    fn tiny_elf(modinfo: &[u8]) -> Vec<u8> {
        let shstrtab = b"\0.shstrtab\0.modinfo\0";
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let strtab_off = elf.len();
        elf.extend_from_slice(shstrtab);
        let modinfo_off = elf.len();
        elf.extend_from_slice(modinfo);
        while elf.len() % 8 != 0 {
            elf.push(0);
        }
        let shoff = elf.len();
        let mut sh = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        };
        sh(0, 0, 0);
        sh(1, strtab_off, shstrtab.len());
        sh(11, modinfo_off, modinfo.len());
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        elf
    }

    #[test]
    fn reads_fields_and_firmware() {
        let elf = tiny_elf(
            b"license=GPL\0firmware=rtl_nic/a.fw\0\0firmware=rtl_nic/b.fw\0alias=pci:v*\0",
        );
        assert_eq!(firmware(&elf), vec!["rtl_nic/a.fw", "rtl_nic/b.fw"]);
        assert_eq!(modinfo(&elf)[0], ("license".into(), "GPL".into()));
    }

    #[test]
    fn interpreter_is_seen_in_real_binaries() {
        // This test binary is dynamically linked; /bin/sh too. Neither is a static init.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(needs_interpreter(&me), Some(true));
        assert_eq!(needs_interpreter(b"#!/bin/sh"), None);
        let mut fake = vec![0u8; 64 + 56];
        fake[..6].copy_from_slice(b"\x7fELF\x02\x01");
        fake[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        fake[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        fake[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        fake[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        assert_eq!(needs_interpreter(&fake), Some(false));
        fake[0x38..0x3a].copy_from_slice(&500u16.to_le_bytes()); // headers past the end
        assert_eq!(needs_interpreter(&fake), None);
    }

    #[test]
    fn garbage_is_empty_not_a_panic() {
        assert!(modinfo(b"").is_empty());
        assert!(modinfo(b"\x7fELF\x02\x01").is_empty());
        let mut elf = tiny_elf(b"firmware=x\0");
        elf[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(modinfo(&elf).is_empty());
        let mut elf = tiny_elf(b"firmware=x\0");
        elf[0x3e..0x40].copy_from_slice(&99u16.to_le_bytes());
        assert!(modinfo(&elf).is_empty());
    }
}
