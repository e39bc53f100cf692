//! Splitting the kernel command line into words exactly as the kernel's `next_arg()`
//! (lib/cmdline.c) and `parse_args()` (kernel/params.c) do:
//!
//! - words are separated by whitespace (the kernel's `isspace`: space, `\t`, `\n`, `\v`,
//!   `\f`, `\r`, and the Latin-1 no-break space 0xA0);
//! - a double quote toggles "inside quotes", where whitespace does not separate; quotes
//!   cannot be escaped; an unterminated quote runs to the end of the line;
//! - `key=value` splits at the first `=` (one at the very start of a word does not
//!   count, as in the kernel); a word starting with `"` loses that quote and its last
//!   character if that is `"`; a value starting with `"` loses that quote and the
//!   word's last character if that is `"`; no other quote is removed;
//! - a bare `--` ends the kernel's parameters: the words after it are init's
//!   arguments, rebuilt as `key=value` the way `repair_env_string()` does, up to a
//!   second `--`;
//! - a NUL byte ends the line (the kernel's command line is a C string).
//!
//! One deliberate difference: the kernel compares bytes, so it also splits at the byte
//! 0xA0 inside a UTF-8 character such as `à` (C3 A0). Here a character is never cut:
//! U+00A0 (a no-break space pasted from a web page) separates words like the kernel's
//! byte does, a lone 0xA0 byte in non-UTF-8 input too, but `à` stays whole, as for
//! systemd and dracut, which read /proc/cmdline in user space.

use serde::Serialize;

/// One word of the command line before `--`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Word {
    pub key: String,
    /// `None` for a word without `=` (a flag such as `ro` or `rd.break`).
    pub value: Option<String>,
    /// The word as written, quotes included.
    pub raw: String,
}

/// A whole command line, split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    /// The kernel's parameters: every word before `--`.
    pub words: Vec<Word>,
    /// The words after `--`: the arguments the kernel passes to init.
    pub init_args: Vec<String>,
}

/// Splits a command line (as read with `String::from_utf8_lossy`) into words.
pub fn split(line: &str) -> Split {
    split_units(&line.chars().map(Unit::Char).collect::<Vec<_>>())
}

/// Splits raw command-line bytes; bytes that are not UTF-8 become U+FFFD in the words.
pub fn split_bytes(bytes: &[u8]) -> Split {
    let mut units = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        units.extend(chunk.valid().chars().map(Unit::Char));
        units.extend(chunk.invalid().iter().map(|&b| Unit::Byte(b)));
    }
    split_units(&units)
}

/// The words before `--` of a command line.
pub fn split_words(line: &str) -> Vec<Word> {
    split(line).words
}

/// The words before `--` of raw command-line bytes.
pub fn split_words_bytes(bytes: &[u8]) -> Vec<Word> {
    split_bytes(bytes).words
}

/// A character, or a byte that was not part of valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Char(char),
    Byte(u8),
}

impl Unit {
    fn is_space(self) -> bool {
        match self {
            Unit::Char(c) => matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{a0}'),
            Unit::Byte(b) => b == 0xa0,
        }
    }

    fn is(self, c: char) -> bool {
        self == Unit::Char(c)
    }
}

fn text(units: &[Unit]) -> String {
    units
        .iter()
        .map(|u| match u {
            Unit::Char(c) => *c,
            Unit::Byte(_) => char::REPLACEMENT_CHARACTER,
        })
        .collect()
}

fn split_units(units: &[Unit]) -> Split {
    let end = units.iter().position(|u| u.is('\0')).unwrap_or(units.len());
    let mut rest = skip_spaces(&units[..end]);
    let mut out = Split::default();
    let mut after_dashes = false;
    while !rest.is_empty() {
        let (word, next) = next_arg(rest);
        rest = next;
        let dashes = word.value.is_none() && word.key == "--";
        match (after_dashes, dashes) {
            (false, true) => after_dashes = true,
            (false, false) => out.words.push(word),
            // A second `--` ends init's arguments too (parse_args stops there).
            (true, true) => break,
            (true, false) => out.init_args.push(match word.value {
                Some(v) => format!("{}={v}", word.key),
                None => word.key,
            }),
        }
    }
    out
}

fn skip_spaces(units: &[Unit]) -> &[Unit] {
    let n = units.iter().take_while(|u| u.is_space()).count();
    &units[n..]
}

/// The kernel's `next_arg()`: one word from the start of `args` (which does not start
/// with whitespace), and what follows it with leading whitespace skipped.
fn next_arg(args: &[Unit]) -> (Word, &[Unit]) {
    let quoted = args.first().is_some_and(|u| u.is('"'));
    let a = if quoted { &args[1..] } else { args };
    let mut in_quote = quoted;
    let mut equals = 0;
    let mut i = 0;
    while i < a.len() {
        if a[i].is_space() && !in_quote {
            break;
        }
        if equals == 0 && a[i].is('=') {
            equals = i;
        }
        if a[i].is('"') {
            in_quote = !in_quote;
        }
        i += 1;
    }
    // Where the kernel writes its NULs: after the key, and over trailing quotes.
    let mut end = i;
    let (key, value) = if equals == 0 {
        if quoted && i > 0 && a[i - 1].is('"') {
            end = i - 1;
        }
        (text(&a[..end]), None)
    } else {
        let mut start = equals + 1;
        if start < i && a[start].is('"') {
            start += 1;
            if a[i - 1].is('"') {
                end = i - 1;
            }
        }
        if quoted && a[i - 1].is('"') {
            end = i - 1;
        }
        (
            text(&a[..equals]),
            Some(text(a.get(start..end.max(start)).unwrap_or(&[]))),
        )
    };
    let raw_len = usize::from(quoted) + i;
    let word = Word {
        key,
        value,
        raw: text(&args[..raw_len]),
    };
    let next = if i < a.len() { &a[i + 1..] } else { &a[i..] };
    (word, skip_spaces(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(key: &str, value: Option<&str>) -> (String, Option<String>) {
        (key.to_string(), value.map(String::from))
    }

    fn kv(line: &str) -> Vec<(String, Option<String>)> {
        split_words(line)
            .into_iter()
            .map(|w| (w.key, w.value))
            .collect()
    }

    #[test]
    fn plain_words() {
        assert_eq!(kv(""), vec![]);
        assert_eq!(kv("   \t\n "), vec![]);
        assert_eq!(
            kv("  root=/dev/vda2 ro  quiet\tip=dhcp\n"),
            vec![
                w("root", Some("/dev/vda2")),
                w("ro", None),
                w("quiet", None),
                w("ip", Some("dhcp"))
            ]
        );
        assert_eq!(
            kv("a= =b c==d"),
            vec![w("a", Some("")), w("=b", None), w("c", Some("=d"))]
        );
        // An `=` at the very start does not count (the kernel's `equals == 0`).
        assert_eq!(kv("=a=b"), vec![w("=a", Some("b"))]);
        assert_eq!(
            kv("\u{b}x\u{c}y\rz"),
            vec![w("x", None), w("y", None), w("z", None)]
        );
    }

    #[test]
    fn quotes() {
        assert_eq!(kv(r#"a="b c" d"#), vec![w("a", Some("b c")), w("d", None)]);
        assert_eq!(kv(r#""a=b c" d"#), vec![w("a", Some("b c")), w("d", None)]);
        assert_eq!(kv(r#""a b""#), vec![w("a b", None)]);
        // Only the outer quotes go.
        assert_eq!(kv(r#"a="b"c"d""#), vec![w("a", Some(r#"b"c"d"#))]);
        assert_eq!(kv(r#"a=b"c d"e"#), vec![w("a", Some(r#"b"c d"e"#))]);
        assert_eq!(kv(r#"a"b c"=d"#), vec![w(r#"a"b c""#, Some("d"))]);
        assert_eq!(kv(r#""""#), vec![w("", None)]);
        assert_eq!(kv(r#"a="""#), vec![w("a", Some(""))]);
        assert_eq!(kv(r#"a=""#), vec![w("a", Some(""))]);
        assert_eq!(kv(r#""a=""#), vec![w("a", Some(""))]);
        // Unterminated: the rest of the line is one word.
        assert_eq!(
            kv(r#"root="/dev/sda1 ro quiet"#),
            vec![w("root", Some("/dev/sda1 ro quiet"))]
        );
        assert_eq!(kv(r#"x "y z"#), vec![w("x", None), w("y z", None)]);
        assert_eq!(kv(r#"""#), vec![w("", None)]);
        assert_eq!(kv(r#"a b""#), vec![w("a", None), w("b\"", None)]);
        let words = split_words(r#" "a=b c"  d"#);
        assert_eq!(words[0].raw, r#""a=b c""#);
        assert_eq!(words[1].raw, "d");
    }

    #[test]
    fn dashes() {
        let s = split(r#"root=/dev/vda ro -- single "x=y z" -v -- after"#);
        assert_eq!(s.words.len(), 2);
        assert_eq!(s.init_args, vec!["single", "x=y z", "-v"]);
        let s = split("a -- ");
        assert_eq!((s.words.len(), s.init_args.len()), (1, 0));
        // Only a bare `--` counts; a quoted one too, as in the kernel.
        let s = split(r#"--=x "--" b"#);
        assert_eq!(s.words.len(), 1);
        assert_eq!(s.init_args, vec!["b"]);
        assert_eq!(split("a --x b").words.len(), 3);
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(kv("a b\0c d"), vec![w("a", None), w("b", None)]);
        assert_eq!(split_words_bytes(b"a\0b").len(), 1);
    }

    #[test]
    fn no_break_space_and_bytes() {
        // U+00A0 pasted from a web page separates words, as the kernel's 0xA0 byte does.
        assert_eq!(kv("ro\u{a0}quiet"), vec![w("ro", None), w("quiet", None)]);
        // …but characters are never cut: `à` is C3 A0.
        assert_eq!(
            kv("root=LABEL=voilà ro"),
            vec![w("root", Some("LABEL=voilà")), w("ro", None)]
        );
        // Raw bytes: a lone 0xA0 separates, other invalid bytes become U+FFFD.
        assert_eq!(
            split_words_bytes(b"a\xa0b c=\xff\xfe d")
                .into_iter()
                .map(|w| (w.key, w.value))
                .collect::<Vec<_>>(),
            vec![
                w("a", None),
                w("b", None),
                w("c", Some("\u{fffd}\u{fffd}")),
                w("d", None)
            ]
        );
        assert_eq!(
            split_words_bytes("root=LABEL=voilà".as_bytes())[0]
                .value
                .as_deref(),
            Some("LABEL=voilà")
        );
    }

    #[test]
    fn never_panics() {
        let pieces = ["", " ", "\"", "=", "a", "--", "\u{a0}", "é", "\0", "\t\""];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let line = format!("{a}{b}{c}{d}{b}");
                        let _ = split(&line);
                        let _ = split_bytes(line.as_bytes());
                    }
                }
            }
        }
        let _ = split_bytes(&[0xa0, b'"', 0xc3, 0xa0, b'=', 0xa0, 0xff]);
    }
}
