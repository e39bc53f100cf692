//! `DeviceIdentity`: what init knows about a block device (its node, LUKS and filesystem
//! UUIDs, label, partition UUID and name, other paths), and whether a [`DeviceSpec`]
//! written by the user names it. Pure.

use std::path::PathBuf;

use crate::device::DeviceSpec;
use crate::spec::uuid_matches;

/// A block device as init sees it. Init reports every block device it finds, including
/// the `/dev/mapper/*` devices the broker opens (so key files named by the `UUID=` or
/// `LABEL=` of the file system on a keys volume can be found).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The device node, e.g. `/dev/vda2`.
    pub path: PathBuf,
    /// The LUKS header UUID; `None` if the device does not hold LUKS.
    pub luks_uuid: Option<String>,
    /// The UUID of whatever the device holds (a file system, or the LUKS UUID again).
    pub fs_uuid: Option<String>,
    pub label: Option<String>,
    pub partuuid: Option<String>,
    pub partlabel: Option<String>,
    /// Other names of the same device: `/dev/mapper/<name>`, `/dev/disk/by-…` links.
    pub other_paths: Vec<String>,
}

impl DeviceIdentity {
    /// True when `spec` names this device. UUIDs compare without case and dashes; a
    /// UUID given on the command line may be only the beginning (`prefix_ok`), as dracut
    /// allows.
    pub fn matches(&self, spec: &DeviceSpec, prefix_ok: bool) -> bool {
        let uuid_eq = |given: &str, actual: &Option<String>| {
            actual.as_deref().is_some_and(|a| {
                if prefix_ok {
                    uuid_matches(given, a)
                } else {
                    bare_uuid(given) == bare_uuid(a)
                }
            })
        };
        match spec {
            DeviceSpec::Path(p) => self.has_path(p),
            DeviceSpec::Uuid(u) => uuid_eq(u, &self.luks_uuid) || uuid_eq(u, &self.fs_uuid),
            DeviceSpec::Label(l) => self.label.as_deref() == Some(l.as_str()),
            DeviceSpec::PartUuid(u) => self
                .partuuid
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(u)),
            DeviceSpec::PartLabel(l) => self.partlabel.as_deref() == Some(l.as_str()),
        }
    }

    /// True when `path` is the node or one of the other paths.
    pub fn has_path(&self, path: &str) -> bool {
        self.path.as_os_str() == path || self.other_paths.iter().any(|o| o == path)
    }

    /// True when the two describe the same device (a path in common).
    pub fn same_device(&self, other: &DeviceIdentity) -> bool {
        other.path.to_str().is_some_and(|p| self.has_path(p))
            || other.other_paths.iter().any(|p| self.has_path(p))
    }
}

fn bare_uuid(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";

    fn luks() -> DeviceIdentity {
        DeviceIdentity {
            path: "/dev/vda2".into(),
            luks_uuid: Some(U.into()),
            fs_uuid: Some(U.into()),
            partuuid: Some("1234ABCD-02".into()),
            partlabel: Some("root".into()),
            other_paths: vec!["/dev/disk/by-path/virtio-pci-0000:00:04.0-part2".into()],
            ..Default::default()
        }
    }

    #[test]
    fn specs_match() {
        let d = luks();
        let p = |s: &str| DeviceSpec::parse(s).unwrap();
        assert!(d.matches(&p("/dev/vda2"), false));
        assert!(d.matches(&p("/dev/disk/by-path/virtio-pci-0000:00:04.0-part2"), false));
        assert!(!d.matches(&p("/dev/vda"), false));
        assert!(d.matches(&p(&format!("UUID={}", U.to_uppercase())), false));
        assert!(!d.matches(&p("UUID=0b3c5a1e"), false));
        assert!(d.matches(&p("UUID=0b3c5a1e"), true));
        assert!(d.matches(&p("PARTUUID=1234abcd-02"), false));
        assert!(d.matches(&p("PARTLABEL=root"), false));
        assert!(!d.matches(&p("LABEL=root"), false));
        let fs = DeviceIdentity {
            path: "/dev/dm-0".into(),
            fs_uuid: Some("aaaaaaaa-0000".into()),
            label: Some("keys".into()),
            other_paths: vec!["/dev/mapper/keys".into()],
            ..Default::default()
        };
        assert!(fs.matches(&p("LABEL=keys"), false));
        assert!(fs.matches(&p("UUID=aaaaaaaa-0000"), false));
        assert!(fs.matches(&p("/dev/mapper/keys"), false));
        let synthetic = DeviceIdentity {
            path: "/dev/mapper/keys".into(),
            ..Default::default()
        };
        assert!(fs.same_device(&synthetic) && synthetic.same_device(&fs));
        assert!(!fs.same_device(&d));
    }
}
