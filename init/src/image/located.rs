//! The crypttab volumes an image opens, located on the build host: each selected entry's
//! device looked up by sesame's own prober (`sesame_storage::scan`) the way the boot will look
//! for it, and for a LUKS device its cipher read from the header (no key). `sesame check`
//! reports from this; the builder takes the cipher modules from it.

use std::path::Path;

use anyhow::Result;
use sesame_crypt::cipher::modules_beyond_aes;
use sesame_crypt::crypttab::parse_crypttab;
use sesame_crypt::device::DeviceSpec;

use crate::host::Host;
use crate::image::{crypttab, root_volumes};
use sesame_storage::scan;

/// One selected crypttab entry and what this host holds under its device spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The crypttab name (`/dev/mapper/<name>`).
    pub name: String,
    /// The device as the entry writes it: `UUID=…`, `/dev/vdb`.
    pub device: DeviceSpec,
    pub found: Found,
}

/// What the host holds under an entry's device spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// One LUKS device: its description (`vdb LUKS2 …`) and, when the header reads,
    /// its cipher.
    Luks {
        described: String,
        cipher: Option<Cipher>,
    },
    /// One device, but not LUKS.
    NotLuks {
        described: String,
    },
    /// Several devices (a cloned disk): their kernel names.
    Several(Vec<String>),
}

/// A LUKS volume's cipher and the `crypto-*` aliases it needs beyond the default set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cipher {
    /// `cipher-mode` as libcryptsetup reports it: `camellia-cbc-essiv:sha256`.
    pub spec: String,
    /// Empty for AES.
    pub aliases: Vec<String>,
}

/// The cipher of the LUKS volume at `node`; `None` when the header cannot be read.
pub fn cipher_of(node: &Path) -> Option<Cipher> {
    let (cipher, mode) = sesame_crypt::open::luks_cipher(node).ok()?;
    let aliases = modules_beyond_aes(&cipher, &mode).unwrap_or_default();
    Some(Cipher {
        spec: format!("{cipher}-{mode}"),
        aliases,
    })
}

/// The entries of `crypttab_text` the image opens (marked `initramfs`, named by the
/// config's `luks.volumes`, or under the host's root), in crypttab order, each located on
/// `host`. The block devices are scanned only when some entry is selected. Errors as
/// [`crypttab::select`] does.
pub fn locate(host: &Host, crypttab_text: &str, config_volumes: &[String]) -> Result<Vec<Located>> {
    let (entries, _) = parse_crypttab(crypttab_text);
    let root_names = root_volumes::names(host, &entries);
    let selected = crypttab::select(crypttab_text, config_volumes, &root_names, &[])?.volumes;
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| selected.contains(&e.name))
        .collect();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let devices = scan::scan(&host.path("/sys/class/block"), &host.path("/dev"));
    Ok(entries
        .into_iter()
        .map(|entry| {
            let found = match scan::find(&devices, &host.rooted_spec(&entry.device))[..] {
                [] => Found::Missing,
                [one] if one.fs.as_ref().is_some_and(|f| f.fstype.is_luks()) => Found::Luks {
                    described: one.describe(),
                    cipher: cipher_of(&one.node),
                },
                [one] => Found::NotLuks {
                    described: one.describe(),
                },
                ref many => Found::Several(many.iter().map(|d| d.name.clone()).collect()),
            };
            Located {
                name: entry.name,
                device: entry.device,
                found,
            }
        })
        .collect())
}
