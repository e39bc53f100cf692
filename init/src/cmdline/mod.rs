//! The kernel command line, read the way users already write it for dracut, systemd
//! and initramfs-tools, into a typed [`Cmdline`] plus a [`Diagnostic`] for every word
//! sesame could not use. Pure: the caller reads /proc/cmdline. Never panics, never
//! fails as a whole: a malformed word is reported and skipped, the boot goes on.
//!
//! Rules:
//! - Words are split as the kernel splits them ([`words`]).
//! - Unknown words are left for the real system, silently, except `rd.*` words within
//!   a few edits of one sesame knows (typo help) and unknown `rd.sesame.*` and
//!   `rd.luks.*` words, which are sesame's and are reported with the valid ones.
//! - Duplicates: the last word wins for single values (as the kernel and dracut do) and
//!   lists accumulate, silently — except a `root=` or `init=` overridden by a later,
//!   different one, where the earlier word is reported as ignored, since booting the
//!   wrong root is worth a line in the log.
//! - `rd.break` with any dracut or systemd break point means "stop before switch_root",
//!   sesame's only break point; an earlier point (`pre-mount`, …) is noted as such.
//! - `rd.debug` (dracut) is taken as `rd.sesame.debug`.
//! - A word whose unterminated quote swallowed the rest of the line is reported and
//!   ignored rather than used with the following words inside its value.
//! - Timeouts: `Some(Duration::ZERO)` means "wait forever", as written (`rd.timeout=0`);
//!   `None` means not given.

mod diagnostic;
mod root;
mod sesame;
mod words;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};
use sesame_crypt::device::DeviceSpec;
use sesame_crypt::spec::{closest, parse_bool, parse_timespan, LuksCmdline, SpecError};
use sesame_net::ip::{
    parse_ifname, parse_ip_with_notes, parse_nameserver, IfName, IpConfig, IpError,
};

pub use diagnostic::{shorten, Diagnostic, Ignored};
pub use sesame::{Overlayroot, SesameOpts, SESAME_KEYS};
pub use words::{split, split_bytes, split_words, split_words_bytes, Split, Word};

/// Keys of the kernel's and dracut's vocabulary that sesame reads, `rd.luks.*` and
/// `rd.sesame.*` apart.
const BASE_KEYS: &[&str] = &[
    "root",
    "rootfstype",
    "rootflags",
    "ro",
    "rw",
    "init",
    "quiet",
    "debug",
    "ip",
    "nameserver",
    "ifname",
    "rd.neednet",
    "rd.peerdns",
    "rd.break",
    "rd.timeout",
    "rd.debug",
];

/// Every key sesame understands on the command line (test hooks aside): for the manual
/// and for typo hints.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    BASE_KEYS
        .iter()
        .chain(sesame_crypt::spec::LUKS_KEYS)
        .chain(SESAME_KEYS)
        .copied()
        .filter(|k| !k.starts_with("rd.sesame.test."))
}

/// What the command line asks of sesame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cmdline {
    /// `root=`: the real root file system.
    #[serde(serialize_with = "ser_root")]
    pub root: Option<DeviceSpec>,
    /// `rootfstype=`, as written (the kernel allows a comma-separated list).
    pub rootfstype: Option<String>,
    /// `rootflags=`: mount options for the root.
    pub rootflags: Option<String>,
    /// `ro` (`Some(true)`) or `rw`, the last one winning.
    pub read_only: Option<bool>,
    /// `init=`: the real system's init, an absolute path.
    pub init: Option<String>,
    /// The words after `--`: arguments for the real init.
    pub init_args: Vec<String>,
    /// `rd.luks.*` and `luks.*`.
    pub luks: LuksCmdline,
    /// `ip=`, one per word (one per interface, usually).
    pub ip: Vec<IpConfig>,
    /// `nameserver=`, in order, without duplicates.
    pub nameservers: Vec<IpAddr>,
    /// `rd.neednet=0/1`.
    pub neednet: Option<bool>,
    /// `rd.peerdns=0` gives `Some(false)`: ignore the name servers DHCP offers.
    pub peerdns: Option<bool>,
    /// `ifname=<name>:<mac>`.
    pub ifnames: Vec<IfName>,
    /// `rd.break`: stop before switch_root until the operator says `continue`.
    pub rd_break: bool,
    /// `rd.timeout=<seconds>`: how long to wait for the root's devices.
    /// `Some(Duration::ZERO)` is "forever" (`rd.timeout=0`); `None`: not given.
    pub timeout: Option<Duration>,
    /// The kernel's `quiet`.
    pub quiet: bool,
    /// The kernel's `debug`.
    pub debug: bool,
    /// `rd.sesame.*`.
    pub sesame: SesameOpts,
}

fn ser_root<S: Serializer>(root: &Option<DeviceSpec>, s: S) -> Result<S::Ok, S::Error> {
    match root {
        Some(d) => s.serialize_some(&d.to_string()),
        None => s.serialize_none(),
    }
}

/// Parses a command line (as read with `String::from_utf8_lossy`).
pub fn parse(line: &str) -> (Cmdline, Vec<Diagnostic>) {
    parse_split(split(line))
}

/// Parses raw command-line bytes.
pub fn parse_bytes(bytes: &[u8]) -> (Cmdline, Vec<Diagnostic>) {
    parse_split(split_bytes(bytes))
}

fn parse_split(split: Split) -> (Cmdline, Vec<Diagnostic>) {
    let mut p = Parser::default();
    for word in &split.words {
        p.word(word);
    }
    p.cmdline.init_args = split.init_args;
    (p.cmdline, p.diags)
}

#[derive(Default)]
struct Parser {
    cmdline: Cmdline,
    diags: Vec<Diagnostic>,
    /// The words that set `root=` and `init=`, to name them when overridden.
    root_word: Option<String>,
    init_word: Option<String>,
}

const EARLY_BREAKS: &[&str] = &[
    "cmdline",
    "pre-udev",
    "pre-trigger",
    "initqueue",
    "pre-mount",
    "mount",
    "pre-basic",
];
const LATE_BREAKS: &[&str] = &["pre-pivot", "cleanup", "pre-switch-root"];

impl Parser {
    fn word(&mut self, w: &Word) {
        if unterminated_quote(w) {
            self.diags.push(Diagnostic::word(
                &w.raw,
                "its opening quote is never closed, so the kernel read the rest of the line into it",
                "close the quote",
            ));
            return;
        }
        let c = &mut self.cmdline;
        let v = w.value.as_deref();
        let result: Result<(), (String, String)> = match w.key.as_str() {
            "root" => root::parse_root(v).map(|spec| {
                if let Some(prev) = self.root_word.replace(w.raw.clone()) {
                    if c.root.as_ref() != Some(&spec) {
                        self.diags.push(Diagnostic::word(
                            &prev,
                            format!(
                                "a later `{}` overrides it (the last root= wins)",
                                shorten(&w.raw, 64)
                            ),
                            "keep one root= on the command line",
                        ));
                    }
                }
                c.root = Some(spec);
            }),
            "rootfstype" => match v {
                Some(t) if !t.is_empty() => {
                    c.rootfstype = Some(t.to_string());
                    Ok(())
                }
                _ => Err((
                    "rootfstype= needs a file system type".into(),
                    "write e.g. rootfstype=ext4".into(),
                )),
            },
            "rootflags" => {
                c.rootflags = v.filter(|f| !f.is_empty()).map(String::from);
                Ok(())
            }
            "ro" | "rw" if v.is_none() => {
                c.read_only = Some(w.key == "ro");
                Ok(())
            }
            "init" => root::parse_init(v).map(|path| {
                if let Some(prev) = self.init_word.replace(w.raw.clone()) {
                    if c.init.as_deref() != Some(path.as_str()) {
                        self.diags.push(Diagnostic::word(
                            &prev,
                            format!(
                                "a later `{}` overrides it (the last init= wins)",
                                shorten(&w.raw, 64)
                            ),
                            "keep one init= on the command line",
                        ));
                    }
                }
                c.init = Some(path);
            }),
            "quiet" if v.is_none() => {
                c.quiet = true;
                Ok(())
            }
            "debug" if v.is_none() => {
                c.debug = true;
                Ok(())
            }
            "ip" => self.ip(w),
            "nameserver" => parse_nameserver(v.unwrap_or(""))
                .map_err(ip_problem)
                .map(|a| {
                    if !c.nameservers.contains(&a) {
                        c.nameservers.push(a);
                    }
                }),
            "ifname" => self.ifname(w),
            "rd.neednet" => sesame::boolean(&w.key, v).map(|b| c.neednet = Some(b)),
            "rd.peerdns" => sesame::boolean(&w.key, v).map(|b| c.peerdns = Some(b)),
            "rd.debug" => sesame::boolean(&w.key, v).map(|b| c.sesame.debug = Some(b)),
            "rd.break" => self.rd_break(w),
            "rd.timeout" => match v {
                Some(t) if !t.is_empty() => {
                    parse_timespan(t).map(|d| c.timeout = Some(d)).map_err(|r| {
                        (
                            r,
                            "write rd.timeout=<seconds>, or rd.timeout=0 to wait forever".into(),
                        )
                    })
                }
                _ => Err((
                    "rd.timeout needs a number of seconds".into(),
                    "write e.g. rd.timeout=300".into(),
                )),
            },
            k if k == "rd.sesame" || k.starts_with("rd.sesame.") => {
                sesame::apply(&mut c.sesame, k, v)
            }
            _ => self.other(w),
        };
        if let Err((reason, fix)) = result {
            self.diags.push(Diagnostic::word(&w.raw, reason, fix));
        }
    }

    fn ip(&mut self, w: &Word) -> Result<(), (String, String)> {
        let Some(v) = w.value.as_deref() else {
            return Err((
                "ip needs a value".into(),
                "write ip=dhcp, or ip=<dev>:dhcp".into(),
            ));
        };
        let (config, notes) = parse_ip_with_notes(v).map_err(ip_problem)?;
        self.cmdline.ip.push(config);
        for n in notes {
            self.diags
                .push(Diagnostic::note(&w.raw, n.part.as_deref(), n.reason, n.fix));
        }
        Ok(())
    }

    fn ifname(&mut self, w: &Word) -> Result<(), (String, String)> {
        let i = parse_ifname(w.value.as_deref().unwrap_or("")).map_err(ip_problem)?;
        let c = &mut self.cmdline;
        if let Some(prev) = c
            .ifnames
            .iter()
            .find(|p| (p.name == i.name) != (p.mac == i.mac))
        {
            return Err((
                format!(
                    "it conflicts with the earlier ifname={}:{}",
                    prev.name,
                    sesame_net::ip::format_mac(&prev.mac)
                ),
                "give each interface one name and each name one MAC address".into(),
            ));
        }
        if !c.ifnames.contains(&i) {
            c.ifnames.push(i);
        }
        Ok(())
    }

    fn rd_break(&mut self, w: &Word) -> Result<(), (String, String)> {
        let c = &mut self.cmdline;
        let v = match w.value.as_deref() {
            None => {
                c.rd_break = true;
                return Ok(());
            }
            Some(v) => v,
        };
        if let Some(b) = parse_bool(v) {
            c.rd_break = b;
        } else if LATE_BREAKS.contains(&v) {
            c.rd_break = true;
        } else if EARLY_BREAKS.contains(&v) {
            c.rd_break = true;
            self.diags.push(Diagnostic::note(
                &w.raw,
                Some(v),
                "sesame has one break point, after the disks are unlocked and the root is mounted, \
                 just before switch_root; it stops there",
                "write rd.break to silence this",
            ));
        } else {
            return Err((
                format!("`{}` is not a break point", shorten(v, 48)),
                "write rd.break: sesame stops before switch_root until you run `continue`".into(),
            ));
        }
        Ok(())
    }

    /// `rd.luks.*` and `luks.*`, then typo help for other `rd.*` words.
    fn other(&mut self, w: &Word) -> Result<(), (String, String)> {
        let mut notes = Vec::new();
        match self
            .cmdline
            .luks
            .apply_noting(&w.key, w.value.as_deref(), &mut notes)
        {
            Ok(true) => {
                for n in notes {
                    self.diags
                        .push(Diagnostic::note(&w.raw, n.part.as_deref(), n.reason, n.fix));
                }
                Ok(())
            }
            Err(e) => Err(spec_problem(e)),
            Ok(false) => {
                let k = w.key.as_str();
                if !k.starts_with("rd.") || known_keys().any(|known| known == k) {
                    return Ok(());
                }
                let rd_keys: Vec<&str> = known_keys().filter(|k| k.starts_with("rd.")).collect();
                match closest(k, &rd_keys) {
                    Some(known) => Err((
                        "it is not a parameter sesame knows".into(),
                        format!("did you mean {known}?"),
                    )),
                    None => Ok(()),
                }
            }
        }
    }
}

/// An opening quote never closed, which swallowed at least one following word.
fn unterminated_quote(w: &Word) -> bool {
    w.raw.matches('"').count() % 2 == 1
        && w.raw
            .chars()
            .any(|c| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{a0}'))
}

fn ip_problem(e: IpError) -> (String, String) {
    (e.reason, e.fix)
}

fn spec_problem(e: SpecError) -> (String, String) {
    (e.reason, e.fix)
}
