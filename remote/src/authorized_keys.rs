//! `authorized_keys`: which public keys may log in, parsed line by line (the key with the
//! ssh-key crate; the options field split off as sshd does, quotes and all) so a bad line
//! is reported with its number and the others still count. The options are interpreted
//! by [`crate::options`].

use russh::keys::{HashAlg, PublicKey};

/// One accepted key.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    pub key: PublicKey,
    /// The options field as written (`command="unlock",no-pty`), empty if none.
    pub options: String,
    /// 1-based line number in the file.
    pub line: usize,
}

impl AuthorizedKey {
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// A line that is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// Parses an authorized_keys text. Blank lines and `#` comments are skipped.
pub fn parse(text: &str) -> (Vec<AuthorizedKey>, Vec<LineError>) {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok((options, key)) => keys.push(AuthorizedKey {
                key,
                options: options.to_string(),
                line: i + 1,
            }),
            Err(reason) => errors.push(LineError {
                line: i + 1,
                reason,
            }),
        }
    }
    (keys, errors)
}

/// One line: `[options] type base64 [comment]`. As sshd does, a line that is not a key
/// starts with options, which end at the first blank outside double quotes.
fn parse_line(line: &str) -> Result<(&str, PublicKey), String> {
    let not_a_key = |e: &dyn std::fmt::Display| {
        format!("not a public key ({e}); expected `[options] ssh-ed25519 AAAA… [comment]`")
    };
    let first_error = match PublicKey::from_openssh(line) {
        Ok(key) => return Ok(("", key)),
        Err(e) => e,
    };
    let Some((options, rest)) = split_options(line)? else {
        return Err(not_a_key(&first_error));
    };
    let key = PublicKey::from_openssh(rest.trim_start()).map_err(|e| not_a_key(&e))?;
    Ok((options, key))
}

/// Splits `options rest` at the first blank outside double quotes (`\"` inside quotes is
/// a quote). None when there is no blank.
fn split_options(line: &str) -> Result<Option<(&str, &str)>, String> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Ok(Some((&line[..i], &line[i + 1..]))),
            _ => {}
        }
    }
    if quoted {
        return Err("the options have an unterminated double quote".into());
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";

    #[test]
    fn keys_options_comments_and_bad_lines() {
        let text = format!(
            "# operators\n\n{ED} alice@laptop\ncommand=\"unlock\",no-pty {ED} robot\nnot a key\nssh-ed25519 AAAAnotbase64!!\n"
        );
        let (keys, errors) = parse(&text);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].line, 3);
        assert_eq!(keys[0].options, "");
        assert_eq!(keys[1].options, "command=\"unlock\",no-pty");
        assert!(keys[0].fingerprint().starts_with("SHA256:"));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 5);
        assert!(errors[0].to_string().contains("line 5"));
        assert_eq!(errors[1].line, 6);
    }

    #[test]
    fn options_without_comment_and_with_quoted_blanks() {
        let text = format!(
            "restrict {ED}\ncommand=\"unlock root\",from=\"10.0.0.0/8\" {ED} a comment\ncert-authority\t{ED}\ncommand=\"say \\\"a b\\\"\" {ED}\n{ED} comment with spaces\ncommand=\"open {ED}\n"
        );
        let (keys, errors) = parse(&text);
        let opts: Vec<&str> = keys.iter().map(|k| k.options.as_str()).collect();
        assert_eq!(
            opts,
            vec![
                "restrict",
                "command=\"unlock root\",from=\"10.0.0.0/8\"",
                "cert-authority",
                "command=\"say \\\"a b\\\"\"",
                ""
            ]
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 6);
        assert!(
            errors[0].reason.contains("unterminated"),
            "{}",
            errors[0].reason
        );
    }

    #[test]
    fn empty_and_junk() {
        assert!(parse("").0.is_empty());
        let (k, e) = parse("\u{0}\u{1}\u{2}\n\t\n#x");
        assert!(k.is_empty());
        assert_eq!(e.len(), 1);
    }
}
