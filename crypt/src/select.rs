//! Which volumes to open: `select_volumes` joins the `rd.luks.*` words, the crypttab baked
//! into the image and the config's volume names into a [`Selection`], with the semantics
//! of systemd-cryptsetup-generator(8) and dracut. Pure.
//!
//! - `rd.luks=0`: nothing is opened.
//! - `rd.luks.uuid=` / `rd.luks.name=` restrict the volumes to those named (systemd's
//!   allow list): a crypttab entry for the same UUID (its device `UUID=…`, or its name
//!   `luks-<uuid>`) gives the name, key and options, else the volume is `luks-<UUID>`
//!   (or the `rd.luks.name=` name) with the command line's key and options. Other
//!   crypttab entries are not opened (a note says so for the marked ones).
//! - Otherwise: the crypttab entries marked `initramfs` / `x-initrd.attach` (not
//!   `noauto`), those the config names, and the one `root=/dev/mapper/<name>` names.
//!   When that is none: every LUKS device found, named `luks-<UUID>`, as dracut does.
//! - `rd.luks.options=<uuid>=…` overrides a crypttab entry's options (systemd);
//!   options without a UUID apply to volumes with no crypttab entry. dracut's
//!   `rd.luks.allow-discards` adds `discard`.
//! - Key files: a crypttab entry's own key wins; when it has none (`none`), a
//!   `rd.luks.key=<uuid>=…` for its UUID is used (systemd ignores it; sesame takes it as
//!   the operator's intent). A key without UUID applies to volumes with no crypttab entry.
//! - A name or a device used twice: the later volume is skipped with a note.

use serde::Serialize;

use crate::crypttab::{CrypttabEntry, KeySource};
use crate::device::DeviceSpec;
use crate::spec::{
    check_volume_name, luks_uuid, ser_device, uuid_matches, KeySpec, LuksCmdline, SpecError,
    VolumeOptions,
};

#[cfg(test)]
mod tests;

/// Where a volume comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `rd.luks.uuid=` / `rd.luks.name=` without a crypttab entry.
    Cmdline,
    /// A crypttab entry (possibly named by the command line or the config).
    Crypttab,
    /// Found by its LUKS header while discovering every LUKS device.
    Discovered,
}

/// One volume to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// The device-mapper name: the volume appears as `/dev/mapper/<name>`.
    pub name: String,
    /// The encrypted device (for a detached header, the data device).
    #[serde(serialize_with = "ser_device")]
    pub device: DeviceSpec,
    pub key: KeySource,
    pub options: VolumeOptions,
    pub origin: Origin,
}

/// What to open.
// Made once per boot: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These volumes, in this order (the order of prompts).
    Listed(Vec<Volume>),
    /// Every LUKS device that appears, named `luks-<UUID>`.
    DiscoverAll {
        /// The options of a volume without options of its own.
        options: VolumeOptions,
        /// `rd.luks.key=` words: per UUID, or for all (`uuid: None`).
        keys: Vec<KeySpec>,
        /// `rd.luks.options=<uuid>=…` (and `rd.luks.allow-discards=<uuid>`): per UUID.
        options_by_uuid: Vec<(String, VolumeOptions)>,
    },
    /// `rd.luks=0`.
    Disabled,
}

impl Selection {
    /// The volume for a LUKS device found while discovering (`DiscoverAll` only).
    pub fn discovered(&self, uuid: &str) -> Option<Volume> {
        let Selection::DiscoverAll {
            options,
            keys,
            options_by_uuid,
        } = self
        else {
            return None;
        };
        let uuid = uuid.to_ascii_lowercase();
        let options = options_by_uuid
            .iter()
            .rev()
            .find(|(u, _)| uuid_matches(u, &uuid))
            .map_or_else(|| options.clone(), |(_, o)| o.clone());
        let key = keys
            .iter()
            .rev()
            .find(|k| k.uuid.as_deref().is_some_and(|u| uuid_matches(u, &uuid)))
            .or_else(|| keys.iter().rev().find(|k| k.uuid.is_none()))
            .map_or(KeySource::None, key_source);
        Some(Volume {
            name: format!("luks-{uuid}"),
            device: DeviceSpec::Uuid(uuid),
            key,
            options,
            origin: Origin::Discovered,
        })
    }
}

/// Which volumes to open, and notes about what was asked for and not used. `crypttab`
/// is the image's (already parsed); `root` is `root=`; `config_names` the volumes the
/// image's config names (`luks.volumes`).
pub fn select_volumes(
    luks: &LuksCmdline,
    crypttab: &[CrypttabEntry],
    root: Option<&DeviceSpec>,
    config_names: &[String],
) -> (Selection, Vec<SpecError>) {
    let mut notes = Vec::new();
    if luks.enabled == Some(false) {
        return (Selection::Disabled, notes);
    }
    let tab: &[CrypttabEntry] = if luks.no_crypttab == Some(true) {
        &[]
    } else {
        for name in config_names {
            if !crypttab.iter().any(|e| &e.name == name) {
                notes.push(SpecError::new(
                    format!("the config names volume `{name}`, which is not in the image's crypttab"),
                    "add its line to /etc/crypttab and rebuild the image, or drop it from luks.volumes",
                ));
            }
        }
        crypttab
    };
    let root_name = root.and_then(DeviceSpec::mapper_name);
    let mut volumes = Vec::new();
    if luks.restricts() {
        for uuid in wanted_uuids(luks) {
            volumes.extend(cmdline_volume(luks, tab, &uuid, &mut notes));
        }
        for e in tab {
            let chosen = volumes.iter().any(|v: &Volume| v.name == e.name);
            if !chosen && (e.options.initramfs || config_names.contains(&e.name)) {
                notes.push(SpecError::new(
                    format!(
                        "crypttab volume `{}` (line {}) is not opened: rd.luks.uuid=/rd.luks.name= name the only volumes to open",
                        e.name, e.line
                    ),
                    "add rd.luks.uuid=<its LUKS UUID> too, or drop rd.luks.uuid=/rd.luks.name=",
                ));
            }
        }
    } else {
        for e in tab {
            let named = config_names.contains(&e.name) || root_name == Some(e.name.as_str());
            if named || (e.options.initramfs && !e.options.noauto) {
                volumes.push(crypttab_volume(luks, e));
            }
        }
    }
    let selection = if volumes.is_empty() && !luks.restricts() {
        discover_all(luks)
    } else {
        Selection::Listed(dedupe(volumes, &mut notes))
    };
    note_unused_words(luks, &selection, &mut notes);
    if let Some(name) = root_name {
        note_root(name, &selection, &mut notes);
    }
    (selection, notes)
}

/// The UUIDs of `rd.luks.uuid=` and `rd.luks.name=`, in that order, each once.
fn wanted_uuids(luks: &LuksCmdline) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in luks.uuids.iter().chain(luks.names.iter().map(|(u, _)| u)) {
        if !out.iter().any(|o| bare(o) == bare(u)) {
            out.push(u.clone());
        }
    }
    out
}

/// A volume named by the command line: from its crypttab entry if there is one.
fn cmdline_volume(
    luks: &LuksCmdline,
    tab: &[CrypttabEntry],
    uuid: &str,
    notes: &mut Vec<SpecError>,
) -> Option<Volume> {
    let entry = tab.iter().find(|e| {
        entry_uuid(e).is_some_and(|eu| uuid_matches(uuid, &eu) || uuid_matches(&eu, uuid))
    });
    if let Some(e) = entry {
        if let Some(name) = luks.name_for(uuid).filter(|n| *n != e.name) {
            notes.push(SpecError::new(
                format!(
                    "rd.luks.name= names volume {uuid} `{name}`, but crypttab line {} names it `{}`; `{}` is used, as systemd does",
                    e.line, e.name, e.name
                ),
                format!("use root=/dev/mapper/{} or rename the crypttab entry", e.name),
            ));
        }
        return Some(crypttab_volume(luks, e));
    }
    let name = luks
        .name_for(uuid)
        .map_or_else(|| format!("luks-{uuid}"), str::to_string);
    if let Err(reason) = check_volume_name(&name) {
        notes.push(SpecError::new(
            format!("volume {uuid}: {reason}"),
            format!("give it a shorter name: rd.luks.name={uuid}=<name>"),
        ));
        return None;
    }
    Some(Volume {
        name,
        device: DeviceSpec::Uuid(uuid.to_string()),
        key: luks.key_for(uuid).map_or(KeySource::None, key_source),
        options: luks.options_for(uuid),
        origin: Origin::Cmdline,
    })
}

/// A crypttab entry, with the command line's per-UUID options and key applied.
fn crypttab_volume(luks: &LuksCmdline, e: &CrypttabEntry) -> Volume {
    let uuid = entry_uuid(e);
    let mut options = uuid
        .as_deref()
        .and_then(|u| own_options(luks, u))
        .unwrap_or_else(|| e.options.clone());
    if luks.allow_discards.iter().any(|d| match (d, &uuid) {
        (None, _) => true,
        (Some(d), Some(u)) => uuid_matches(d, u),
        (Some(_), None) => false,
    }) {
        options.discard = true;
    }
    let key = match &e.key {
        KeySource::None => uuid
            .as_deref()
            .and_then(|u| {
                luks.keys
                    .iter()
                    .rev()
                    .find(|k| k.uuid.as_deref().is_some_and(|ku| uuid_matches(ku, u)))
            })
            .map_or(KeySource::None, key_source),
        file => file.clone(),
    };
    Volume {
        name: e.name.clone(),
        device: e.device.clone(),
        key,
        options,
        origin: Origin::Crypttab,
    }
}

/// `rd.luks.options=<uuid>=…` for this UUID, with dracut's allow-discards.
fn own_options(luks: &LuksCmdline, uuid: &str) -> Option<VolumeOptions> {
    luks.options
        .iter()
        .rev()
        .find(|(u, _)| u.as_deref().is_some_and(|u| uuid_matches(u, uuid)))
        .map(|_| luks.options_for(uuid))
}

fn discover_all(luks: &LuksCmdline) -> Selection {
    let mut options = luks
        .options
        .iter()
        .rev()
        .find(|(u, _)| u.is_none())
        .map(|(_, o)| o.clone())
        .unwrap_or_default();
    if luks.allow_discards.contains(&None) {
        options.discard = true;
    }
    let mut options_by_uuid: Vec<(String, VolumeOptions)> = Vec::new();
    let per_uuid = luks
        .options
        .iter()
        .filter_map(|(u, _)| u.as_ref())
        .chain(luks.allow_discards.iter().flatten());
    for u in per_uuid {
        if !options_by_uuid.iter().any(|(o, _)| o == u) {
            options_by_uuid.push((u.clone(), luks.options_for(u)));
        }
    }
    Selection::DiscoverAll {
        options,
        keys: luks.keys.clone(),
        options_by_uuid,
    }
}

/// Drops volumes whose name or device is already used.
fn dedupe(volumes: Vec<Volume>, notes: &mut Vec<SpecError>) -> Vec<Volume> {
    let mut out: Vec<Volume> = Vec::new();
    for v in volumes {
        if let Some(prev) = out.iter().find(|o| o.name == v.name) {
            if *prev != v {
                notes.push(SpecError::new(
                    format!(
                        "volume name `{}` is given to {} and to {}; the second is skipped",
                        v.name, prev.device, v.device
                    ),
                    "give each volume its own name",
                ));
            }
            continue;
        }
        if let Some(prev) = out.iter().find(|o| same_device(&o.device, &v.device)) {
            notes.push(SpecError::new(
                format!(
                    "volumes `{}` and `{}` name the same device {}; `{}` is skipped",
                    prev.name, v.name, v.device, v.name
                ),
                "a device can be opened once: keep one of them",
            ));
            continue;
        }
        out.push(v);
    }
    out
}

fn same_device(a: &DeviceSpec, b: &DeviceSpec) -> bool {
    match (a, b) {
        (DeviceSpec::Uuid(x), DeviceSpec::Uuid(y)) => bare(x) == bare(y),
        _ => a == b,
    }
}

/// Notes for `rd.luks.key=` / `rd.luks.options=` naming a UUID that is not opened.
fn note_unused_words(luks: &LuksCmdline, selection: &Selection, notes: &mut Vec<SpecError>) {
    let Selection::Listed(volumes) = selection else {
        return;
    };
    let known = |uuid: &str| {
        volumes.iter().any(|v| match &v.device {
            DeviceSpec::Uuid(u) => uuid_matches(uuid, u) || uuid_matches(u, uuid),
            _ => false,
        }) || volumes.iter().any(|v| {
            v.name
                .strip_prefix("luks-")
                .is_some_and(|u| uuid_matches(uuid, u))
        })
    };
    let per_uuid = luks
        .keys
        .iter()
        .filter_map(|k| k.uuid.as_deref().map(|u| ("rd.luks.key", u)))
        .chain(
            luks.options
                .iter()
                .filter_map(|(u, _)| u.as_deref().map(|u| ("rd.luks.options", u))),
        );
    for (word, uuid) in per_uuid {
        if !known(uuid) {
            notes.push(SpecError::new(
                format!("{word}= names volume {uuid}, which is not one of the volumes to open"),
                "check the UUID (`cryptsetup luksUUID <device>`), or add rd.luks.uuid=<uuid>",
            ));
        }
    }
}

/// A note when `root=/dev/mapper/<name>` will not be made by any volume.
fn note_root(name: &str, selection: &Selection, notes: &mut Vec<SpecError>) {
    match selection {
        Selection::Listed(volumes) if !volumes.iter().any(|v| v.name == name) => {
            let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
            notes.push(SpecError::new(
                format!(
                    "root=/dev/mapper/{name} is not one of the volumes to open ({})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
                format!("name it: rd.luks.name=<LUKS UUID>={name}, or a crypttab line `{name} UUID=<LUKS UUID> none initramfs`"),
            ));
        }
        Selection::DiscoverAll { .. } if !name.starts_with("luks-") => {
            notes.push(SpecError::new(
                format!(
                    "root=/dev/mapper/{name}: no crypttab entry has this name, and LUKS devices found are named luks-<UUID>"
                ),
                format!("add rd.luks.name=<LUKS UUID>={name}"),
            ));
        }
        _ => {}
    }
}

/// The LUKS UUID a crypttab entry names: its device `UUID=…`, or its name `luks-<uuid>`.
fn entry_uuid(e: &CrypttabEntry) -> Option<String> {
    match &e.device {
        DeviceSpec::Uuid(u) => Some(u.clone()),
        _ => e.name.strip_prefix("luks-").and_then(|u| luks_uuid(u).ok()),
    }
}

pub(crate) fn key_source(k: &KeySpec) -> KeySource {
    KeySource::File {
        path: k.path.clone(),
        device: k.device.clone(),
    }
}

fn bare(u: &str) -> String {
    u.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
