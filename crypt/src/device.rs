//! Device specifications as users write them: `/dev/vda2`, `UUID=…`, `LABEL=…`,
//! `PARTUUID=…`, `PARTLABEL=…` (in `root=`, crypttab, `rd.luks.key=…:<device>`).
//! Pure parsing; finding the device is the caller's business.

use std::fmt;

/// How a block device is named by the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    /// An absolute path such as `/dev/vda2` or `/dev/mapper/root`.
    Path(String),
    /// The filesystem (or LUKS) UUID, lower-cased.
    Uuid(String),
    /// The filesystem label, as given.
    Label(String),
    /// The partition's UUID (GPT unique GUID, or MBR `xxxxxxxx-NN`), lower-cased.
    PartUuid(String),
    /// The GPT partition name, as given.
    PartLabel(String),
}

/// Why a device specification was rejected; `Display` says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceSpecError {
    #[error(
        "empty device: give a path such as /dev/vda2, or UUID=, LABEL=, PARTUUID=, PARTLABEL="
    )]
    Empty,
    #[error("{0}= has no value: write {0}=<value>")]
    EmptyValue(&'static str),
    #[error("'{0}' is not a device: use an absolute path (/dev/…) or UUID=, LABEL=, PARTUUID=, PARTLABEL=")]
    NotADevice(String),
    #[error("'{0}' is not a valid UUID (expected hex digits and dashes, e.g. 0b3c…-…)")]
    BadUuid(String),
}

impl DeviceSpec {
    /// Parses `UUID=…`, `LABEL=…`, `PARTUUID=…`, `PARTLABEL=…` (tags case-insensitive,
    /// as util-linux accepts them), the `/dev/disk/by-*/…` paths that name the same
    /// things, or any other absolute path.
    pub fn parse(s: &str) -> Result<Self, DeviceSpecError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DeviceSpecError::Empty);
        }
        if let Some((tag, value)) = s.split_once('=') {
            let tag = tag.to_ascii_uppercase();
            let name: &'static str = match tag.as_str() {
                "UUID" => "UUID",
                "PARTUUID" => "PARTUUID",
                "LABEL" => "LABEL",
                "PARTLABEL" => "PARTLABEL",
                _ => return Err(DeviceSpecError::NotADevice(s.to_string())),
            };
            let value = unquote(value);
            if value.is_empty() {
                return Err(DeviceSpecError::EmptyValue(name));
            }
            return Ok(match name {
                "UUID" => DeviceSpec::Uuid(normalize_uuid(value)?),
                "PARTUUID" => DeviceSpec::PartUuid(normalize_uuid(value)?),
                "LABEL" => DeviceSpec::Label(value.to_string()),
                _ => DeviceSpec::PartLabel(value.to_string()),
            });
        }
        if !s.starts_with('/') {
            return Err(DeviceSpecError::NotADevice(s.to_string()));
        }
        for (prefix, tag) in [
            ("/dev/disk/by-uuid/", "UUID"),
            ("/dev/disk/by-label/", "LABEL"),
            ("/dev/disk/by-partuuid/", "PARTUUID"),
            ("/dev/disk/by-partlabel/", "PARTLABEL"),
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                if !rest.is_empty() && !rest.contains('/') {
                    return Self::parse(&format!("{tag}={}", unescape_udev(rest)));
                }
            }
        }
        Ok(DeviceSpec::Path(s.to_string()))
    }

    /// True when this names a device-mapper node (`/dev/mapper/<name>` or `/dev/dm-N`).
    pub fn mapper_name(&self) -> Option<&str> {
        match self {
            DeviceSpec::Path(p) => p.strip_prefix("/dev/mapper/").filter(|n| !n.is_empty()),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Path(p) => write!(f, "{p}"),
            DeviceSpec::Uuid(u) => write!(f, "UUID={u}"),
            DeviceSpec::Label(l) => write!(f, "LABEL={l}"),
            DeviceSpec::PartUuid(u) => write!(f, "PARTUUID={u}"),
            DeviceSpec::PartLabel(l) => write!(f, "PARTLABEL={l}"),
        }
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// udev escapes unsafe characters in by-label links as `\xNN`.
fn unescape_udev(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1] == b'x' {
            // On bytes: the two after `\x` may be the start of a multi-byte character.
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 2]), hex(bytes[i + 3])) {
                out.push((hi * 16 + lo) as u8);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lower-cases a UUID and checks it holds only hex digits and dashes. Short forms are
/// accepted because filesystems such as vfat have 8-digit "UUIDs" (`ABCD-1234`) and MBR
/// partitions `1234abcd-01`.
pub fn normalize_uuid(v: &str) -> Result<String, DeviceSpecError> {
    let u = v.trim().to_ascii_lowercase();
    let hex = u.chars().filter(|c| c.is_ascii_hexdigit()).count();
    if hex < 8 || !u.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || u.starts_with('-') {
        return Err(DeviceSpecError::BadUuid(v.to_string()));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_paths() {
        assert_eq!(
            DeviceSpec::parse("UUID=0B3C5A1E-9F1D-4C2B-8A7E-1234567890AB").unwrap(),
            DeviceSpec::Uuid("0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab".into())
        );
        assert_eq!(
            DeviceSpec::parse("uuid=abcd-1234").unwrap(),
            DeviceSpec::Uuid("abcd-1234".into())
        );
        assert_eq!(
            DeviceSpec::parse("LABEL=root fs").unwrap(),
            DeviceSpec::Label("root fs".into())
        );
        assert_eq!(
            DeviceSpec::parse("LABEL=\"my root\"").unwrap(),
            DeviceSpec::Label("my root".into())
        );
        assert_eq!(
            DeviceSpec::parse("PARTUUID=1234ABCD-01").unwrap(),
            DeviceSpec::PartUuid("1234abcd-01".into())
        );
        assert_eq!(
            DeviceSpec::parse("PARTLABEL=EFI").unwrap(),
            DeviceSpec::PartLabel("EFI".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/vda2").unwrap(),
            DeviceSpec::Path("/dev/vda2".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/disk/by-uuid/ABCDEF12-0000").unwrap(),
            DeviceSpec::Uuid("abcdef12-0000".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/disk/by-label/my\\x20root").unwrap(),
            DeviceSpec::Label("my root".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/mapper/root").unwrap().mapper_name(),
            Some("root")
        );
        assert_eq!(DeviceSpec::parse("/dev/vda").unwrap().mapper_name(), None);
    }

    /// Found by `cargo xtask fuzz --seconds 300` (crypttab): `\x` followed by a
    /// multi-byte character sliced a string inside that character and panicked.
    #[test]
    fn udev_escapes_next_to_multibyte_characters() {
        assert_eq!(
            DeviceSpec::parse("/dev/disk/by-label/\\\\xl\u{fffd}").unwrap(),
            DeviceSpec::Label("\\\\xl\u{fffd}".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/disk/by-label/a\\x1é").unwrap(),
            DeviceSpec::Label("a\\x1é".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/disk/by-label/\\x4a\\x").unwrap(),
            DeviceSpec::Label("J\\x".into())
        );
    }

    #[test]
    fn malformed() {
        assert_eq!(DeviceSpec::parse(""), Err(DeviceSpecError::Empty));
        assert_eq!(DeviceSpec::parse("  "), Err(DeviceSpecError::Empty));
        assert_eq!(
            DeviceSpec::parse("UUID="),
            Err(DeviceSpecError::EmptyValue("UUID"))
        );
        assert_eq!(
            DeviceSpec::parse("LABEL=\"\""),
            Err(DeviceSpecError::EmptyValue("LABEL"))
        );
        assert!(matches!(
            DeviceSpec::parse("UUID=xyz"),
            Err(DeviceSpecError::BadUuid(_))
        ));
        assert!(matches!(
            DeviceSpec::parse("UUID=-1234abcd"),
            Err(DeviceSpecError::BadUuid(_))
        ));
        assert!(matches!(
            DeviceSpec::parse("vda2"),
            Err(DeviceSpecError::NotADevice(_))
        ));
        assert!(matches!(
            DeviceSpec::parse("FOO=bar"),
            Err(DeviceSpecError::NotADevice(_))
        ));
        // Display round-trips the canonical form.
        let s = DeviceSpec::parse("uuid=ABCDEF12-3456").unwrap();
        assert_eq!(s.to_string(), "UUID=abcdef12-3456");
        // Errors say what to write.
        assert!(DeviceSpecError::Empty.to_string().contains("UUID="));
    }
}
