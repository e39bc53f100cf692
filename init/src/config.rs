//! `/etc/sesame/config.toml`, baked into the image by `sesame build`. Every key is
//! optional; the kernel command line wins over the file. Unknown keys are errors (a typo
//! must not be silently ignored): the builder refuses such a file, and at boot the file
//! is reported and the defaults are used.

use serde::{Deserialize, Serialize};

/// Where the config lives, on the host and in the image.
pub const CONFIG_PATH: &str = "/etc/sesame/config.toml";

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub boot: BootConfig,
    pub modules: ModulesConfig,
    pub ssh: SshConfig,
    pub network: NetworkConfig,
    pub luks: LuksConfig,
}

/// Defaults for what the kernel command line may also say.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootConfig {
    /// The root device when the command line has no `root=` (`UUID=…`, `/dev/…`).
    pub root: Option<String>,
    /// Like `rootfstype=`.
    pub rootfstype: Option<String>,
    /// Like `rootflags=`.
    pub rootflags: Option<String>,
    /// Like `ro` (true) / `rw` (false).
    pub read_only: Option<bool>,
    /// Like `init=`.
    pub init: Option<String>,
    /// Like `rd.timeout=`: seconds to wait for the root device; 0 waits forever.
    pub timeout: Option<u64>,
    /// Like `rd.break`: stop before switch_root until told to continue.
    #[serde(rename = "break")]
    pub break_before_switch_root: Option<bool>,
}

/// Which kernel modules the image carries and which load at every boot.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModulesConfig {
    /// Extra modules (names or aliases) to put in the image besides the default set;
    /// they load when their hardware appears.
    pub include: Vec<String>,
    /// Modules to load at every boot whatever the hardware (they are included too).
    pub load: Vec<String>,
    /// Modules of the default set to leave out of the image.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// Serve SSH at all (default true).
    pub enabled: Option<bool>,
    /// The port (default 22); `rd.sesame.ssh.port=` wins.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Keep addresses and routes up after switch_root (default false); `rd.sesame.net.keep=`.
    pub keep: Option<bool>,
}

/// Which LUKS volumes the image opens, and what it does with the passphrase.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LuksConfig {
    /// Names of /etc/crypttab entries to open in the initramfs even without the
    /// `initramfs` / `x-initrd.attach` option.
    pub volumes: Vec<String>,
    /// Keyfiles to copy into the image (absolute paths on the host, same path in the
    /// image, mode 0400), for `rd.luks.key=` and crypttab entries.
    pub keyfiles: Vec<String>,
    /// Hand the passphrase that worked to the kernel keyring for the real system's
    /// systemd-cryptsetup (like `rd.sesame.keyring=1`; default false).
    pub keyring: Option<bool>,
}

/// A config file that does not parse: where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// Parses the config text. `path` is only used in the error.
pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| ConfigError {
        path: path.to_string(),
        message: e.to_string().trim_end().replace('\n', " | "),
    })?;
    validate(&config).map_err(|message| ConfigError {
        path: path.to_string(),
        message,
    })?;
    Ok(config)
}

/// Checks values serde cannot: device syntax, absolute paths, ports.
fn validate(c: &Config) -> Result<(), String> {
    if let Some(root) = &c.boot.root {
        sesame_crypt::device::DeviceSpec::parse(root).map_err(|e| format!("boot.root: {e}"))?;
    }
    if let Some(init) = &c.boot.init {
        if !init.starts_with('/') {
            return Err(format!(
                "boot.init = {init:?}: must be an absolute path such as /sbin/init"
            ));
        }
    }
    if c.ssh.port == Some(0) {
        return Err("ssh.port = 0: give a port between 1 and 65535".into());
    }
    if let Some(bad) = c
        .luks
        .keyfiles
        .iter()
        .find(|k| !k.starts_with('/') || k.contains(".."))
    {
        return Err(format!("luks.keyfiles: {bad:?} must be an absolute path"));
    }
    for (key, list) in [
        ("modules.include", &c.modules.include),
        ("modules.load", &c.modules.load),
        ("modules.exclude", &c.modules.exclude),
    ] {
        if let Some(bad) = list.iter().find(|m| m.trim().is_empty() || m.contains('/')) {
            return Err(format!(
                "{key}: {bad:?} is not a module name (write e.g. \"mlx5_core\")"
            ));
        }
    }
    Ok(())
}

/// Reads the config at boot: a missing file means defaults; a broken one is reported
/// and the defaults are used, so the box still comes up and can be fixed.
pub fn load_at_boot(path: &str) -> (Config, Option<ConfigError>) {
    match std::fs::read_to_string(path) {
        Ok(text) => match parse(&text, path) {
            Ok(c) => (c, None),
            Err(e) => (Config::default(), Some(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Config::default(), None),
        Err(e) => (
            Config::default(),
            Some(ConfigError {
                path: path.to_string(),
                message: e.to_string(),
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses() {
        let c = parse(
            r#"
[boot]
root = "UUID=0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab"
rootfstype = "ext4"
rootflags = "noatime"
read_only = false
init = "/lib/systemd/systemd"
timeout = 45
break = true

[modules]
include = ["mlx5_core"]
load = ["dm_crypt"]
exclude = ["btrfs"]

[ssh]
enabled = true
port = 2222

[network]
keep = true

[luks]
volumes = ["data"]
keyfiles = ["/etc/keys/data.key"]
keyring = true
"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.boot.timeout, Some(45));
        assert_eq!(c.boot.break_before_switch_root, Some(true));
        assert_eq!(c.modules.include, vec!["mlx5_core"]);
        assert_eq!(c.ssh.port, Some(2222));
        assert_eq!(c.network.keep, Some(true));
        assert_eq!(c.luks.volumes, vec!["data"]);
        assert_eq!(c.luks.keyring, Some(true));
    }

    #[test]
    fn empty_config_is_all_defaults() {
        assert_eq!(parse("", "t").unwrap(), Config::default());
        assert_eq!(parse("# nothing\n", "t").unwrap(), Config::default());
    }

    #[test]
    fn malformed_configs_say_where_and_why() {
        let e = parse("[boot]\nrooot = \"x\"\n", "/etc/sesame/config.toml").unwrap_err();
        assert!(e.to_string().contains("/etc/sesame/config.toml"), "{e}");
        assert!(e.message.contains("rooot"), "{e}");
        let e = parse("[ssh]\nport = 70000\n", "t").unwrap_err();
        assert!(e.message.contains("port"), "{e}");
        let e = parse("[ssh]\nport = 0\n", "t").unwrap_err();
        assert!(e.message.contains("1 and 65535"), "{e}");
        let e = parse("[boot]\nroot = \"vda2\"\n", "t").unwrap_err();
        assert!(e.message.contains("boot.root"), "{e}");
        let e = parse("[boot]\ninit = \"sbin/init\"\n", "t").unwrap_err();
        assert!(e.message.contains("absolute"), "{e}");
        let e = parse("[luks]\nkeyfiles = [\"keys/a\"]\n", "t").unwrap_err();
        assert!(e.message.contains("absolute"), "{e}");
        let e = parse("[modules]\ninclude = [\"\"]\n", "t").unwrap_err();
        assert!(e.message.contains("modules.include"), "{e}");
        let e = parse("[boot\n", "t").unwrap_err();
        assert!(!e.message.contains('\n'));
        assert!(parse("boot = 3", "t").is_err());
        assert!(parse("\u{0}\u{1}garbage", "t").is_err());
    }

    #[test]
    fn missing_file_is_defaults_broken_file_is_reported() {
        let (c, e) = load_at_boot("/nonexistent/sesame/config.toml");
        assert_eq!(c, Config::default());
        assert!(e.is_none());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "[boot]\ntimeout = \"soon\"\n").unwrap();
        let (c, e) = load_at_boot(p.to_str().unwrap());
        assert_eq!(c, Config::default());
        assert!(e.unwrap().message.contains("timeout"));
    }
}
