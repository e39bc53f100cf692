//! `authorized_keys`: which public keys may log in, parsed line by line with the ssh-key
//! crate so a bad line is reported with its number and the others still count.

use std::str::FromStr;

use russh::keys::ssh_key::authorized_keys::Entry;
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
        match Entry::from_str(line) {
            Ok(entry) => keys.push(AuthorizedKey {
                key: entry.public_key().clone(),
                options: entry.config_opts().as_str().to_string(),
                line: i + 1,
            }),
            Err(e) => errors.push(LineError {
                line: i + 1,
                reason: format!(
                    "not a public key ({e}); expected `[options] ssh-ed25519 AAAA… [comment]`"
                ),
            }),
        }
    }
    (keys, errors)
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
    fn empty_and_junk() {
        assert!(parse("").0.is_empty());
        let (k, e) = parse("\u{0}\u{1}\u{2}\n\t\n#x");
        assert!(k.is_empty());
        assert_eq!(e.len(), 1);
    }
}
