//! Names and references shared by the `rd.luks.*` and crypttab parsers: device-mapper
//! volume names, LUKS UUIDs as users write them (`luks-…`, `UUID=…`), and the
//! `<path>[:<device>]` form of key files and detached headers.

use serde::Serializer;

use crate::device::{normalize_uuid, DeviceSpec};
use crate::spec::{describe_device_error, show, SpecError};

/// Checks a device-mapper name as the kernel's `dm-ioctl` does: not empty, shorter
/// than 128 bytes, no `/`, not `.`, `..` or `control`; sesame also refuses whitespace
/// and control characters, which no tool handles well in `/dev/mapper`. Returns the
/// reason.
pub fn check_volume_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the volume name is empty".into());
    }
    if name.len() >= 128 {
        return Err(format!(
            "the volume name is {} bytes long; device-mapper allows 127",
            name.len()
        ));
    }
    if matches!(name, "." | ".." | "control") {
        return Err(format!("`{name}` cannot be a device-mapper name"));
    }
    if name.contains('/') {
        return Err(format!("volume name {} contains '/'", show(name)));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "volume name {} contains a space or a control character",
            show(name)
        ));
    }
    Ok(())
}

/// A LUKS UUID as written after `rd.luks.uuid=` and friends: `luks-` and `UUID=`
/// prefixes (and dracut's `keysource:`) are dropped, the rest lower-cased and checked.
pub fn luks_uuid(value: &str) -> Result<String, SpecError> {
    let mut v = value.trim();
    for prefix in ["keysource:", "luks-", "uuid="] {
        if v.get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        {
            v = &v[prefix.len()..];
        }
    }
    normalize_uuid(v).map_err(|_| {
        SpecError::new(
            format!("{} is not a LUKS UUID", show(value)),
            "give the UUID that `cryptsetup luksUUID <device>` prints (at least 8 hex digits)",
        )
    })
}

/// True when a LUKS UUID given on the command line (possibly only its beginning, as
/// dracut allows) names the volume whose full UUID is `actual`.
pub fn uuid_matches(given: &str, actual: &str) -> bool {
    let strip = |s: &str| {
        s.chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let (g, a) = (strip(given), strip(actual));
    !g.is_empty() && a.starts_with(&g)
}

/// True if `s` starts like a device: an absolute path or a `TAG=` that
/// [`DeviceSpec::parse`] knows.
fn starts_like_device(s: &str) -> bool {
    s.starts_with('/')
        || ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="]
            .iter()
            .any(|t| s.get(..t.len()).is_some_and(|h| h.eq_ignore_ascii_case(t)))
}

/// Splits `<path>:<device>` at the first `:` that is followed by something that starts
/// like a device, so that colons inside a path (`/keys/a:b`) or inside a device name
/// (`/dev/disk/by-path/pci-0000:00:1f.2`) stay where they are.
pub(crate) fn split_device_suffix(s: &str) -> (&str, Option<&str>) {
    for (i, _) in s.match_indices(':') {
        let rest = &s[i + 1..];
        if starts_like_device(rest) {
            return (&s[..i], Some(rest));
        }
    }
    (s, None)
}

/// Parses `<path>[:<device>]` (a key file, a detached header). With a device, `path`
/// is relative to the root of the file system on it; without, `path` must be something
/// [`DeviceSpec::parse`] accepts (an absolute path, or `UUID=`… naming a block device).
pub(crate) fn path_and_device(
    value: &str,
    what: &str,
) -> Result<(String, Option<DeviceSpec>), SpecError> {
    let (path, device) = split_device_suffix(value);
    if path.is_empty() {
        return Err(SpecError::new(
            format!("the {what} path is empty"),
            format!("write the {what} as /path or /path:<device>"),
        ));
    }
    let device = match device {
        Some(d) => Some(DeviceSpec::parse(d).map_err(|e| {
            SpecError::new(
                format!(
                    "the device after the {what} path: {}",
                    describe_device_error(&e)
                ),
                "fix the device name",
            )
        })?),
        None => {
            DeviceSpec::parse(path).map_err(|_| {
                SpecError::new(
                    format!("{what} {} is not an absolute path", show(path)),
                    format!(
                        "write /{}, or add the device that holds it: {path}:UUID=<uuid>",
                        path.trim_start_matches("./")
                    ),
                )
            })?;
            None
        }
    };
    Ok((path.to_string(), device))
}

pub(crate) fn ser_device_opt<S: Serializer>(
    d: &Option<DeviceSpec>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.to_string()),
        None => s.serialize_none(),
    }
}

pub(crate) fn ser_device<S: Serializer>(d: &DeviceSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names() {
        assert!(check_volume_name("root").is_ok());
        assert!(check_volume_name("luks-0b3c5a1e-9f1d").is_ok());
        assert!(check_volume_name(&"a".repeat(127)).is_ok());
        for bad in ["", ".", "..", "control", "a/b", "a b", "a\tb", "a\u{1}"] {
            assert!(check_volume_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_volume_name(&"a".repeat(128))
            .unwrap_err()
            .contains("127"));
    }

    #[test]
    fn multibyte_input_does_not_panic() {
        assert!(luks_uuid("éé").is_err());
        assert_eq!(split_device_suffix("/k:éé"), ("/k:éé", None));
        assert_eq!(split_device_suffix("/k:UUIDé"), ("/k:UUIDé", None));
    }

    #[test]
    fn uuids() {
        let u = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";
        assert_eq!(luks_uuid(u).unwrap(), u);
        assert_eq!(luks_uuid(&format!("luks-{u}")).unwrap(), u);
        assert_eq!(luks_uuid(&format!("LUKS-{}", u.to_uppercase())).unwrap(), u);
        assert_eq!(luks_uuid(&format!("UUID={u}")).unwrap(), u);
        assert_eq!(luks_uuid(&format!("keysource:{u}")).unwrap(), u);
        assert_eq!(luks_uuid("0b3c5a1e").unwrap(), "0b3c5a1e");
        for bad in ["", "luks-", "xyz", "0b3c", "/dev/sda", "0b3c5a1e 9f1d"] {
            assert!(luks_uuid(bad).is_err(), "{bad:?}");
        }
        assert!(uuid_matches("0b3c5a1e", u));
        assert!(uuid_matches("0B3C5A1E9F1D", u));
        assert!(uuid_matches(u, u));
        assert!(!uuid_matches("0b3c5a1f", u));
        assert!(!uuid_matches("", u));
    }

    #[test]
    fn device_suffixes() {
        assert_eq!(split_device_suffix("/key"), ("/key", None));
        assert_eq!(
            split_device_suffix("/key:UUID=ab"),
            ("/key", Some("UUID=ab"))
        );
        assert_eq!(
            split_device_suffix("/key:label=usb"),
            ("/key", Some("label=usb"))
        );
        assert_eq!(
            split_device_suffix("/k:/dev/sdb1"),
            ("/k", Some("/dev/sdb1"))
        );
        assert_eq!(
            split_device_suffix("/a:b.key:LABEL=x"),
            ("/a:b.key", Some("LABEL=x"))
        );
        assert_eq!(
            split_device_suffix("/k:/dev/disk/by-path/pci-0000:00:1f.2-ata-1"),
            ("/k", Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1"))
        );
        assert_eq!(
            split_device_suffix("/dev/disk/by-path/pci-0000:00:1f.2-ata-1"),
            ("/dev/disk/by-path/pci-0000:00:1f.2-ata-1", None)
        );
    }

    #[test]
    fn paths_and_devices() {
        assert_eq!(
            path_and_device("/etc/k", "key file").unwrap(),
            ("/etc/k".into(), None)
        );
        let (p, d) = path_and_device("keys/k:LABEL=usb", "key file").unwrap();
        assert_eq!(
            (p.as_str(), d),
            ("keys/k", Some(DeviceSpec::Label("usb".into())))
        );
        assert!(path_and_device("", "key file").is_err());
        assert!(path_and_device(":UUID=0b3c5a1e", "key file").is_err());
        assert!(path_and_device("relative", "key file")
            .unwrap_err()
            .fix
            .contains("/relative"));
        assert!(path_and_device("/k:UUID=", "key file").is_err());
        assert!(path_and_device("/k:UUID=zz", "key file").is_err());
        // A block device named by UUID holds the header itself.
        assert!(path_and_device("UUID=0b3c5a1e-1111", "header").is_ok());
    }
}
