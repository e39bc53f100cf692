//! Every config key with its default, an example and what it does — one list that writes
//! the commented `/etc/sesame/config.toml` `sesame install` leaves for the user, and that
//! the tests hold against the `Config` struct and the manual.

/// One key of `/etc/sesame/config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// `section.key`.
    pub key: &'static str,
    /// The default as a TOML value, or `None` when unset means "not given".
    pub default: Option<&'static str>,
    /// A TOML value worth showing.
    pub example: &'static str,
    /// What it does, one sentence or two.
    pub doc: &'static str,
}

const fn k(
    key: &'static str,
    default: Option<&'static str>,
    example: &'static str,
    doc: &'static str,
) -> KeyDoc {
    KeyDoc {
        key,
        default,
        example,
        doc,
    }
}

/// Every key, in the file's order.
pub const CONFIG_KEYS: &[KeyDoc] = &[
    k("boot.root", None, "\"UUID=0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab\"",
      "The root device when the kernel command line has no root= (/dev/…, UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/mapper/…)."),
    k("boot.rootfstype", None, "\"ext4\"",
      "Like rootfstype=; unset, the type is read from the device."),
    k("boot.rootflags", None, "\"noatime\"",
      "Like rootflags=: mount options for the root."),
    k("boot.read_only", Some("true"), "false",
      "Like ro (true) / rw (false): mount the root read-only, as the kernel does; the real system remounts it."),
    k("boot.init", Some("\"/sbin/init\""), "\"/lib/systemd/systemd\"",
      "Like init=: the real system's init (unset: /sbin/init, /etc/init, /bin/init, the first found)."),
    k("boot.timeout", Some("90"), "300",
      "Like rd.timeout=: seconds to wait for the root's devices; 0 waits forever. Passphrases are waited for without limit."),
    k("boot.break", Some("false"), "true",
      "Like rd.break: stop before switch_root until `continue` (console or SSH)."),
    k("modules.include", Some("[]"), "[\"mlx5_core\"]",
      "Extra modules (names or aliases) for the image besides the default set; they load when their hardware appears."),
    k("modules.load", Some("[]"), "[\"dm_crypt\"]",
      "Modules loaded at every boot whatever the hardware (they are included too)."),
    k("modules.exclude", Some("[]"), "[\"btrfs\"]",
      "Modules of the default set to leave out of the image."),
    k("ssh.enabled", Some("true"), "false",
      "Serve SSH at all; like rd.sesame.ssh=."),
    k("ssh.port", Some("22"), "2222",
      "The SSH port; rd.sesame.ssh.port= wins."),
    k("network.keep", Some("false"), "true",
      "Leave addresses and routes up for the real system after switch_root; like rd.sesame.net.keep=."),
    k("luks.volumes", Some("[]"), "[\"data\"]",
      "Names of /etc/crypttab entries to open in the initramfs even without the `initramfs` / `x-initrd.attach` option."),
    k("luks.keyfiles", Some("[]"), "[\"/etc/keys/data.key\"]",
      "Keyfiles to copy into the image (absolute paths; same path in the image, mode 0400), for rd.luks.key= and crypttab entries."),
    k("luks.keyring", Some("false"), "true",
      "Hand the passphrase that worked to the kernel keyring for the real system's systemd-cryptsetup; like rd.sesame.keyring=."),
];

/// The commented config `sesame install` writes when there is none: every key commented
/// out with its default (or an example, for keys without one). It parses to the defaults.
pub fn template() -> String {
    let mut out = String::from(
        "# /etc/sesame/config.toml — sesame's settings, baked into the image by `sesame build`\n\
         # and by the kernel hooks (so rebuild after editing: `sesame install` does).\n\
         # Every key is optional and shown commented out with its default; uncomment to change.\n\
         # The kernel command line wins over this file. Unknown keys are errors at build time.\n\
         # `sesame help config` explains every key; `sesame check` validates the file.\n",
    );
    let mut section = "";
    for key in CONFIG_KEYS {
        let (sec, name) = key.key.split_once('.').unwrap_or(("", key.key));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        for line in wrap(key.doc, 86) {
            out.push_str(&format!("# {line}\n"));
        }
        match key.default {
            Some(d) => out.push_str(&format!("#{name} = {d}\n")),
            None => out.push_str(&format!(
                "# (not set by default) e.g.:\n#{name} = {}\n",
                key.example
            )),
        }
    }
    out
}

/// Splits `text` into lines of at most `width` characters at blanks.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let Some(last) = lines.last_mut() else { break };
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// `section.key` of every value in a TOML document (one level of tables).
pub fn toml_keys(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (section, value) in &table {
        match value.as_table() {
            Some(t) => out.extend(t.keys().map(|k| format!("{section}.{k}"))),
            None => out.push(section.clone()),
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, *};

    /// Every field set: a field added to `Config` fails to compile here until it is
    /// listed, so the list cannot fall behind the struct.
    fn full_config() -> Config {
        Config {
            boot: BootConfig {
                root: Some("UUID=0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab".into()),
                rootfstype: Some("ext4".into()),
                rootflags: Some("noatime".into()),
                read_only: Some(true),
                init: Some("/sbin/init".into()),
                timeout: Some(90),
                break_before_switch_root: Some(false),
            },
            modules: ModulesConfig {
                include: vec!["a".into()],
                load: vec!["b".into()],
                exclude: vec!["c".into()],
            },
            ssh: SshConfig {
                enabled: Some(true),
                port: Some(22),
            },
            network: NetworkConfig { keep: Some(false) },
            luks: LuksConfig {
                volumes: vec!["d".into()],
                keyfiles: vec!["/k".into()],
                keyring: Some(false),
            },
        }
    }

    fn listed() -> Vec<String> {
        let mut v: Vec<String> = CONFIG_KEYS.iter().map(|k| k.key.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_list_matches_the_struct() {
        let text = toml::to_string(&full_config()).unwrap();
        assert_eq!(toml_keys(&text), listed());
    }

    #[test]
    fn the_template_parses_to_the_defaults_and_uncommented_sets_every_key() {
        let t = template();
        assert_eq!(config::parse(&t, "t").unwrap(), Config::default());
        let uncommented: String = t
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = config::parse(&uncommented, "t").unwrap();
        assert_ne!(c, Config::default());
        assert_eq!(toml_keys(&toml::to_string(&c).unwrap()), listed());
        assert!(t.lines().all(|l| l.len() <= 90), "{t}");
    }

    #[test]
    fn defaults_and_examples_are_valid_values() {
        for key in CONFIG_KEYS {
            let (sec, name) = key.key.split_once('.').unwrap();
            for value in key.default.iter().chain([&key.example]) {
                let text = format!("[{sec}]\n{name} = {value}\n");
                config::parse(&text, "t").unwrap_or_else(|e| panic!("{text}: {e}"));
            }
        }
    }
}
