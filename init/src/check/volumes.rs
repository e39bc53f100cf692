//! The crypttab volumes the image will open exist on this host (`image::located`: found
//! by sesame's own prober the way the boot will look for them), are LUKS, and which
//! cipher each uses.

use std::path::Path;

use sesame_crypt::crypttab::parse_crypttab;

use super::{error, ok, warn, Finding};
use crate::config::Config;
use crate::host::Host;
use crate::image::located::{self, Found, Located};
use crate::image::root_volumes;

pub(super) fn check(host: &Host, path: Option<&Path>, config: &Config, out: &mut Vec<Finding>) {
    let Some(path) = path else {
        out.push(ok(
            "no crypttab: every LUKS device found at boot is offered, named luks-<UUID>".into(),
        ));
        for m in root_volumes::name_mismatches(host, &[]) {
            out.push(warn(m));
        }
        return;
    };
    let Some(text) = super::read_or_report(path, out) else {
        return;
    };
    let located = match located::locate(host, &text, &config.luks.volumes) {
        Ok(v) => v,
        Err(e) => {
            out.push(error(format!(
                "{e}; fix luks.volumes or {}",
                path.display()
            )));
            return;
        }
    };
    let (entries, problems) = parse_crypttab(&text);
    for p in problems {
        out.push(warn(format!("{}: {p}", path.display())));
    }
    for m in root_volumes::name_mismatches(host, &entries) {
        out.push(warn(m));
    }
    if located.is_empty() && !entries.is_empty() {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        out.push(warn(format!(
            "{} names {} but none is marked `initramfs` (or listed in luks.volumes): sesame \
             would offer every LUKS device as luks-<UUID>, while this system expects \
             /dev/mapper/{}; add `initramfs` to the options of the root's entry",
            path.display(),
            names.join(", "),
            names[0]
        )));
    }
    for Located {
        name,
        device,
        found,
    } in located
    {
        out.push(match found {
            Found::Missing => error(format!(
                "crypttab volume {name}: no device {device} on this host, so the boot would \
                 wait for it until rd.timeout; fix the entry in {} (`blkid` shows the UUIDs)",
                path.display()
            )),
            Found::Luks { described, cipher } => {
                let cipher = match cipher {
                    Some(c) if !c.aliases.is_empty() => {
                        format!(
                            ", cipher {} (the image carries {})",
                            c.spec,
                            c.aliases.join(", ")
                        )
                    }
                    Some(c) => format!(", cipher {}", c.spec),
                    None => String::new(),
                };
                ok(format!(
                    "crypttab volume {name}: {device} is {described}{cipher}"
                ))
            }
            Found::NotLuks { described } => warn(format!(
                "crypttab volume {name}: {device} is {described}, not a LUKS device; sesame \
                 opens LUKS only"
            )),
            Found::Several(names) => warn(format!(
                "crypttab volume {name}: {device} names several devices ({}): a cloned disk? \
                 the boot could pick either; give each a UUID of its own (cryptsetup luksUUID \
                 --uuid)",
                names.join(", ")
            )),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;

    /// A host whose only block device, vdb, holds an ext4 filesystem with `uuid`.
    fn host_with_ext4(uuid: &str) -> (tempfile::TempDir, Host) {
        crate::host::host_with_vdb(4, |node| {
            let mut mkfs = sesame_qemu::command("mkfs.ext4").unwrap_or_else(|e| panic!("{e:#}"));
            sesame_qemu::run(mkfs.args(["-q", "-F", "-U", uuid]).arg(node))
                .unwrap_or_else(|e| panic!("{e:#}"));
        })
    }

    fn run(host: &Host, tab: &str, config: &Config) -> Vec<Finding> {
        let p = host.path("/etc/crypttab");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, tab).unwrap();
        let mut out = Vec::new();
        check(host, Some(&p), config, &mut out);
        out
    }

    const UUID: &str = "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab";

    #[test]
    fn a_missing_uuid_is_an_error_a_present_one_is_found() {
        let (_d, host) = host_with_ext4(UUID);
        let out = run(
            &host,
            "root UUID=11111111-2222-3333-4444-555555555555 none luks,initramfs\n",
            &Config::default(),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].severity, Severity::Error);
        assert!(out[0].text.contains("no device UUID=11111111"), "{out:?}");

        // Present, but ext4 rather than LUKS (the unit test has no cryptsetup at hand).
        let out = run(
            &host,
            &format!("root UUID={UUID} none luks,initramfs\n"),
            &Config::default(),
        );
        assert_eq!(out[0].severity, Severity::Warning, "{out:?}");
        assert!(out[0].text.contains("vdb ext4"), "{out:?}");

        // A path is looked up under the root.
        let out = run(
            &host,
            "root /dev/vdb none luks,initramfs\n",
            &Config::default(),
        );
        assert!(out[0].text.contains("vdb ext4"), "{out:?}");
    }

    #[test]
    fn unmarked_entries_are_warned_about_and_names_from_the_config_checked() {
        let (_d, host) = host_with_ext4(UUID);
        let tab = "cryptroot UUID=11111111-2222-3333-4444-555555555555 none luks\n";
        let out = run(&host, tab, &Config::default());
        assert_eq!(out[0].severity, Severity::Warning, "{out:?}");
        assert!(out[0].text.contains("/dev/mapper/cryptroot"), "{out:?}");
        let mut config = Config::default();
        config.luks.volumes.push("cryptroot".into());
        let out = run(&host, tab, &config);
        assert_eq!(out[0].severity, Severity::Error, "{out:?}");
        config.luks.volumes = vec!["other".into()];
        let out = run(&host, tab, &config);
        assert!(out[0].text.contains("luks.volumes"), "{out:?}");
        let mut out = Vec::new();
        check(&host, None, &Config::default(), &mut out);
        assert_eq!(out[0].severity, Severity::Ok);
    }
}
