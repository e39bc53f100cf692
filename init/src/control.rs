//! What an operator can tell the boot: continue (after `rd.break`), retry (after a
//! failure), reboot, power off. The console and SSH sessions send the same messages.

use std::fmt;

/// An operator's instruction to the boot supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on with switch_root (after `rd.break`).
    Continue,
    /// Run the boot again from the device wait (after a failure).
    Retry,
    Reboot,
    Poweroff,
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Control::Continue => "continue",
            Control::Retry => "retry",
            Control::Reboot => "reboot",
            Control::Poweroff => "poweroff",
        })
    }
}

/// A control with, from SSH, the channel that tells the session whether it was taken
/// (`continue` outside `rd.break` is refused with the reason).
#[derive(Debug)]
pub struct ControlMsg {
    pub control: Control,
    pub reply: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

impl ControlMsg {
    /// Answers the sender, if it waits for an answer.
    pub fn answer(self, result: Result<(), String>) {
        if let Some(reply) = self.reply {
            let _ = reply.send(result);
        }
    }
}

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Control(Control),
    Help,
    Empty,
    Unknown(String),
}

/// Parses a console line. Case-insensitive, surrounding blanks ignored; a few synonyms
/// people type out of habit (`exit` at an emergency shell means "go on").
pub fn parse_line(line: &str) -> Typed {
    let word = line.trim().to_ascii_lowercase();
    match word.as_str() {
        "" => Typed::Empty,
        "continue" | "exit" | "resume" => Typed::Control(Control::Continue),
        "retry" => Typed::Control(Control::Retry),
        "reboot" | "restart" => Typed::Control(Control::Reboot),
        "poweroff" | "halt" | "shutdown" => Typed::Control(Control::Poweroff),
        "help" | "?" => Typed::Help,
        _ => {
            let shown: String = line
                .trim()
                .chars()
                .take(40)
                .filter(|c| !c.is_control())
                .collect();
            Typed::Unknown(shown)
        }
    }
}

/// The help text for a waiting state; `can_continue` at `rd.break`.
pub fn help(can_continue: bool) -> String {
    let mut s = String::from("commands: ");
    if can_continue {
        s.push_str("continue (switch to the real root), ");
    }
    s.push_str("retry (run the boot again), reboot, poweroff, help");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse() {
        assert_eq!(parse_line("continue\n"), Typed::Control(Control::Continue));
        assert_eq!(parse_line("  RETRY "), Typed::Control(Control::Retry));
        assert_eq!(parse_line("reboot\r\n"), Typed::Control(Control::Reboot));
        assert_eq!(parse_line("halt"), Typed::Control(Control::Poweroff));
        assert_eq!(parse_line("?"), Typed::Help);
        assert_eq!(parse_line("\n"), Typed::Empty);
        assert_eq!(parse_line("rm -rf /"), Typed::Unknown("rm -rf /".into()));
        let junk = parse_line("\u{1b}[A\u{0}x");
        assert_eq!(junk, Typed::Unknown("[Ax".into()));
        let long = "y".repeat(500);
        assert!(matches!(parse_line(&long), Typed::Unknown(s) if s.len() == 40));
        assert!(help(true).contains("continue"));
        assert!(!help(false).contains("continue"));
    }
}
