//! What of the host's crypttab goes into the image: the entries marked `initramfs` or
//! `x-initrd.attach`, those the config names (`luks.volumes`) and those the host's root
//! needs (`image::root_volumes`), as the original lines; plus the keyfiles they (and
//! `luks.keyfiles`) need that live in the image itself.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use sesame_crypt::crypttab::{parse_crypttab, KeySource};

/// The image's crypttab text and the keyfiles to copy (absolute paths).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImageCrypttab {
    pub text: String,
    pub volumes: Vec<String>,
    pub keyfiles: BTreeSet<String>,
}

/// Selects the entries for the image (`root_names`: those the host's root needs).
/// Errors: a name from the config missing from the crypttab, or a line of a selected
/// entry that does not parse.
pub fn select(
    host_text: &str,
    config_names: &[String],
    root_names: &[String],
    extra_keyfiles: &[String],
) -> Result<ImageCrypttab> {
    let (entries, errors) = parse_crypttab(host_text);
    let lines: Vec<&str> = host_text.lines().collect();
    let mut out = ImageCrypttab {
        keyfiles: extra_keyfiles.iter().cloned().collect(),
        ..Default::default()
    };
    if let Some(missing) = config_names
        .iter()
        .find(|n| !entries.iter().any(|e| &e.name == *n))
    {
        let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!(
            "luks.volumes names `{missing}`, which is not in the crypttab{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        );
    }
    for e in entries {
        if !(e.options.initramfs || config_names.contains(&e.name) || root_names.contains(&e.name))
        {
            continue;
        }
        if let Some(line) = lines.get(e.line.saturating_sub(1)) {
            out.text.push_str(line.trim());
            out.text.push('\n');
        }
        if let KeySource::File { path, device: None } = &e.key {
            if path.starts_with('/') && !path.starts_with("/dev/") {
                out.keyfiles.insert(path.clone());
            }
        }
        out.volumes.push(e.name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAB: &str = "\
# host crypttab
root UUID=0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab none luks,discard,initramfs
keys UUID=11111111-2222-3333-4444-555555555555 none luks,x-initrd.attach
data UUID=66666666-7777-8888-9999-000000000000 /keys/data.key:UUID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee luks,initramfs
swap /dev/vdc /etc/keys/swap.key luks
home /dev/vdd /etc/keys/home.key luks
";

    #[test]
    fn marked_and_named_entries_with_their_keyfiles() {
        let t = select(TAB, &["home".into()], &[], &["/etc/keys/extra.key".into()]).unwrap();
        assert_eq!(t.volumes, vec!["root", "keys", "data", "home"]);
        assert!(t.text.starts_with("root UUID=0b3c"));
        assert!(!t.text.contains("swap"));
        let keys: Vec<&str> = t.keyfiles.iter().map(String::as_str).collect();
        // data's keyfile lives on the keys volume, not in the image.
        assert_eq!(keys, vec!["/etc/keys/extra.key", "/etc/keys/home.key"]);
    }

    #[test]
    fn a_named_volume_must_exist() {
        let err = select(TAB, &["nope".into()], &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nope`"), "{err}");
        assert_eq!(select("", &[], &[], &[]).unwrap(), ImageCrypttab::default());
        assert_eq!(
            select("garbage line\n", &[], &[], &[])
                .unwrap()
                .volumes
                .len(),
            0
        );
    }

    #[test]
    fn the_roots_entry_goes_in_without_the_initramfs_option() {
        let t = select(TAB, &[], &["swap".into(), "gone".into()], &[]).unwrap();
        assert_eq!(t.volumes, vec!["root", "keys", "data", "swap"]);
        assert!(t.text.contains("swap /dev/vdc /etc/keys/swap.key luks\n"));
        assert!(t.keyfiles.contains("/etc/keys/swap.key"));
    }
}
