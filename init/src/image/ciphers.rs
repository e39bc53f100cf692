//! Ciphers beyond AES among the volumes an image opens: the builder reads the LUKS header
//! of each crypttab volume it finds on the build host and carries the kernel modules of
//! its cipher (as cryptsetup-initramfs does), so a serpent or camellia root opens without
//! a `modules.include` line. Volumes not on this host are left to `sesame check`.

use crate::host::Host;
use crate::image::located::{self, Found};

/// A volume whose cipher needs modules the default set lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipherNeed {
    /// The crypttab name (`/dev/mapper/<volume>`).
    pub volume: String,
    /// `cipher-mode` as libcryptsetup reports it: `camellia-cbc-essiv:sha256`.
    pub cipher: String,
    /// The `crypto-*` aliases the image adds for it.
    pub aliases: Vec<String>,
}

/// The needs of every crypttab volume the image opens (`config_volumes`: the config's
/// `luks.volumes`) that is on this host and whose cipher is not AES. A crypttab the
/// image cannot take needs nothing here: the build and `sesame check` report it.
pub fn needs(host: &Host, crypttab_text: &str, config_volumes: &[String]) -> Vec<CipherNeed> {
    let volumes = located::locate(host, crypttab_text, config_volumes).unwrap_or_default();
    volumes
        .into_iter()
        .filter_map(|v| match v.found {
            Found::Luks {
                cipher: Some(c), ..
            } if !c.aliases.is_empty() => Some(CipherNeed {
                volume: v.name,
                cipher: c.spec,
                aliases: c.aliases,
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host whose only block device, vdb, is a LUKS2 volume made by the host's
    /// cryptsetup with `cipher`.
    fn host_with_luks(cipher: &str, key_bits: u32) -> (tempfile::TempDir, Host) {
        crate::host::host_with_vdb(20, |node| {
            let key = node.with_file_name("key");
            std::fs::write(&key, "not a secret").unwrap();
            let status = std::process::Command::new("cryptsetup")
                .args(["luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2"])
                .args(["--pbkdf-force-iterations", "1000", "--cipher", cipher])
                .args(["--key-size", &key_bits.to_string(), "--key-file"])
                .arg(&key)
                .arg(node)
                .status()
                .expect("cryptsetup (apt-get install -y cryptsetup-bin)");
            assert!(status.success());
        })
    }

    const TAB: &str = "root /dev/vdb none luks,initramfs\n";

    #[test]
    fn a_camellia_volume_on_this_host_needs_its_module() {
        let (_d, host) = host_with_luks("camellia-cbc-essiv:sha256", 256);
        assert_eq!(
            needs(&host, TAB, &[]),
            [CipherNeed {
                volume: "root".into(),
                cipher: "camellia-cbc-essiv:sha256".into(),
                aliases: vec!["crypto-camellia".into()],
            }]
        );
        // Only the volumes the image opens count.
        assert!(needs(&host, "root /dev/vdb none luks\n", &[]).is_empty());
        assert_eq!(
            needs(&host, "root /dev/vdb none luks\n", &["root".into()]).len(),
            1
        );
        // A volume that is not on this host is left to `sesame check`.
        assert!(needs(&host, "root /dev/vdc none luks,initramfs\n", &[]).is_empty());
    }

    #[test]
    fn an_aes_volume_needs_nothing_more() {
        let (_d, host) = host_with_luks("aes-xts-plain64", 512);
        assert!(needs(&host, TAB, &[]).is_empty());
        let cipher = located::cipher_of(&host.path("/dev/vdb")).unwrap();
        assert_eq!(cipher.spec, "aes-xts-plain64");
        assert!(cipher.aliases.is_empty());
        assert_eq!(located::cipher_of(&host.path("/dev/nothing")), None);
    }
}
