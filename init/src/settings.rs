//! The settings one boot runs with: the kernel command line over the image's config over
//! sesame's defaults, resolved once by a pure function.

use std::time::Duration;

use std::net::IpAddr;

use sesame_crypt::device::DeviceSpec;
use sesame_crypt::spec::LuksCmdline;
use sesame_net::ip::{IfName, IpConfig};

use crate::cmdline::{Cmdline, Word};
use crate::config::Config;
use crate::rootfs::RootMount;

/// How long to wait for the root device when neither `rd.timeout=` nor the config says:
/// systemd's default device timeout, long enough for slow RAID controllers.
pub const DEFAULT_ROOT_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub root: Option<DeviceSpec>,
    pub root_mount: RootMount,
    pub init: Option<String>,
    /// Arguments for the real init: exactly what the kernel passed to us (its unknown bare
    /// words such as `single` or `3`, and the words after `--`).
    pub init_args: Vec<String>,
    /// None: wait forever.
    pub timeout: Option<Duration>,
    pub rd_break: bool,
    pub verbose: bool,
    /// Modules to load at every boot (config `modules.load`).
    pub modules_load: Vec<String>,
    /// Every `key[=value]` word of the command line, for module parameters.
    pub cmdline_words: Vec<(String, Option<String>)>,

    /// `ip=` words, `nameserver=`, `rd.peerdns=` (default true), `ifname=`, `rd.neednet=`.
    pub ip: Vec<IpConfig>,
    pub nameservers: Vec<IpAddr>,
    pub peerdns: bool,
    pub ifnames: Vec<IfName>,
    pub neednet: bool,
    /// The host name for DHCP and the SSH banner (from a static `ip=`), if any.
    pub hostname: Option<String>,
    /// Keep the network up after switch_root (`rd.sesame.net.keep`, config `network.keep`).
    pub net_keep: bool,

    /// Serve SSH (default true) and on which port (default 22).
    pub ssh_enabled: bool,
    pub ssh_port: u16,
    /// Ask for passphrases on the console too (`rd.sesame.console`, default true).
    pub console_prompt: bool,

    /// `rd.luks.*`, and the crypttab names the config adds.
    pub luks: LuksCmdline,
    pub luks_volumes: Vec<String>,
    /// Hand the passphrase on to the kernel keyring (`rd.sesame.keyring`, config `luks.keyring`).
    pub keyring: bool,
    /// `rd.sesame.overlayroot=`.
    pub overlayroot: Option<crate::cmdline::Overlayroot>,
    /// `rd.sesame.test.panic=<stage>` (test builds only).
    #[cfg(feature = "test-hooks")]
    pub test_panic: Option<String>,
}

impl Settings {
    /// Resolves the command line (`parsed`, and its raw `words`) over the config;
    /// `argv_tail` is our own argv without argv[0].
    pub fn resolve(
        parsed: &Cmdline,
        config: &Config,
        words: Vec<Word>,
        argv_tail: Vec<String>,
    ) -> Settings {
        let b = &config.boot;
        let root = parsed.root.clone().or_else(|| {
            // The config was validated by the builder; a bad value here is ignored.
            b.root.as_deref().and_then(|r| DeviceSpec::parse(r).ok())
        });
        let timeout = match parsed.timeout.or(b.timeout.map(Duration::from_secs)) {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => Some(DEFAULT_ROOT_TIMEOUT),
        };
        Settings {
            root,
            root_mount: RootMount {
                fstype: parsed.rootfstype.clone().or_else(|| b.rootfstype.clone()),
                flags: parsed.rootflags.clone().or_else(|| b.rootflags.clone()),
                read_only: parsed.read_only.or(b.read_only),
            },
            init: parsed.init.clone().or_else(|| b.init.clone()),
            init_args: argv_tail,
            timeout,
            rd_break: parsed.rd_break || b.break_before_switch_root.unwrap_or(false),
            verbose: parsed.sesame.debug.unwrap_or(false),
            modules_load: config.modules.load.clone(),
            cmdline_words: words.into_iter().map(|w| (w.key, w.value)).collect(),
            ip: parsed.ip.clone(),
            nameservers: parsed.nameservers.clone(),
            peerdns: parsed.peerdns.unwrap_or(true),
            ifnames: parsed.ifnames.clone(),
            neednet: parsed.neednet.unwrap_or(false),
            hostname: parsed.ip.iter().find_map(|c| match c {
                IpConfig::Static(s) => s.hostname.clone(),
                _ => None,
            }),
            net_keep: parsed
                .sesame
                .net_keep
                .or(config.network.keep)
                .unwrap_or(false),
            ssh_enabled: parsed.sesame.ssh.or(config.ssh.enabled).unwrap_or(true),
            ssh_port: parsed.sesame.ssh_port.or(config.ssh.port).unwrap_or(22),
            console_prompt: parsed.sesame.console.unwrap_or(true),
            luks: parsed.luks.clone(),
            luks_volumes: config.luks.volumes.clone(),
            keyring: parsed
                .sesame
                .keyring
                .or(config.luks.keyring)
                .unwrap_or(false),
            overlayroot: parsed.sesame.overlayroot.clone(),
            #[cfg(feature = "test-hooks")]
            test_panic: parsed.sesame.test_panic.clone(),
        }
    }

    /// Whether to start the network at all: not when every `ip=` says off, nor when no
    /// `ip=` is given and neither SSH nor `rd.neednet=1` needs it.
    pub fn network_wanted(&self) -> bool {
        if self.ip.is_empty() {
            return self.ssh_enabled || self.neednet;
        }
        !self.ip.iter().all(|c| matches!(c, IpConfig::Off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline;

    fn resolve(line: &str, config: &str) -> Settings {
        let (parsed, _) = cmdline::parse(line);
        let config = crate::config::parse(config, "t").unwrap();
        Settings::resolve(
            &parsed,
            &config,
            cmdline::split_words(line),
            vec!["single".into()],
        )
    }

    #[test]
    fn command_line_wins_over_config() {
        let cfg = "[boot]\nroot = \"LABEL=cfg\"\ntimeout = 10\nrootflags = \"noatime\"\nread_only = false\n";
        let s = resolve("root=UUID=abcdef12-3456 rd.timeout=5 ro", cfg);
        assert_eq!(s.root, Some(DeviceSpec::Uuid("abcdef12-3456".into())));
        assert_eq!(s.timeout, Some(Duration::from_secs(5)));
        assert_eq!(s.root_mount.read_only, Some(true));
        assert_eq!(s.root_mount.flags.as_deref(), Some("noatime"));
        let s = resolve("quiet", cfg);
        assert_eq!(s.root, Some(DeviceSpec::Label("cfg".into())));
        assert_eq!(s.timeout, Some(Duration::from_secs(10)));
        assert_eq!(s.root_mount.read_only, Some(false));
        assert_eq!(s.init_args, vec!["single"]);
    }

    #[test]
    fn defaults_and_forever() {
        let s = resolve("", "");
        assert_eq!(s.root, None);
        assert_eq!(s.timeout, Some(DEFAULT_ROOT_TIMEOUT));
        assert!(!s.rd_break);
        let s = resolve("rd.timeout=0 rd.break", "");
        assert_eq!(s.timeout, None);
        assert!(s.rd_break);
        let s = resolve("rd.timeout=abc root=/dev/vda", "");
        assert_eq!(
            s.timeout,
            Some(DEFAULT_ROOT_TIMEOUT),
            "a malformed value is ignored"
        );
        assert_eq!(s.root, Some(DeviceSpec::Path("/dev/vda".into())));
    }

    #[test]
    fn network_and_ssh_knobs() {
        let s = resolve("", "");
        assert!(s.ssh_enabled && s.ssh_port == 22 && s.network_wanted() && s.peerdns);
        assert!(!s.net_keep && !s.keyring && s.console_prompt);
        let s = resolve(
            "rd.sesame.ssh.port=2222 rd.sesame.net.keep=1",
            "[ssh]\nport = 2200\n",
        );
        assert_eq!(s.ssh_port, 2222);
        assert!(s.net_keep);
        let s = resolve(
            "",
            "[ssh]\nport = 2200\nenabled = false\n[luks]\nkeyring = true\n",
        );
        assert_eq!(s.ssh_port, 2200);
        assert!(!s.ssh_enabled && !s.network_wanted() && s.keyring);
        let s = resolve("ip=off", "");
        assert!(!s.network_wanted());
        let s = resolve("rd.sesame.ssh=0 rd.neednet=1", "");
        assert!(s.network_wanted());
        let s = resolve(
            "ip=10.0.0.2::10.0.0.1:255.255.255.0:vault:eth0:off rd.peerdns=0",
            "",
        );
        assert_eq!(s.hostname.as_deref(), Some("vault"));
        assert!(!s.peerdns && s.network_wanted());
    }

    #[test]
    fn module_parameters_come_from_the_words() {
        let s = resolve("virtio_net.napi_tx=1 root=/dev/vda", "");
        assert!(s
            .cmdline_words
            .contains(&("virtio_net.napi_tx".into(), Some("1".into()))));
    }
}
