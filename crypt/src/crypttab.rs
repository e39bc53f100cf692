//! crypttab(5), read as systemd-cryptsetup-generator reads it: one volume per line,
//! `<name> <device> [<key> [<options>]]`, fields separated by spaces or tabs, `#`
//! comment lines and blank lines skipped. Pure parsing; nothing is opened here.
//!
//! Decisions:
//! - There is no quoting, as in systemd (which reads the fields with `sscanf("%ms")`),
//!   but Debian's octal escapes (`\040` for a space) are decoded in every field, as
//!   Debian's crypttab(5) documents; any other backslash is kept as is.
//! - A line with fewer than two fields is reported and skipped; fields after the fourth
//!   are reported and ignored (systemd ignores them silently), the line still used.
//! - A malformed name or device skips the line. A malformed key field is reported and
//!   the volume asks for a passphrase instead; malformed options are reported one by
//!   one and the others apply.
//! - A name used twice: the later line is reported and skipped.
//! - The key field: empty, `-` or `none` mean "ask for a passphrase"; otherwise a path,
//!   optionally followed by `:<device>` holding it (systemd). The options field: `-`,
//!   `none` and `defaults` mean no options.

use serde::Serialize;

use crate::device::DeviceSpec;
use crate::spec::{
    check_volume_name, describe_device_error, parse_options, path_and_device, ser_device,
    ser_device_opt, SpecError, VolumeOptions,
};

#[cfg(test)]
mod tests;

/// One crypttab line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrypttabEntry {
    /// The device-mapper name: the volume appears as `/dev/mapper/<name>`.
    pub name: String,
    /// The encrypted device.
    #[serde(serialize_with = "ser_device")]
    pub device: DeviceSpec,
    pub key: KeySource,
    pub options: VolumeOptions,
    /// Where it was, 1-based.
    pub line: usize,
}

/// The third field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySource {
    /// Ask for a passphrase (`none`, `-`, or no field).
    None,
    /// A key file: with `device`, `path` is relative to the root of the file system on
    /// it; without, `path` is absolute in the initramfs (or `UUID=`… for a raw key on a
    /// block device).
    File {
        path: String,
        #[serde(serialize_with = "ser_device_opt")]
        device: Option<DeviceSpec>,
    },
}

/// Parses a whole crypttab. Every problem is reported with its line number; the lines
/// that can be used are returned in order.
pub fn parse_crypttab(text: &str) -> (Vec<CrypttabEntry>, Vec<SpecError>) {
    let mut entries: Vec<CrypttabEntry> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut diags = Vec::new();
        if let Some(entry) = parse_line(trimmed, line, &entries, &mut diags) {
            entries.push(entry);
        }
        errors.extend(diags.into_iter().map(|e| e.at_line(line)));
    }
    (entries, errors)
}

fn parse_line(
    text: &str,
    line: usize,
    seen: &[CrypttabEntry],
    diags: &mut Vec<SpecError>,
) -> Option<CrypttabEntry> {
    let fields: Vec<String> = text
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .map(unescape)
        .collect();
    if fields.len() < 2 {
        diags.push(SpecError::part(
            text,
            "a crypttab line needs at least a name and a device",
            "write <name> <device> [<key file>|none [<options>]], e.g. root UUID=… none luks",
        ));
        return None;
    }
    for extra in fields.iter().skip(4) {
        diags.push(SpecError::part(
            extra,
            "a crypttab line has at most four fields; this one is ignored",
            "separate options with commas only, no spaces: discard,initramfs",
        ));
    }
    let name = &fields[0];
    if let Err(reason) = check_volume_name(name) {
        diags.push(SpecError::part(
            name,
            reason,
            "the first field is the name for /dev/mapper/<name>",
        ));
        return None;
    }
    if let Some(prev) = seen.iter().find(|e| e.name == *name) {
        diags.push(SpecError::part(
            name,
            format!("this volume name is already used on line {}", prev.line),
            "give each volume its own name",
        ));
        return None;
    }
    let device = match DeviceSpec::parse(&fields[1]) {
        Ok(d) => d,
        Err(e) => {
            diags.push(SpecError::part(
                &fields[1],
                describe_device_error(&e),
                "the second field is the encrypted device",
            ));
            return None;
        }
    };
    let key = match fields.get(2).map(String::as_str) {
        None | Some("none" | "-") => KeySource::None,
        Some(k) => match path_and_device(k, "key file") {
            Ok((path, device)) => KeySource::File { path, device },
            Err(e) => {
                diags.push(SpecError {
                    part: Some(k.to_string()),
                    reason: format!("{}; the passphrase will be asked for instead", e.reason),
                    ..e
                });
                KeySource::None
            }
        },
    };
    let options = match fields.get(3).map(String::as_str) {
        None | Some("-" | "none" | "defaults") => VolumeOptions::default(),
        Some(o) => {
            let (opts, errs) = parse_options(o);
            diags.extend(errs);
            opts
        }
    };
    Some(CrypttabEntry {
        name: name.clone(),
        device,
        key,
        options,
        line,
    })
}

/// Decodes Debian's octal escapes (`\040`, at most `\377`); other backslashes stay.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && is_octal_escape(&b[i + 1..i + 4]) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_octal_escape(d: &[u8]) -> bool {
    d.len() == 3
        && (b'0'..=b'3').contains(&d[0])
        && d[1..].iter().all(|c| (b'0'..=b'7').contains(c))
}
