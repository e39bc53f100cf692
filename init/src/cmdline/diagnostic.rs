//! `Diagnostic`: what sesame says about a command-line word it could not use (or used
//! only in part): the word, the reason, and the fix. Its `Display` is safe to print on
//! a console whatever the word holds: long words are cut on a character boundary and
//! control characters are escaped.

use std::fmt;

use serde::Serialize;

/// A problem with one command-line word. The boot goes on regardless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The word as written on the command line.
    pub word: String,
    /// What was left out.
    pub ignored: Ignored,
    pub reason: String,
    /// What to write instead.
    pub fix: String,
}

/// What a diagnostic left out of its word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ignored {
    /// The whole word.
    Word,
    /// Only this part of it; the rest was used.
    Part(String),
    /// Nothing: the word was used as written, and this is a warning about it.
    Nothing,
}

impl Diagnostic {
    /// The whole word is ignored.
    pub(crate) fn word(raw: &str, reason: impl Into<String>, fix: impl Into<String>) -> Self {
        Diagnostic {
            word: raw.to_string(),
            ignored: Ignored::Word,
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    /// Part of the word (`None`: nothing) is ignored, the rest used.
    pub(crate) fn note(
        raw: &str,
        part: Option<&str>,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Diagnostic {
            word: raw.to_string(),
            ignored: part.map_or(Ignored::Nothing, |p| Ignored::Part(p.to_string())),
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// "ignoring `<word>`: <reason>; <fix>", or "ignoring `<part>` in `<word>`: …", or
    /// "`<word>`: …" when nothing was ignored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = shorten(&self.word, 80);
        match &self.ignored {
            Ignored::Word => write!(f, "ignoring `{word}`")?,
            Ignored::Part(p) => write!(f, "ignoring `{}` in `{word}`", shorten(p, 48))?,
            Ignored::Nothing => write!(f, "`{word}`")?,
        }
        // The reason and fix quote user text already cut short; this bounds them anyway.
        write!(
            f,
            ": {}; {}",
            shorten(&self.reason, 400),
            shorten(&self.fix, 400)
        )
    }
}

/// `s` in at most `max` printed characters, control characters escaped (an escape such
/// as `\u{15}` counts for all its characters, so junk cannot blow the bound up), with `…`
/// and the full length in bytes when it was cut. Never splits a character or an escape.
pub fn shorten(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut printed = 0;
    for c in s.chars() {
        let mut piece = String::new();
        push_escaped(&mut piece, c);
        let width = piece.chars().count();
        if printed + width > max {
            out.push_str(&format!("… ({} bytes)", s.len()));
            break;
        }
        printed += width;
        out.push_str(&piece);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let d = Diagnostic::word(
            "rd.timeout=abc",
            "`abc` is not a number",
            "write rd.timeout=<seconds>",
        );
        assert_eq!(
            d.to_string(),
            "ignoring `rd.timeout=abc`: `abc` is not a number; write rd.timeout=<seconds>"
        );
        let d = Diagnostic::note("ip=eth0:dhcp:x", Some("x"), "not an MTU", "write a number");
        assert_eq!(
            d.to_string(),
            "ignoring `x` in `ip=eth0:dhcp:x`: not an MTU; write a number"
        );
        let d = Diagnostic::note("ip=10.0.0.5", None, "no netmask", "give one");
        assert_eq!(d.to_string(), "`ip=10.0.0.5`: no netmask; give one");
    }

    #[test]
    fn long_and_binary_words_are_shown_safely() {
        let long = format!("root={}", "é".repeat(10_000));
        let text = Diagnostic::word(&long, "r", "f").to_string();
        assert!(text.len() < 300, "{}", text.len());
        assert!(text.contains(&format!("({} bytes)", long.len())));
        let text = Diagnostic::word("a\u{1b}[2Jb\u{0}\n\u{7f}", "r\n", "f\r").to_string();
        assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        assert!(text.contains("\\u{1b}"), "{text}");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc… (4 bytes)");
        assert_eq!(shorten("", 3), "");
        // Escapes count for what they print: 400 control characters stay within the bound.
        let junk = "\u{15}".repeat(400);
        let short = shorten(&junk, 20);
        assert_eq!(short, "\\u{15}\\u{15}\\u{15}… (400 bytes)");
        assert_eq!(shorten("a\tb", 4), "a\\tb");
        assert_eq!(shorten("a\tb", 3), "a\\t… (3 bytes)");
    }
}
