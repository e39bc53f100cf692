//! fnmatch(3)-style matching of `modules.alias` patterns (`*`, `?`, `[…]`, `\`), as
//! kmod does it, without recursion so hostile patterns cannot blow the stack.

/// True when `text` matches `pattern` entirely.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, text index it matched up to).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class_match(&p, pi, t[ti]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                // An unterminated `[` is a literal.
                None => (t[ti] == '[').then_some(1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(2),
            Some(&c) => (c == t[ti]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket expression starting at `p[start] == '['`.
/// Returns (matched, length of the expression), or None if it is not terminated.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    Some((matched != negate, i + 1 - start))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn literals_and_wildcards() {
        assert!(glob_match("fs-xfs", "fs-xfs"));
        assert!(!glob_match("fs-xfs", "fs-xf"));
        assert!(!glob_match("fs-xf", "fs-xfs"));
        assert!(glob_match("*", ""));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("crypto-xts(*)", "crypto-xts(aes)"));
    }

    #[test]
    fn modaliases() {
        let pat = "pci:v00001AF4d*sv*sd*bc*sc*i*";
        assert!(glob_match(
            pat,
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        assert!(!glob_match(
            pat,
            "pci:v00008086d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        let usb = "usb:v*p*d*dc*dsc*dp*ic03isc*ip*in*";
        assert!(glob_match(
            usb,
            "usb:v046DpC52Bd1201dc00dsc00dp00ic03isc01ip01in00"
        ));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(glob_match("acpi*:PNP0[Aa]0[38]:*", "acpi:PNP0A08:"));
        assert!(glob_match("x[!a]y", "xby"));
        assert!(!glob_match("x[!a]y", "xay"));
        assert!(glob_match("x[^a]y", "xby"));
        assert!(glob_match("[a-c]", "b"));
        assert!(!glob_match("[a-c]", "d"));
        assert!(glob_match("[]]", "]"));
        assert!(glob_match("[a-]", "-"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "aXb"));
        // Unterminated bracket: a literal `[`.
        assert!(glob_match("a[b", "a[b"));
        assert!(!glob_match("a[b", "ab"));
    }

    #[test]
    fn hostile_patterns_finish() {
        let pat = "*a".repeat(200);
        let text = "a".repeat(5000) + "b";
        assert!(!glob_match(&pat, &text));
    }
}
