//! sesame's own knobs, the `rd.sesame.*` words. Booleans accept 1/0, yes/no,
//! true/false, on/off (and systemd's y/n/t/f); a bare boolean word means true. Unknown
//! `rd.sesame.*` words are reported with the closest valid one, or the list.

use serde::Serialize;
use sesame_crypt::device::DeviceSpec;
use sesame_crypt::spec::{check_volume_name, closest, describe_device_error, parse_bool};

/// Every `rd.sesame.*` key, for the manual and typo hints. The test hooks are listed
/// only in builds with the `test-hooks` feature.
pub const SESAME_KEYS: &[&str] = &[
    "rd.sesame.ssh",
    "rd.sesame.ssh.port",
    "rd.sesame.net.keep",
    "rd.sesame.keyring",
    "rd.sesame.overlayroot",
    "rd.sesame.debug",
    "rd.sesame.console",
    #[cfg(feature = "test-hooks")]
    "rd.sesame.test.panic",
];

/// What the `rd.sesame.*` words set; `None` is "not given" (the built-in default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SesameOpts {
    /// `rd.sesame.ssh=0/1`: serve SSH.
    pub ssh: Option<bool>,
    /// `rd.sesame.ssh.port=<1-65535>`.
    pub ssh_port: Option<u16>,
    /// `rd.sesame.net.keep=0/1`: leave the network up for the real system.
    pub net_keep: Option<bool>,
    /// `rd.sesame.keyring=0/1`: hand passphrases to the kernel keyring for reuse.
    pub keyring: Option<bool>,
    /// `rd.sesame.overlayroot=`.
    pub overlayroot: Option<Overlayroot>,
    /// `rd.sesame.debug=0/1` (or dracut's `rd.debug`): verbose log.
    pub debug: Option<bool>,
    /// `rd.sesame.console=0/1`: prompt on the console too.
    pub console: Option<bool>,
    /// `rd.sesame.test.panic=<stage>`: fail on purpose at that stage (test builds).
    #[cfg(feature = "test-hooks")]
    pub test_panic: Option<String>,
}

/// `rd.sesame.overlayroot=tmpfs|dev:<device>|crypt:<volume>|disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum Overlayroot {
    Tmpfs,
    #[serde(serialize_with = "ser_device")]
    Dev(DeviceSpec),
    /// A volume opened by sesame, by its device-mapper name.
    Crypt(String),
    Disabled,
}

fn ser_device<S: serde::Serializer>(d: &DeviceSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

/// A problem with an `rd.sesame.*` word: (reason, fix).
pub(crate) type Problem = (String, String);

/// Applies one `rd.sesame.*` word.
pub(crate) fn apply(opts: &mut SesameOpts, key: &str, value: Option<&str>) -> Result<(), Problem> {
    match key {
        "rd.sesame.ssh" => opts.ssh = Some(boolean(key, value)?),
        "rd.sesame.ssh.port" => opts.ssh_port = Some(port(key, value)?),
        "rd.sesame.net.keep" => opts.net_keep = Some(boolean(key, value)?),
        "rd.sesame.keyring" => opts.keyring = Some(boolean(key, value)?),
        "rd.sesame.debug" => opts.debug = Some(boolean(key, value)?),
        "rd.sesame.console" => opts.console = Some(boolean(key, value)?),
        "rd.sesame.overlayroot" => opts.overlayroot = Some(overlayroot(key, value)?),
        #[cfg(feature = "test-hooks")]
        "rd.sesame.test.panic" => opts.test_panic = Some(stage(key, value)?),
        #[cfg(not(feature = "test-hooks"))]
        "rd.sesame.test.panic" => {
            return Err((
                "the test hooks exist only in test builds of sesame".into(),
                "remove it, or boot an image built with the test-hooks feature".into(),
            ))
        }
        _ => {
            let fix = match closest(key, SESAME_KEYS) {
                Some(k) => format!("did you mean {k}?"),
                None => format!("the sesame parameters are {}", SESAME_KEYS.join(", ")),
            };
            return Err(("it is not a sesame parameter".into(), fix));
        }
    }
    Ok(())
}

/// A boolean; a bare word means true.
pub(crate) fn boolean(key: &str, value: Option<&str>) -> Result<bool, Problem> {
    match value {
        None => Ok(true),
        Some(v) => parse_bool(v).ok_or_else(|| {
            (
                format!("`{}` is not a boolean", super::diagnostic::shorten(v, 32)),
                format!("write {key}=1 or {key}=0 (yes/no, true/false, on/off work too)"),
            )
        }),
    }
}

fn port(key: &str, value: Option<&str>) -> Result<u16, Problem> {
    let fix = format!("write {key}=<1-65535>, e.g. {key}=2222");
    let v = match value {
        Some(v) if !v.is_empty() => v,
        _ => return Err(("a port number is needed".into(), fix)),
    };
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            format!(
                "`{}` is not a port number",
                super::diagnostic::shorten(v, 32)
            ),
            fix,
        ));
    }
    match v.parse::<u32>() {
        Ok(0) => Err(("port 0 cannot be listened on".into(), fix)),
        Ok(p) => u16::try_from(p).map_err(|_| (format!("port {p} is larger than 65535"), fix)),
        Err(_) => Err((
            format!(
                "port {} is larger than 65535",
                super::diagnostic::shorten(v, 32)
            ),
            fix,
        )),
    }
}

fn overlayroot(key: &str, value: Option<&str>) -> Result<Overlayroot, Problem> {
    let fix =
        || format!("write {key}=tmpfs, {key}=dev:<device>, {key}=crypt:<volume> or {key}=disabled");
    let v = value.unwrap_or("");
    if let Some(dev) = v.strip_prefix("dev:") {
        return DeviceSpec::parse(dev)
            .map(Overlayroot::Dev)
            .map_err(|e| (describe_device_error(&e), fix()));
    }
    if let Some(name) = v.strip_prefix("crypt:") {
        check_volume_name(name).map_err(|r| (r, fix()))?;
        return Ok(Overlayroot::Crypt(name.to_string()));
    }
    match v {
        "tmpfs" => Ok(Overlayroot::Tmpfs),
        "disabled" => Ok(Overlayroot::Disabled),
        "" => Err(("a value is needed".into(), fix())),
        other => Err((
            format!(
                "`{}` is not an overlay root",
                super::diagnostic::shorten(other, 48)
            ),
            fix(),
        )),
    }
}

#[cfg(feature = "test-hooks")]
fn stage(key: &str, value: Option<&str>) -> Result<String, Problem> {
    match value {
        Some(v)
            if !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(v.to_string())
        }
        _ => Err((
            "a stage name is needed (letters, digits, '-', '_')".into(),
            format!("write {key}=<stage>"),
        )),
    }
}
