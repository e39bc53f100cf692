//! `root=` and `init=`: what sesame mounts and runs. `root=` takes what dracut and
//! systemd take for a local block device (`/dev/…`, `UUID=`, `LABEL=`, `PARTUUID=`,
//! `PARTLABEL=`, `/dev/mapper/…`, dracut's `block:` prefix). The forms the kernel or
//! other initramfs tools understand but sesame does not (network roots, device numbers,
//! `PARTNROFF`, ZFS, `gpt-auto`, `tmpfs`, bare device names) are named in the diagnostic.

use sesame_crypt::device::DeviceSpec;
use sesame_crypt::spec::describe_device_error;

use super::sesame::Problem;

const EXAMPLE: &str =
    "name the root file system, e.g. root=UUID=<uuid> or root=/dev/mapper/<volume>";

/// Parses the value of `root=`.
pub(crate) fn parse_root(value: Option<&str>) -> Result<DeviceSpec, Problem> {
    let v = match value {
        None => return Err(("root needs a value".into(), EXAMPLE.into())),
        Some(v) if v.trim().is_empty() => return Err(("root= is empty".into(), EXAMPLE.into())),
        Some(v) => v,
    };
    let v = v.strip_prefix("block:").unwrap_or(v);
    if let Some(reason) = foreign_root(v) {
        return Err((reason, EXAMPLE.into()));
    }
    if v.contains("/PARTNROFF=") {
        return Err((
            "PARTNROFF= (a partition counted from another) is understood by the kernel only".into(),
            "name the partition itself: root=PARTUUID=<its uuid>".into(),
        ));
    }
    DeviceSpec::parse(v).map_err(|e| {
        let fix = if !v.contains('=') && !v.starts_with('/') {
            format!("write root=/dev/{v}, or better root=UUID=<uuid>")
        } else {
            EXAMPLE.to_string()
        };
        (describe_device_error(&e), fix)
    })
}

/// The root forms of the kernel and of other initramfs tools that sesame does not do.
fn foreign_root(v: &str) -> Option<String> {
    let lower = v.to_ascii_lowercase();
    let network = [
        "/dev/nfs", "nfs:", "nfs4:", "dhcp", "dhcp6", "iscsi:", "nbd:", "cifs:", "cifs://",
    ];
    if network
        .iter()
        .any(|p| lower == *p || (p.ends_with(':') && lower.starts_with(p)))
        || lower.starts_with("cifs://")
        || looks_like_nfs_server_path(v)
    {
        return Some(format!(
            "network root file systems (root={v}) are not supported by sesame"
        ));
    }
    if lower.starts_with("zfs=") || lower.starts_with("zfs:") {
        return Some("ZFS root pools are not supported by sesame".into());
    }
    if lower.starts_with("live:") {
        return Some("live images (root=live:…) are not supported by sesame".into());
    }
    if matches!(lower.as_str(), "gpt-auto" | "tmpfs" | "fstab") {
        return Some(format!(
            "root={v} (a systemd mode) is not supported by sesame"
        ));
    }
    if is_device_number(v) {
        return Some(format!(
            "root={v} is a device number, which only the kernel resolves; numbers also change between boots"
        ));
    }
    None
}

/// dracut's `root=<server-ip>:<path>`.
fn looks_like_nfs_server_path(v: &str) -> bool {
    match v.split_once(":/") {
        Some((server, _)) => {
            server.starts_with('[')
                || (!server.is_empty() && server.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        }
        None => false,
    }
}

/// The kernel's `root=0801` (hex) and `root=8:1` (major:minor).
fn is_device_number(v: &str) -> bool {
    let hex = !v.is_empty()
        && v.len() <= 8
        && v.bytes().all(|b| b.is_ascii_hexdigit())
        && v.bytes().any(|b| b.is_ascii_digit());
    let pair = v.split_once(':').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    hex || pair
}

/// Checks the value of `init=`: an absolute path, without spaces.
pub(crate) fn parse_init(value: Option<&str>) -> Result<String, Problem> {
    let v = match value {
        Some(v) if !v.is_empty() => v,
        _ => {
            return Err((
                "init= needs the path of the real system's init".into(),
                "write init=/sbin/init".into(),
            ))
        }
    };
    if !v.starts_with('/') {
        return Err((
            format!(
                "`{}` is not an absolute path",
                super::diagnostic::shorten(v, 64)
            ),
            format!(
                "write init=/{}",
                super::diagnostic::shorten(v.trim_start_matches("./"), 64)
            ),
        ));
    }
    if v.chars().any(char::is_whitespace) {
        return Err((
            "init= is a path, not a command line".into(),
            "give arguments for init after `--` at the end of the command line".into(),
        ));
    }
    Ok(v.to_string())
}
