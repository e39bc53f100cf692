//! Volume specifications from the kernel command line: the `rd.luks.*` words with
//! systemd-cryptsetup-generator(8) semantics (plus dracut's `rd.luks.allow-discards`,
//! `rd.luks.timeout` and three-field `rd.luks.key`), and the pieces shared with the
//! crypttab parser: volume options, time spans, names, diagnostics. Pure functions.
//!
//! Like systemd in the initrd, both `rd.luks.*` and `luks.*` are read; the last word
//! wins for a given volume (options, key, name), as in systemd. `rd.luks.uuid` and
//! `rd.luks.name` accumulate. A second `rd.luks.name` giving an already used name to
//! another volume is rejected, since two volumes cannot share a device-mapper name.

use std::time::Duration;

use serde::Serialize;

use crate::device::DeviceSpec;

mod error;
mod names;
mod options;
mod suggest;
mod timespan;

#[cfg(test)]
mod options_tests;
#[cfg(test)]
mod tests;

pub(crate) use error::show;
pub use error::{describe_device_error, SpecError};
pub use names::{check_volume_name, luks_uuid, uuid_matches};
pub(crate) use names::{path_and_device, ser_device, ser_device_opt, split_device_suffix};
pub use options::{parse_options, HeaderSpec, VolumeOptions};
pub use suggest::{closest, distance};
pub use timespan::{parse_bool, parse_timespan};

/// Every `rd.luks.*` key sesame understands (each also without `rd.`).
pub const LUKS_KEYS: &[&str] = &[
    "rd.luks",
    "rd.luks.uuid",
    "rd.luks.name",
    "rd.luks.options",
    "rd.luks.key",
    "rd.luks.crypttab",
    "rd.luks.timeout",
    "rd.luks.allow-discards",
    "luks",
    "luks.uuid",
    "luks.name",
    "luks.options",
    "luks.key",
    "luks.crypttab",
    "luks.timeout",
    "luks.allow-discards",
];

/// What the `rd.luks.*` words asked for, in command-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LuksCmdline {
    /// `rd.luks=0/1`, `luks=`: `Some(false)` disables opening volumes altogether.
    pub enabled: Option<bool>,
    /// `rd.luks.uuid=`: only these volumes (lower-case, `luks-` dropped; possibly only
    /// the beginning of the UUID, as dracut allows — compare with [`uuid_matches`]).
    pub uuids: Vec<String>,
    /// `rd.luks.name=<uuid>=<name>`: (uuid, device-mapper name); also restricts.
    pub names: Vec<(String, String)>,
    /// `rd.luks.options=[<uuid>=]<options>`: `None` applies to every volume without
    /// options of its own. One entry per uuid, the last given.
    pub options: Vec<(Option<String>, VolumeOptions)>,
    /// `rd.luks.key=[<uuid>=]<path>[:<device>]`. One entry per uuid, the last given.
    pub keys: Vec<KeySpec>,
    /// `rd.luks.crypttab=0` gives `Some(true)`: ignore the crypttab in the image.
    pub no_crypttab: Option<bool>,
    /// `rd.luks.timeout=` (dracut): how long to wait for a passphrase. `Some(ZERO)` is
    /// "forever", as written.
    pub timeout: Option<Duration>,
    /// `rd.luks.allow-discards[=<uuid>]` (dracut): `None` is every volume.
    pub allow_discards: Vec<Option<String>>,
}

/// `rd.luks.key=`: a key file for one volume (`uuid`) or for all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySpec {
    pub uuid: Option<String>,
    /// With `device`, relative to the root of the file system on it; without, an
    /// absolute path in the initramfs (or a `UUID=`… block device holding a raw key).
    pub path: String,
    #[serde(serialize_with = "ser_device_opt")]
    pub device: Option<DeviceSpec>,
}

impl LuksCmdline {
    /// Applies one command-line word. `Ok(false)`: not an `rd.luks` word. `Err`: an
    /// `rd.luks` word that was rejected as a whole. Notes about the ignored parts of an
    /// accepted word (say, one unknown option in `rd.luks.options=`) are dropped; see
    /// [`LuksCmdline::apply_noting`].
    pub fn apply(&mut self, key: &str, value: Option<&str>) -> Result<bool, SpecError> {
        self.apply_noting(key, value, &mut Vec::new())
    }

    /// [`LuksCmdline::apply`], pushing notes about ignored parts of an accepted word
    /// onto `notes` (each with `part` set).
    pub fn apply_noting(
        &mut self,
        key: &str,
        value: Option<&str>,
        notes: &mut Vec<SpecError>,
    ) -> Result<bool, SpecError> {
        let bare = key.strip_prefix("rd.").unwrap_or(key);
        let sub = if bare == "luks" {
            ""
        } else if let Some(sub) = bare.strip_prefix("luks.") {
            sub
        } else {
            return Ok(false);
        };
        match sub {
            "" => self.enabled = Some(boolean(key, value)?),
            "crypttab" => self.no_crypttab = Some(!boolean(key, value)?),
            "uuid" => {
                let uuid = luks_uuid(required(key, value, "<uuid>")?)?;
                if !self.uuids.contains(&uuid) {
                    self.uuids.push(uuid);
                }
            }
            "name" => self.apply_name(key, required(key, value, "<uuid>=<name>")?)?,
            "options" => self.apply_options(required(key, value, "[<uuid>=]<options>")?, notes)?,
            "key" => self.apply_key(required(key, value, "[<uuid>=]<path>[:<device>]")?)?,
            "timeout" => {
                let v = required(key, value, "<seconds>")?;
                let t = parse_timespan(v).map_err(|r| {
                    SpecError::new(r, format!("write {key}=<seconds>, 0 for forever"))
                })?;
                self.timeout = Some(t);
            }
            "allow-discards" => {
                let which = match value {
                    None => None,
                    Some(v) => Some(luks_uuid(v)?),
                };
                if !self.allow_discards.contains(&which) {
                    self.allow_discards.push(which);
                }
            }
            "key.tout" => {
                return Err(SpecError::new(
                    "dracut's key device timeout is not supported by sesame",
                    "use rd.luks.options=keyfile-timeout=<seconds>",
                ))
            }
            "data" => {
                return Err(SpecError::new(
                    "detached data devices (rd.luks.data=) are not supported by sesame",
                    "use a detached header instead: rd.luks.options=<uuid>=header=<path>",
                ))
            }
            _ => {
                let prefix = if key.starts_with("rd.") { "rd." } else { "" };
                let known: Vec<&str> = LUKS_KEYS
                    .iter()
                    .copied()
                    .filter(|k| k.starts_with(prefix))
                    .collect();
                let fix = match closest(key, &known) {
                    Some(k) => format!("did you mean {k}?"),
                    None => format!("the rd.luks parameters are {}", known.join(", ")),
                };
                return Err(SpecError::new(
                    format!("{} is not a known rd.luks parameter", show(key)),
                    fix,
                ));
            }
        }
        Ok(true)
    }

    fn apply_name(&mut self, key: &str, value: &str) -> Result<(), SpecError> {
        let fix = format!("write {key}=<uuid>=<name>, e.g. {key}=0b3c5a1e-…=root");
        let v = value
            .get(..5)
            .filter(|h| h.eq_ignore_ascii_case("uuid="))
            .map_or(value, |_| &value[5..]);
        let Some((uuid, name)) = v.split_once('=') else {
            return Err(SpecError::new(format!("{} has no name", show(value)), fix));
        };
        let uuid = luks_uuid(uuid)?;
        check_volume_name(name).map_err(|r| SpecError::new(r, fix))?;
        if let Some((other, _)) = self.names.iter().find(|(u, n)| n == name && *u != uuid) {
            return Err(SpecError::new(
                format!("the name {} is already given to volume {other}", show(name)),
                "give each volume its own name",
            ));
        }
        self.names.retain(|(u, _)| *u != uuid);
        self.names.push((uuid, name.to_string()));
        Ok(())
    }

    fn apply_options(&mut self, value: &str, notes: &mut Vec<SpecError>) -> Result<(), SpecError> {
        let (uuid, list) = match uuid_prefix(value, true) {
            Some((uuid, rest)) => (Some(luks_uuid(uuid)?), rest),
            None => (None, value),
        };
        let (opts, errors) = parse_options(list);
        notes.extend(errors);
        self.options.retain(|(u, _)| *u != uuid);
        self.options.push((uuid, opts));
        Ok(())
    }

    fn apply_key(&mut self, value: &str) -> Result<(), SpecError> {
        let (mut uuid, spec) = match uuid_prefix(value, false) {
            Some((uuid, rest)) => (Some(luks_uuid(uuid)?), rest),
            None => (None, value),
        };
        let (path, rest) = split_device_suffix(spec);
        // dracut's <keypath>:<keydev>:<luksdev>.
        let (keydev, luksdev) = match rest {
            Some(r) => {
                let (d, l) = split_device_suffix(r);
                (Some(d), l)
            }
            None => (None, None),
        };
        if let Some(l) = luksdev {
            if uuid.is_some() {
                return Err(SpecError::new(
                    "the volume is given twice, before the path and after the key device",
                    "write rd.luks.key=<uuid>=<path>:<keydev>",
                ));
            }
            match DeviceSpec::parse(l) {
                Ok(DeviceSpec::Uuid(u)) => uuid = Some(u),
                _ => {
                    return Err(SpecError::new(
                        format!("the LUKS device {} is not named by UUID=", show(l)),
                        "write rd.luks.key=<path>:<keydev>:UUID=<luks-uuid>, \
                         or rd.luks.key=<luks-uuid>=<path>:<keydev>",
                    ))
                }
            }
        }
        let joined = match keydev {
            Some(d) => format!("{path}:{d}"),
            None => path.to_string(),
        };
        let (path, device) = path_and_device(&joined, "key file")?;
        self.keys.retain(|k| k.uuid != uuid);
        self.keys.push(KeySpec { uuid, path, device });
        Ok(())
    }

    /// True when `rd.luks.uuid=` or `rd.luks.name=` restrict which volumes to open.
    pub fn restricts(&self) -> bool {
        !self.uuids.is_empty() || !self.names.is_empty()
    }

    /// Whether the volume with this (full) UUID is asked for: always when nothing
    /// restricts, else when a `rd.luks.uuid`/`rd.luks.name` names it.
    pub fn wants(&self, uuid: &str) -> bool {
        !self.restricts()
            || self.uuids.iter().any(|u| uuid_matches(u, uuid))
            || self.names.iter().any(|(u, _)| uuid_matches(u, uuid))
    }

    /// The device-mapper name asked for this volume, if any.
    pub fn name_for(&self, uuid: &str) -> Option<&str> {
        self.names
            .iter()
            .rev()
            .find(|(u, _)| uuid_matches(u, uuid))
            .map(|(_, n)| n.as_str())
    }

    /// The options for this volume: its own, else the default ones, plus dracut's
    /// `rd.luks.allow-discards`.
    pub fn options_for(&self, uuid: &str) -> VolumeOptions {
        let own = self
            .options
            .iter()
            .rev()
            .find(|(u, _)| u.as_deref().is_some_and(|u| uuid_matches(u, uuid)));
        let default = self.options.iter().rev().find(|(u, _)| u.is_none());
        let mut opts = own.or(default).map(|(_, o)| o.clone()).unwrap_or_default();
        if self
            .allow_discards
            .iter()
            .any(|d| d.as_deref().is_none_or(|u| uuid_matches(u, uuid)))
        {
            opts.discard = true;
        }
        opts
    }

    /// The key file for this volume: its own, else the default one.
    pub fn key_for(&self, uuid: &str) -> Option<&KeySpec> {
        let own = self
            .keys
            .iter()
            .rev()
            .find(|k| k.uuid.as_deref().is_some_and(|u| uuid_matches(u, uuid)));
        own.or_else(|| self.keys.iter().rev().find(|k| k.uuid.is_none()))
    }
}

/// systemd's `<uuid>=<rest>` prefix: the part before the first `=`, made of letters,
/// digits and dashes for `rd.luks.key` (a path starts with `/`, so never is one), of hex
/// digits and dashes for `rd.luks.options` (so `tries=3` is an option, not a UUID).
/// `UUID=` and `luks-` written before the UUID are accepted.
fn uuid_prefix(value: &str, hex_only: bool) -> Option<(&str, &str)> {
    let (head, rest) = value.split_once('=')?;
    if head.eq_ignore_ascii_case("uuid") {
        return uuid_prefix(rest, hex_only);
    }
    let bare = head
        .get(..5)
        .filter(|h| h.eq_ignore_ascii_case("luks-"))
        .map_or(head, |_| &head[5..]);
    let ok = !bare.is_empty()
        && bare.bytes().all(|b| {
            b == b'-'
                || if hex_only {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_alphanumeric()
                }
        });
    ok.then_some((head, rest))
}

fn required<'a>(key: &str, value: Option<&'a str>, form: &str) -> Result<&'a str, SpecError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(SpecError::new(
            format!("{key} needs a value"),
            format!("write {key}={form}"),
        )),
    }
}

fn boolean(key: &str, value: Option<&str>) -> Result<bool, SpecError> {
    match value {
        None => Ok(true),
        Some(v) => parse_bool(v).ok_or_else(|| {
            SpecError::new(
                format!("{} is not a boolean", show(v)),
                format!("write {key}=0 or {key}=1"),
            )
        }),
    }
}
