//! Volume options: the comma-separated list of crypttab's fourth field and of
//! `rd.luks.options=`, as systemd's crypttab(5) and Debian's crypttab(5) define them.
//!
//! Each option is one of:
//! - used by sesame (`discard`, `readonly`, `header=`, `tries=`, `timeout=`, …);
//! - another tool's, harmless to ignore (`_netdev`, `password-echo=`, `cipher=` — LUKS
//!   keeps its cipher in its header —, `x-systemd.*`, …): kept in
//!   [`VolumeOptions::unknown`] without a diagnostic;
//! - recognised but not supported (`plain`, `tcrypt`, `bitlk`, `tpm2-device=`,
//!   `fido2-device=`, `pkcs11-uri=`, `keyscript=`, `swap`, `tmp`): a diagnostic saying
//!   what to do, the rest of the list still used;
//! - unknown or malformed: a diagnostic, with the closest known option as a hint.

use std::time::Duration;

use serde::Serialize;

use crate::device::DeviceSpec;
use crate::spec::names::{path_and_device, ser_device_opt};
use crate::spec::{closest, parse_timespan, show, SpecError};

/// What the options say about one volume. `Default` is "no options".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VolumeOptions {
    /// `discard` (or `allow-discards`): pass TRIM through.
    pub discard: bool,
    /// `readonly` / `read-only`.
    pub readonly: bool,
    pub no_read_workqueue: bool,
    pub no_write_workqueue: bool,
    pub same_cpu_crypt: bool,
    pub submit_from_crypt_cpus: bool,
    /// `header=<path>[:<device>]`: a detached LUKS header.
    pub header: Option<HeaderSpec>,
    /// `tries=N`: how many passphrases to accept before giving up on this volume.
    /// `None` (absent, or `tries=0`) means never give up: sesame's policy, since giving
    /// up on a remote machine leaves it unreachable.
    pub tries: Option<u32>,
    /// `key-slot=` / `keyslot=`: try only this keyslot.
    pub key_slot: Option<u32>,
    pub keyfile_offset: Option<u64>,
    /// `keyfile-size=`; `None` (absent or 0) means the whole file.
    pub keyfile_size: Option<u64>,
    /// `initramfs` (Debian) or `x-initrd.attach` (systemd): open this volume in the
    /// initramfs even if the root does not need it.
    pub initramfs: bool,
    /// `noauto`: do not open it unless asked to.
    pub noauto: bool,
    /// `nofail`: failing to open it does not fail the boot.
    pub nofail: bool,
    /// `timeout=`: how long to wait for a passphrase. `Some(ZERO)` is "forever", as
    /// written (`timeout=0`); `None`: not given.
    pub timeout: Option<Duration>,
    /// `keyfile-timeout=`: how long to wait for the key file's device before asking for
    /// a passphrase instead.
    pub keyfile_timeout: Option<Duration>,
    /// `x-systemd.device-timeout=`: how long to wait for the encrypted device.
    pub device_timeout: Option<Duration>,
    /// Options that had no effect, in order: other tools' options, and the unsupported
    /// and unknown ones (which also got a diagnostic).
    pub unknown: Vec<String>,
}

/// A detached header, `header=<path>[:<device>]`. With `device`, `path` is relative to
/// the root of the file system on it; without, `path` is what
/// [`DeviceSpec::parse`] accepts: an absolute path (a file in the initramfs or a block
/// device) or `UUID=`… naming the block device that holds the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderSpec {
    pub path: String,
    #[serde(serialize_with = "ser_device_opt")]
    pub device: Option<DeviceSpec>,
}

/// Options sesame acts on, for typo hints.
const KNOWN: &[&str] = &[
    "discard",
    "allow-discards",
    "readonly",
    "read-only",
    "no-read-workqueue",
    "no-write-workqueue",
    "same-cpu-crypt",
    "submit-from-crypt-cpus",
    "header",
    "tries",
    "key-slot",
    "keyslot",
    "keyfile-offset",
    "keyfile-size",
    "initramfs",
    "x-initrd.attach",
    "noauto",
    "auto",
    "nofail",
    "fail",
    "timeout",
    "keyfile-timeout",
    "x-systemd.device-timeout",
    "luks",
];

/// Other tools' options that change nothing for sesame.
const FOREIGN: &[&str] = &[
    "_netdev",
    "noearly",
    "loud",
    "quiet",
    "keyfile-erase",
    "headless",
    "password-echo",
    "password-cache",
    "token-timeout",
    "try-empty-password",
    "link-volume-key",
    "check",
    "checkargs",
    "cipher",
    "hash",
    "size",
    "offset",
    "skip",
    "sector-size",
    "verify",
    "silent",
    "luks2",
    "fixate-volume-key",
];

/// Parses a comma-separated option list. Never fails as a whole: every option that
/// cannot be used gets a diagnostic (with `part` set to it) and the others apply.
/// Later options override earlier ones.
pub fn parse_options(s: &str) -> (VolumeOptions, Vec<SpecError>) {
    let mut opts = VolumeOptions::default();
    let mut errors = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if let Err(e) = apply_option(&mut opts, item) {
            opts.unknown.push(item.to_string());
            errors.push(SpecError {
                part: Some(item.to_string()),
                ..e
            });
        }
    }
    (opts, errors)
}

fn apply_option(o: &mut VolumeOptions, item: &str) -> Result<(), SpecError> {
    let (name, value) = match item.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (item, None),
    };
    let flag = |o: &mut VolumeOptions, set: fn(&mut VolumeOptions)| match value {
        None => {
            set(o);
            Ok(())
        }
        Some(_) => Err(SpecError::new(
            format!("option {} takes no value", show(name)),
            format!("write {name} alone"),
        )),
    };
    match name {
        "discard" | "allow-discards" => flag(o, |o| o.discard = true),
        "readonly" | "read-only" => flag(o, |o| o.readonly = true),
        "no-read-workqueue" => flag(o, |o| o.no_read_workqueue = true),
        "no-write-workqueue" => flag(o, |o| o.no_write_workqueue = true),
        "same-cpu-crypt" => flag(o, |o| o.same_cpu_crypt = true),
        "submit-from-crypt-cpus" => flag(o, |o| o.submit_from_crypt_cpus = true),
        "initramfs" | "x-initrd.attach" => flag(o, |o| o.initramfs = true),
        "noauto" => flag(o, |o| o.noauto = true),
        "auto" => flag(o, |o| o.noauto = false),
        "nofail" => flag(o, |o| o.nofail = true),
        "fail" => flag(o, |o| o.nofail = false),
        "luks" => flag(o, |_| {}),
        "header" => {
            let v = needs_value(
                name,
                value,
                "header=/path/to/header or header=/path:<device>",
            )?;
            let (path, device) = path_and_device(v, "header")?;
            o.header = Some(HeaderSpec { path, device });
            Ok(())
        }
        "tries" => {
            let n: u32 = number(name, value, "tries=3 (0 means never give up)")?;
            o.tries = (n > 0).then_some(n);
            Ok(())
        }
        "key-slot" | "keyslot" => {
            o.key_slot = Some(number(name, value, "key-slot=0")?);
            Ok(())
        }
        "keyfile-offset" => {
            o.keyfile_offset = Some(number(name, value, "keyfile-offset=<bytes>")?);
            Ok(())
        }
        "keyfile-size" => {
            let n: u64 = number(name, value, "keyfile-size=<bytes>")?;
            o.keyfile_size = (n > 0).then_some(n);
            Ok(())
        }
        "timeout" => {
            o.timeout = Some(span(name, value)?);
            Ok(())
        }
        "keyfile-timeout" => {
            o.keyfile_timeout = Some(span(name, value)?);
            Ok(())
        }
        "x-systemd.device-timeout" => {
            o.device_timeout = Some(span(name, value)?);
            Ok(())
        }
        _ => {
            if let Some(e) = unsupported(name) {
                return Err(e);
            }
            if FOREIGN.contains(&name) || name.starts_with("x-systemd.") {
                o.unknown.push(item.to_string());
                return Ok(());
            }
            let hint = match closest(name, KNOWN) {
                Some(k) => format!("did you mean {k}? See crypttab(5)"),
                None => "remove it; see crypttab(5) for the options".to_string(),
            };
            Err(SpecError::new("unknown option", hint))
        }
    }
}

fn needs_value<'a>(
    name: &str,
    value: Option<&'a str>,
    example: &str,
) -> Result<&'a str, SpecError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(SpecError::new(
            format!("option {name} needs a value"),
            format!("write {example}"),
        )),
    }
}

fn number<T: std::str::FromStr>(
    name: &str,
    value: Option<&str>,
    example: &str,
) -> Result<T, SpecError> {
    let v = needs_value(name, value, example)?;
    v.parse().map_err(|_| {
        SpecError::new(
            format!("{} is not a whole number", show(v)),
            format!("write {example}"),
        )
    })
}

fn span(name: &str, value: Option<&str>) -> Result<Duration, SpecError> {
    let v = needs_value(name, value, &format!("{name}=30s"))?;
    parse_timespan(v).map_err(|r| {
        SpecError::new(
            r,
            format!("write {name}=30s, {name}=2min or {name}=0 (forever)"),
        )
    })
}

/// The options sesame recognises and cannot honour, with what to do instead.
fn unsupported(name: &str) -> Option<SpecError> {
    let leave = "if the real system opens this volume, leave it to it (remove initramfs and \
                 x-initrd.attach); otherwise convert it to LUKS";
    let (reason, fix) = match name {
        "plain" => (
            "plain dm-crypt volumes are not supported by sesame (it opens LUKS only)",
            leave,
        ),
        "tcrypt" | "tcrypt-hidden" | "tcrypt-system" | "tcrypt-veracrypt" | "veracrypt"
        | "veracrypt-pim" => (
            "TrueCrypt and VeraCrypt volumes are not supported by sesame",
            leave,
        ),
        "bitlk" => ("BitLocker volumes are not supported by sesame", leave),
        "swap" | "tmp" => (
            "sesame does not make swap or tmp file systems",
            "leave this volume to the real system (remove initramfs and x-initrd.attach)",
        ),
        "keyscript" => (
            "keyscripts are not supported by sesame (it runs no scripts)",
            "use a key file, or type the passphrase at the prompt or over SSH",
        ),
        n if n.starts_with("tpm2-") || n.starts_with("fido2-") || n.starts_with("pkcs11-") => (
            "unlocking with a TPM2, FIDO2 or PKCS#11 token is not supported by sesame",
            "sesame asks for a passphrase instead: make sure the volume has a passphrase keyslot",
        ),
        _ => return None,
    };
    Some(SpecError::new(reason, fix))
}
