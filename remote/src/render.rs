//! The texts a session shows: the banner, `status` (human and JSON), `help`, and the
//! sentences for the boot's answers to a passphrase. Pure functions of the [`BootView`].
//! Everything that came from outside (volume names, errors) is printed with control
//! characters escaped, so nothing can drive the operator's terminal.

use std::fmt::Write;

use crate::boot::{BootView, Stage, UnlockReply, VolumeView};
use crate::exit_code;

/// Text from the boot, safe for a terminal.
pub fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

pub fn stage_text(stage: &Stage) -> String {
    match stage {
        Stage::Booting => "booting".into(),
        Stage::WaitingForUnlock => "waiting for a passphrase".into(),
        Stage::Break => "stopped by rd.break (type `continue` to go on)".into(),
        Stage::Emergency { reason } => format!(
            "stopped: {} (fix it, then `retry`, or `reboot`)",
            clean(reason)
        ),
        Stage::SwitchingRoot => "switching to the real root".into(),
    }
}

fn volume_label(v: &VolumeView) -> String {
    format!("{} ({})", clean(&v.name), clean(&v.device))
}

/// The host name to show: the boot's, else the configured one.
fn host<'a>(view: &'a BootView, fallback: &'a str) -> &'a str {
    if view.hostname.is_empty() {
        fallback
    } else {
        &view.hostname
    }
}

/// The first lines of an interactive session.
pub fn banner(view: &BootView, fallback_host: &str) -> String {
    let version = if view.version.is_empty() {
        env!("CARGO_PKG_VERSION")
    } else {
        &view.version
    };
    let mut s = format!(
        "sesame {} on {}: {}.\n",
        clean(version),
        clean(host(view, fallback_host)),
        stage_text(&view.stage)
    );
    let locked: Vec<String> = view.locked().map(volume_label).collect();
    if !locked.is_empty() {
        let _ = writeln!(s, "Locked: {}.", locked.join(", "));
    }
    let waiting: Vec<String> = view
        .volumes
        .iter()
        .filter(|v| v.state == VolumeView::WAITING)
        .map(volume_label)
        .collect();
    if !waiting.is_empty() {
        let _ = writeln!(s, "Waiting for: {}.", waiting.join(", "));
    }
    s
}

/// `status`.
pub fn status(view: &BootView, fallback_host: &str) -> String {
    let mut s = banner(view, fallback_host);
    s.push_str("\nVolumes:\n");
    if view.volumes.is_empty() {
        s.push_str("  (none)\n");
    }
    let wn = view
        .volumes
        .iter()
        .map(|v| clean(&v.name).chars().count())
        .max()
        .unwrap_or(0);
    let wd = view
        .volumes
        .iter()
        .map(|v| clean(&v.device).chars().count())
        .max()
        .unwrap_or(0);
    for v in &view.volumes {
        let _ = write!(
            s,
            "  {:wn$}  {:wd$}  {}",
            clean(&v.name),
            clean(&v.device),
            clean(&v.state)
        );
        if let Some(d) = &v.detail {
            let _ = write!(s, " ({})", clean(d));
        }
        s.push('\n');
    }
    if !is_empty(&view.network) {
        s.push_str("\nNetwork:\n");
        json_lines(&view.network, 1, &mut s);
    }
    if !view.errors.is_empty() {
        s.push_str("\nErrors:\n");
        for e in &view.errors {
            let _ = writeln!(s, "  {}", clean(e));
        }
    }
    s
}

/// `status --json`: the whole view.
pub fn status_json(view: &BootView) -> String {
    let mut s =
        serde_json::to_string_pretty(view).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn is_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => Some("-".into()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(t) => Some(clean(t)),
        _ => None,
    }
}

/// An opaque JSON value as indented `key: value` lines.
fn json_lines(v: &serde_json::Value, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m {
                match scalar(val) {
                    Some(t) => {
                        let _ = writeln!(out, "{pad}{}: {t}", clean(k));
                    }
                    None => match val
                        .as_array()
                        .filter(|a| a.iter().all(|x| scalar(x).is_some()))
                    {
                        Some(a) => {
                            let items: Vec<String> = a.iter().filter_map(scalar).collect();
                            let _ = writeln!(out, "{pad}{}: {}", clean(k), items.join(", "));
                        }
                        None => {
                            let _ = writeln!(out, "{pad}{}:", clean(k));
                            json_lines(val, depth + 1, out);
                        }
                    },
                }
            }
        }
        serde_json::Value::Array(a) => {
            for item in a {
                match scalar(item) {
                    Some(t) => {
                        let _ = writeln!(out, "{pad}- {t}");
                    }
                    None => {
                        let _ = writeln!(out, "{pad}-");
                        json_lines(item, depth + 1, out);
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other).unwrap_or_default());
        }
    }
}

/// `help`.
pub fn help() -> String {
    let mut s = String::from(
        "sesame: the initramfs is waiting; this session can unlock it.\n\
         \n\
         Commands:\n\
         \x20 unlock [NAME]     ask for the passphrase of NAME, or of each locked volume\n\
         \x20                   (without a terminal: read it from stdin, e.g. `unlock < file`)\n\
         \x20 status [--json]   volumes, network, errors\n\
         \x20 log [-f]          the boot's log (-f: follow it until Ctrl-C)\n\
         \x20 dmesg             the kernel's log\n\
         \x20 continue          go on after rd.break\n\
         \x20 retry             retry after a failure\n\
         \x20 reboot, poweroff\n\
         \x20 help\n\
         `cryptroot-unlock` and `systemd-tty-ask-password-agent` work like `unlock`.\n\
         \n\
         Exit status:\n",
    );
    for (code, meaning) in exit_code::TABLE {
        let _ = writeln!(s, "  {code:>3}  {meaning}");
    }
    s
}

/// The sentence for the boot's answer to a passphrase.
pub fn unlock_reply(reply: &UnlockReply) -> String {
    match reply {
        UnlockReply::Opened(names) => {
            let names: Vec<String> = names.iter().map(|n| clean(n)).collect();
            format!("Opened {}.", names.join(", "))
        }
        UnlockReply::Wrong { volume } => {
            format!("Wrong passphrase for {}.", clean(volume))
        }
        UnlockReply::AlreadyOpen(v) => format!(
            "{} is already open (another session or the console was first); your passphrase was not used.",
            clean(v)
        ),
        UnlockReply::NoSuchVolume(v) => format!("There is no volume called {}.", clean(v)),
        UnlockReply::NothingLocked => "No volume is waiting for a passphrase.".into(),
        UnlockReply::GaveUp { volume } => format!(
            "Too many wrong passphrases for {}; the boot stopped asking for it.",
            clean(volume)
        ),
        UnlockReply::Error(e) => format!("Error: {}", clean(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> BootView {
        BootView {
            hostname: "box".into(),
            version: "0.1.0".into(),
            stage: Stage::WaitingForUnlock,
            volumes: vec![
                VolumeView {
                    name: "root".into(),
                    device: "/dev/vda2".into(),
                    state: "locked".into(),
                    detail: None,
                },
                VolumeView {
                    name: "data".into(),
                    device: "/dev/vdb".into(),
                    state: "open".into(),
                    detail: Some("/dev/mapper/data".into()),
                },
            ],
            network: serde_json::json!({"eth0": {"addresses": ["10.0.2.15/24"], "lease": {"router": "10.0.2.2"}}}),
            timeline: serde_json::Value::Null,
            errors: vec!["bad\u{1b}[31m".into()],
        }
    }

    #[test]
    fn banner_names_locked_volumes() {
        let b = banner(&view(), "fallback");
        assert!(b.contains("sesame 0.1.0 on box"), "{b}");
        assert!(b.contains("Locked: root (/dev/vda2)."), "{b}");
        assert!(!b.contains("data"));
        let b = banner(&BootView::default(), "fallback");
        assert!(b.contains("on fallback: booting"), "{b}");
    }

    #[test]
    fn status_text() {
        let s = status(&view(), "x");
        assert!(s.contains("root  /dev/vda2  locked"), "{s}");
        assert!(
            s.contains("data  /dev/vdb   open (/dev/mapper/data)"),
            "{s}"
        );
        assert!(s.contains("addresses: 10.0.2.15/24"), "{s}");
        assert!(s.contains("router: 10.0.2.2"), "{s}");
        assert!(
            !s.contains('\u{1b}'),
            "escape sequences are neutralised: {s}"
        );
    }

    #[test]
    fn json_round_trips() {
        let j: serde_json::Value = serde_json::from_str(&status_json(&view())).unwrap();
        assert_eq!(j["volumes"][0]["name"], "root");
        assert_eq!(j["stage"]["name"], "waiting-for-unlock");
    }

    #[test]
    fn replies() {
        assert_eq!(
            unlock_reply(&UnlockReply::Opened(vec!["a".into(), "b".into()])),
            "Opened a, b."
        );
        assert!(unlock_reply(&UnlockReply::Wrong {
            volume: "root".into()
        })
        .contains("root"));
        assert!(help().contains("127"));
    }
}
