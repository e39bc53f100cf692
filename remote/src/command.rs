//! The command line of a session (`ssh root@host unlock root`, the `command=` of a key, a
//! line typed at the `sesame>` prompt) turned into a [`Command`]: shell-like words (quotes
//! and backslashes), old habits as aliases (`cryptroot-unlock`,
//! `systemd-tty-ask-password-agent`, `/bin/cryptroot-unlock`), usage errors that say what
//! is expected. A pure function.

use std::fmt;

/// What a session runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No command: the banner, a prompt per locked volume, else the `sesame>` prompt.
    Shell,
    /// Unlock one volume, or each locked one.
    Unlock {
        volume: Option<String>,
    },
    Status {
        json: bool,
    },
    Log {
        follow: bool,
    },
    Dmesg,
    Continue,
    Retry,
    Reboot,
    Poweroff,
    Help,
    /// Leave the `sesame>` prompt.
    Exit,
}

/// A command line that is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command `{0}` (this is the initramfs, there is no shell); try `help`")]
    Unknown(String),
    #[error("{command}: {message}")]
    Usage { command: String, message: String },
}

/// Longest command line accepted.
pub const MAX_LINE: usize = 4096;

/// Parses a command line.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    if line.len() > MAX_LINE {
        return Err(usage(
            "sesame",
            format!("command line longer than {MAX_LINE} bytes"),
        ));
    }
    let words = split(line).map_err(|m| usage("sesame", m))?;
    let Some((first, args)) = words.split_first() else {
        return Ok(Command::Shell);
    };
    // `/usr/bin/cryptroot-unlock` as dropbear setups write it in `command=`.
    let name = match first.rsplit_once('/') {
        Some((_, base)) if !base.is_empty() => base,
        _ => first.as_str(),
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return known(name).map(|_| Command::Help);
    }
    match name {
        "unlock" | "cryptroot-unlock" => {
            let mut volume = None;
            for a in args {
                if a.starts_with('-') {
                    return Err(usage(name, format!("unknown option `{}`", printable(a))));
                }
                if volume.is_some() {
                    return Err(usage(name, "takes at most one volume name".into()));
                }
                volume = Some(a.clone());
            }
            Ok(Command::Unlock { volume })
        }
        "systemd-tty-ask-password-agent" => {
            // `--query`, `--watch`, `--console`…: all mean "ask for the passwords".
            match args.iter().find(|a| !a.starts_with("--")) {
                Some(a) => Err(usage(name, format!("unexpected `{}`", printable(a)))),
                None => Ok(Command::Unlock { volume: None }),
            }
        }
        "status" => match args {
            [] => Ok(Command::Status { json: false }),
            [a] if a == "--json" || a == "-j" => Ok(Command::Status { json: true }),
            [a, ..] => Err(usage(
                name,
                format!("unexpected `{}` (try --json)", printable(a)),
            )),
        },
        "log" => match args {
            [] => Ok(Command::Log { follow: false }),
            [a] if a == "-f" || a == "--follow" => Ok(Command::Log { follow: true }),
            [a, ..] => Err(usage(
                name,
                format!("unexpected `{}` (try -f)", printable(a)),
            )),
        },
        "help" | "?" => Ok(Command::Help),
        _ => {
            let cmd = known(name)?;
            match args.first() {
                Some(a) => Err(usage(
                    name,
                    format!("takes no argument, got `{}`", printable(a)),
                )),
                None => Ok(cmd),
            }
        }
    }
}

/// The argument-less commands by name; an error for an unknown name.
fn known(name: &str) -> Result<Command, CommandError> {
    Ok(match name {
        "unlock" | "cryptroot-unlock" | "systemd-tty-ask-password-agent" => {
            Command::Unlock { volume: None }
        }
        "status" => Command::Status { json: false },
        "log" => Command::Log { follow: false },
        "help" | "?" => Command::Help,
        "dmesg" => Command::Dmesg,
        "continue" => Command::Continue,
        "retry" => Command::Retry,
        "reboot" => Command::Reboot,
        "poweroff" | "halt" => Command::Poweroff,
        "exit" | "quit" | "logout" => Command::Exit,
        other => return Err(CommandError::Unknown(printable(other))),
    })
}

fn usage(command: &str, message: String) -> CommandError {
    CommandError::Usage {
        command: printable(command),
        message,
    }
}

/// Splits a line into words: blanks separate, `'…'` is literal, `"…"` allows `\"` and
/// `\\`, a backslash outside quotes escapes the next character.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a backslash ends the line".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

/// A word as shown in a message: control characters escaped, at most 64 characters.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

impl Command {
    /// The command's name as `help` lists it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Shell => "(interactive)",
            Command::Unlock { .. } => "unlock",
            Command::Status { .. } => "status",
            Command::Log { .. } => "log",
            Command::Dmesg => "dmesg",
            Command::Continue => "continue",
            Command::Retry => "retry",
            Command::Reboot => "reboot",
            Command::Poweroff => "poweroff",
            Command::Help => "help",
            Command::Exit => "exit",
        }
    }

    /// Whether two commands run the same program (their arguments aside).
    pub fn same_program(&self, other: &Command) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// A volume name as a command line shows it: a plain name as it is, anything else (blanks,
/// quotes, control characters, empty) escaped by [`printable`] inside double quotes, so
/// the line reads back as one word and never as another command or option.
fn shown_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:@+=,/%".contains(c);
    if !s.is_empty() && !s.starts_with('-') && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("\"{}\"", printable(s))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Unlock { volume: Some(v) } => write!(f, "unlock {}", shown_word(v)),
            Command::Status { json: true } => f.write_str("status --json"),
            Command::Log { follow: true } => f.write_str("log -f"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn commands() {
        assert_eq!(ok(""), Command::Shell);
        assert_eq!(ok("   "), Command::Shell);
        assert_eq!(ok("unlock"), Command::Unlock { volume: None });
        assert_eq!(
            ok("unlock root"),
            Command::Unlock {
                volume: Some("root".into())
            }
        );
        assert_eq!(ok("status"), Command::Status { json: false });
        assert_eq!(ok("status --json"), Command::Status { json: true });
        assert_eq!(ok("log"), Command::Log { follow: false });
        assert_eq!(ok("log -f"), Command::Log { follow: true });
        assert_eq!(ok("log --follow"), Command::Log { follow: true });
        assert_eq!(ok("dmesg"), Command::Dmesg);
        assert_eq!(ok("continue"), Command::Continue);
        assert_eq!(ok("retry"), Command::Retry);
        assert_eq!(ok("reboot"), Command::Reboot);
        assert_eq!(ok("poweroff"), Command::Poweroff);
        assert_eq!(ok("help"), Command::Help);
        assert_eq!(ok("exit"), Command::Exit);
        assert_eq!(ok("\tstatus\t --json \r\n"), Command::Status { json: true });
    }

    #[test]
    fn aliases_and_paths() {
        assert_eq!(ok("cryptroot-unlock"), Command::Unlock { volume: None });
        assert_eq!(
            ok("/usr/bin/cryptroot-unlock"),
            Command::Unlock { volume: None }
        );
        assert_eq!(
            ok("systemd-tty-ask-password-agent --query --watch"),
            Command::Unlock { volume: None }
        );
        assert_eq!(
            ok("cryptroot-unlock data"),
            Command::Unlock {
                volume: Some("data".into())
            }
        );
        assert_eq!(ok("status --help"), Command::Help);
        assert!(matches!(parse("/"), Err(CommandError::Unknown(_))));
    }

    #[test]
    fn quoting() {
        assert_eq!(
            ok("unlock 'my vol'"),
            Command::Unlock {
                volume: Some("my vol".into())
            }
        );
        assert_eq!(
            ok(r#"unlock "a \"b\" \x""#),
            Command::Unlock {
                volume: Some(r#"a "b" \x"#.into())
            }
        );
        assert_eq!(
            ok(r"unlock a\ b"),
            Command::Unlock {
                volume: Some("a b".into())
            }
        );
        assert_eq!(split("a''b \"\"").unwrap(), vec!["ab", ""]);
    }

    #[test]
    fn errors() {
        let unknown = parse("ls -l").unwrap_err();
        assert_eq!(unknown, CommandError::Unknown("ls".into()));
        assert!(unknown.to_string().contains("help"));
        assert!(matches!(
            parse("unlock a b"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(
            parse("unlock -x"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(
            parse("status --yaml"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(parse("log -n 5"), Err(CommandError::Usage { .. })));
        assert!(matches!(
            parse("reboot now"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(
            parse("systemd-tty-ask-password-agent root"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(
            parse("unlock 'root"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(
            parse("unlock \"root"),
            Err(CommandError::Usage { .. })
        ));
        assert!(matches!(
            parse("unlock root\\"),
            Err(CommandError::Usage { .. })
        ));
        let long = "x".repeat(MAX_LINE + 1);
        assert!(matches!(parse(&long), Err(CommandError::Usage { .. })));
        let e = parse("\u{1b}[2Jevil").unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
        let e = parse(&"y".repeat(500)).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn same_program_and_display() {
        let a = ok("unlock root");
        assert!(a.same_program(&ok("cryptroot-unlock")));
        assert!(!a.same_program(&ok("status")));
        assert_eq!(a.to_string(), "unlock root");
        assert_eq!(ok("status --json").to_string(), "status --json");
        assert_eq!(ok("log -f").to_string(), "log -f");
        assert_eq!(ok("poweroff").to_string(), "poweroff");
    }

    /// Found by the `ssh_command` fuzz target: a quoted volume name holding ` -h ` printed
    /// unquoted and read back as `help`.
    #[test]
    fn a_volume_name_reads_back_as_one_word() {
        let line = "unlock\r'\x13\x13 2444 2\0! 2 -h ''\x0f\u{fffd}\r\r'";
        let cmd = ok(line);
        assert!(matches!(&cmd, Command::Unlock { volume: Some(v) } if v.contains(" -h ")));
        let shown = cmd.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(matches!(ok(&shown), Command::Unlock { volume: Some(v) } if v.contains(" -h ")));
        let long = "v".repeat(100);
        for name in [
            "my vol",
            "",
            "it's",
            r#"a "b""#,
            r"back\slash",
            "x\ty",
            "\u{9c71c}private",
            &long,
        ] {
            let cmd = Command::Unlock {
                volume: Some(name.into()),
            };
            let again = ok(&cmd.to_string());
            assert!(
                matches!(again, Command::Unlock { volume: Some(_) }),
                "{name:?}: {again:?}"
            );
        }
        assert_eq!(ok(r#"unlock "my vol""#).to_string(), r#"unlock "my vol""#);
        assert_eq!(ok("unlock ''").to_string(), r#"unlock """#);
    }
}
