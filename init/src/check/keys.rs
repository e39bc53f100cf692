//! Keys and who may read them: authorized_keys parses (options included, judged as the
//! SSH server judges them) and holds a key; the host key and `/boot` are not readable by
//! every user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{error, ok, warn, Finding};
use crate::host::{Host, AUTHORIZED_KEYS, IMAGE_PREFIX, SESAME_DIR};

pub(super) fn check_authorized_keys(path: Option<&Path>, out: &mut Vec<Finding>) {
    let Some(path) = path else {
        out.push(error(format!(
            "no authorized_keys ({}): nobody could unlock over SSH; put your public key there",
            AUTHORIZED_KEYS.join(" or ")
        )));
        return;
    };
    let Some(text) = super::read_or_report(path, out) else {
        return;
    };
    let (keys, errors) = sesame_remote::authorized_keys::parse(&text);
    for e in errors {
        out.push(error(format!(
            "{}: {e}; fix or remove the line (the image would not be built with it)",
            path.display()
        )));
    }
    let mut usable = 0;
    for k in &keys {
        match sesame_remote::options::parse(&k.options) {
            Ok(_) => usable += 1,
            Err(e) => out.push(error(format!(
                "{}: line {}: {e}; the SSH server would refuse this key — fix its options",
                path.display(),
                k.line
            ))),
        }
    }
    if keys.is_empty() {
        out.push(error(format!(
            "{} holds no public key; add yours (one `ssh-ed25519 AAAA… you@laptop` line)",
            path.display()
        )));
    } else if usable > 0 {
        out.push(ok(format!("{}: {usable} key(s)", path.display())));
    }
}

pub(super) fn check_host_key(host: &Host, explicit: Option<&Path>, out: &mut Vec<Finding>) {
    let candidates = [
        host.path(&format!("{SESAME_DIR}/ssh_host_ed25519_key")),
        host.path("/etc/ssh/ssh_host_ed25519_key"),
    ];
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| candidates.iter().find(|p| p.exists()).cloned());
    let Some(path) = path else {
        out.push(ok(format!(
            "no host key yet: the first build generates one into {SESAME_DIR} and keeps it"
        )));
        return;
    };
    match sesame_remote::hostkey::HostKey::read(&path) {
        Err(e) => out.push(error(format!("{e}"))),
        Ok(k) => out.push(ok(format!(
            "host key {} ({})",
            path.display(),
            k.fingerprint()
        ))),
    }
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.permissions().mode() & 0o044 != 0 {
            out.push(warn(format!(
                "{} is readable by other users, who could then impersonate this server's \
                 initramfs; chmod 600 it",
                path.display()
            )));
        }
    }
}

/// `/boot` readable by everyone, and sesame images anyone can read.
pub(super) fn check_boot_dir(host: &Host, out: &mut Vec<Finding>) {
    let boot = host.path("/boot");
    let Ok(meta) = std::fs::metadata(&boot) else {
        return;
    };
    if meta.permissions().mode() & 0o005 != 0 {
        out.push(warn(format!(
            "{} is readable by every user: sesame's images are written mode 0600 since they \
             hold the SSH host key, but a copy another tool makes there would not be; \
             `chmod 700 {}` keeps every image private",
            boot.display(),
            boot.display()
        )));
    }
    let Ok(entries) = std::fs::read_dir(&boot) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(IMAGE_PREFIX) {
            continue;
        }
        if let Ok(m) = e.metadata() {
            if m.permissions().mode() & 0o077 != 0 {
                out.push(warn(format!(
                    "{} holds the SSH host key but others can read it; chmod 600 it",
                    e.path().display()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;

    fn key() -> String {
        let k = sesame_remote::hostkey::HostKey::generate().unwrap();
        format!("{} you@laptop", k.public_openssh())
    }

    fn findings(text: &str) -> Vec<Finding> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ak");
        std::fs::write(&p, text).unwrap();
        let mut out = Vec::new();
        check_authorized_keys(Some(&p), &mut out);
        out
    }

    #[test]
    fn authorized_keys_findings() {
        let out = findings("# nothing\n");
        assert_eq!(out[0].severity, Severity::Error);
        assert!(out[0].text.contains("holds no public key"), "{out:?}");
        let mut out = Vec::new();
        check_authorized_keys(None, &mut out);
        assert!(out[0].text.contains("put your public key"));
        let out = findings(&format!("{}\n", key()));
        assert_eq!(out, vec![ok(out[0].text.clone())]);
        assert!(out[0].text.ends_with("1 key(s)"), "{out:?}");
    }

    #[test]
    fn a_bad_line_or_option_is_reported_with_the_servers_reason() {
        let out = findings(&format!("not a key at all\n{}\n", key()));
        assert_eq!(out[0].severity, Severity::Error, "{out:?}");
        assert!(out[0].text.contains("line 1"), "{out:?}");
        let k = key();
        let out = findings(&format!("from=\"10.0.0.0/33\" {k}\nbogus-option {k}\n"));
        let errors: Vec<&Finding> = out
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 2, "{out:?}");
        assert!(errors[0].text.contains("line 1: from="), "{out:?}");
        assert!(
            errors[1]
                .text
                .contains("line 2: unknown option `bogus-option`"),
            "{out:?}"
        );
        assert!(errors[1].text.contains("would refuse this key"), "{out:?}");
    }

    #[test]
    fn readable_host_key_boot_and_images_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let keyfile = dir.path().join("etc/sesame/ssh_host_ed25519_key");
        std::fs::create_dir_all(keyfile.parent().unwrap()).unwrap();
        let key = sesame_remote::hostkey::HostKey::generate().unwrap();
        std::fs::write(&keyfile, key.private_openssh().unwrap()).unwrap();
        let chmod = |p: &Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        chmod(&keyfile, 0o600);
        let mut out = Vec::new();
        check_host_key(&host, None, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].severity, Severity::Ok);
        chmod(&keyfile, 0o644);
        let mut out = Vec::new();
        check_host_key(&host, None, &mut out);
        assert_eq!(out[1].severity, Severity::Warning, "{out:?}");
        assert!(out[1].text.contains("chmod 600"), "{out:?}");

        let boot = dir.path().join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        chmod(&boot, 0o700);
        let image = boot.join("sesame-initrd.img-6.1");
        std::fs::write(&image, b"x").unwrap();
        chmod(&image, 0o600);
        let mut out = Vec::new();
        check_boot_dir(&host, &mut out);
        assert!(out.is_empty(), "{out:?}");
        chmod(&boot, 0o755);
        chmod(&image, 0o644);
        let mut out = Vec::new();
        check_boot_dir(&host, &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].text.contains("chmod 700"), "{out:?}");
        assert!(out[1].text.contains("sesame-initrd.img-6.1"), "{out:?}");
    }
}
