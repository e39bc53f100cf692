//! `from="…"` in authorized_keys: OpenSSH's pattern-list (`*` and `?` wildcards, `!`
//! negation) and CIDR blocks (IPv4 and IPv6), parsed once and matched against the client's
//! address. The initramfs resolves no names, so a host-name pattern can never match; it is
//! kept (OpenSSH accepts it) and reported so the operator knows.

use std::net::IpAddr;

/// A parsed `from=` pattern list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromList {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    negated: bool,
    pattern: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// An address or a CIDR block (an address is a block of full length).
    Net { addr: IpAddr, prefix: u8 },
    /// A wildcard pattern matched against the address text, lower case.
    Wildcard(String),
}

/// Why a `from=` list was refused. The key that carries it is refused too: a typo in a
/// restriction must neither widen nor silently narrow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FromError {
    #[error("the pattern list is empty")]
    Empty,
    #[error("an entry is empty (two commas in a row, a comma at an end, or a lone `!`)")]
    EmptyEntry,
    #[error("`{0}`: a CIDR block is an address and a prefix length (10.0.0.0/8, 2001:db8::/32)")]
    BadCidr(String),
    #[error("`{entry}`: /{prefix} is longer than the address ({max} bits)")]
    PrefixTooLong { entry: String, prefix: u8, max: u8 },
    #[error("`{entry}`: bits are set past the prefix length; the block is {network}")]
    HostBits { entry: String, network: String },
    #[error(
        "`{0}`: a pattern holds only letters, digits, `.`, `:`, `-`, `_`, `*` and `?` (no spaces)"
    )]
    BadChar(String),
}

/// Longest list accepted (OpenSSH has no limit; this keeps matching cheap).
const MAX_ENTRIES: usize = 256;

/// Parses a pattern list such as `10.0.0.0/8,!10.0.0.5,192.168.1.*,2001:db8::/32`.
pub fn parse(list: &str) -> Result<FromList, FromError> {
    if list.is_empty() {
        return Err(FromError::Empty);
    }
    let mut entries = Vec::new();
    for raw in list.split(',') {
        if entries.len() == MAX_ENTRIES {
            return Err(FromError::BadChar(format!(
                "more than {MAX_ENTRIES} entries"
            )));
        }
        let (negated, body) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        if body.is_empty() {
            return Err(FromError::EmptyEntry);
        }
        entries.push(Entry {
            negated,
            pattern: parse_pattern(body)?,
        });
    }
    Ok(FromList { entries })
}

fn parse_pattern(body: &str) -> Result<Pattern, FromError> {
    if let Some((addr, prefix)) = body.split_once('/') {
        let bad = || FromError::BadCidr(printable(body));
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = max_prefix(addr);
        if prefix > max {
            return Err(FromError::PrefixTooLong {
                entry: printable(body),
                prefix,
                max,
            });
        }
        let network = mask(addr, prefix);
        if network != addr {
            return Err(FromError::HostBits {
                entry: printable(body),
                network: format!("{network}/{prefix}"),
            });
        }
        return Ok(Pattern::Net { addr, prefix });
    }
    if let Ok(addr) = body.parse::<IpAddr>() {
        return Ok(Pattern::Net {
            addr,
            prefix: max_prefix(addr),
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".:-_*?".contains(c);
    if !body.chars().all(allowed) {
        return Err(FromError::BadChar(printable(body)));
    }
    Ok(Pattern::Wildcard(body.to_ascii_lowercase()))
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The entry as shown in an error: control characters escaped, at most 64 characters.
fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_debug).collect()
}

impl FromList {
    /// Whether `ip` may log in: some positive entry matches and no negated one does
    /// (a negated match always wins, as in OpenSSH). IPv4-mapped IPv6 addresses are
    /// matched as IPv4.
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let text = ip.to_string();
        let mut positive = false;
        for e in &self.entries {
            let hit = match &e.pattern {
                Pattern::Net { addr, prefix } => {
                    max_prefix(*addr) == max_prefix(ip) && mask(ip, *prefix) == *addr
                }
                Pattern::Wildcard(p) => wildcard_match(p, &text),
            };
            if hit {
                if e.negated {
                    return false;
                }
                positive = true;
            }
        }
        positive
    }

    /// Patterns that name hosts rather than addresses (`*.example.com`): they never match
    /// here, since the initramfs resolves no names.
    pub fn host_name_patterns(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| match &e.pattern {
                Pattern::Wildcard(p)
                    if p.chars().any(|c| {
                        c.is_ascii_alphabetic() && !c.is_ascii_hexdigit() || c == '-' || c == '_'
                    }) =>
                {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect()
    }
}

/// OpenSSH's `match_pattern`: `*` matches any run (also empty), `?` one character;
/// ASCII case is ignored.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was and where in the text it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn m(list: &str, addr: &str) -> bool {
        parse(list).unwrap().matches(ip(addr))
    }

    #[test]
    fn single_addresses_and_wildcards() {
        assert!(m("10.0.2.2", "10.0.2.2"));
        assert!(!m("10.0.2.2", "10.0.2.3"));
        assert!(m("10.0.2.*", "10.0.2.200"));
        assert!(!m("10.0.2.*", "10.0.3.2"));
        assert!(m("10.0.?.2", "10.0.7.2"));
        assert!(!m("10.0.?.2", "10.0.77.2"));
        assert!(m("*", "2001:db8::1"));
        assert!(m("2001:DB8::*", "2001:db8::42"));
        assert!(m("192.168.1.1,10.0.0.1", "10.0.0.1"));
    }

    #[test]
    fn cidr_v4_and_v6() {
        assert!(m("10.0.0.0/8", "10.255.1.2"));
        assert!(!m("10.0.0.0/8", "11.0.0.1"));
        assert!(m("0.0.0.0/0", "203.0.113.9"));
        assert!(
            !m("0.0.0.0/0", "2001:db8::1"),
            "a v4 block never matches v6"
        );
        assert!(m("192.168.1.128/25", "192.168.1.200"));
        assert!(!m("192.168.1.128/25", "192.168.1.100"));
        assert!(m("2001:db8::/32", "2001:db8:ffff::1"));
        assert!(!m("2001:db8::/32", "2001:db9::1"));
        assert!(m("::/0", "::1"));
        assert!(m("fe80::1/128", "fe80::1"));
    }

    #[test]
    fn v4_mapped_clients_match_v4_patterns() {
        assert!(m("127.0.0.0/8", "::ffff:127.0.0.1"));
        assert!(m("127.0.0.*", "::ffff:127.0.0.1"));
    }

    #[test]
    fn negation_wins_and_needs_a_positive() {
        assert!(!m("10.0.0.0/8,!10.0.0.5", "10.0.0.5"));
        assert!(m("10.0.0.0/8,!10.0.0.5", "10.0.0.6"));
        assert!(
            !m("!10.0.0.5,10.0.0.0/8", "10.0.0.5"),
            "order does not matter"
        );
        assert!(!m("!10.0.0.5", "10.0.0.6"), "only negations match nothing");
        assert!(!m("*,!2001:db8::/32", "2001:db8::1"));
    }

    #[test]
    fn malformed_lists() {
        assert_eq!(parse(""), Err(FromError::Empty));
        assert_eq!(parse("10.0.0.1,,10.0.0.2"), Err(FromError::EmptyEntry));
        assert_eq!(parse("10.0.0.1,"), Err(FromError::EmptyEntry));
        assert_eq!(parse("!"), Err(FromError::EmptyEntry));
        assert!(matches!(
            parse("10.0.0.0/33"),
            Err(FromError::PrefixTooLong { .. })
        ));
        assert!(matches!(
            parse("::/129"),
            Err(FromError::PrefixTooLong { .. })
        ));
        assert!(matches!(parse("10.0.0.0/"), Err(FromError::BadCidr(_))));
        assert!(matches!(parse("10.0.0.0/-1"), Err(FromError::BadCidr(_))));
        assert!(matches!(parse("10.0.0.*/8"), Err(FromError::BadCidr(_))));
        assert!(matches!(parse("10.0.0.0/8/8"), Err(FromError::BadCidr(_))));
        let e = parse("10.0.0.1/8").unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
        assert!(matches!(
            parse("10.0.0.1, 10.0.0.2"),
            Err(FromError::BadChar(_))
        ));
        assert!(matches!(parse("a\"b"), Err(FromError::BadChar(_))));
        assert!(matches!(parse("\u{1b}[31m"), Err(FromError::BadChar(_))));
        let e = parse("10.0.0.0/8\u{1b}[2J").unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn host_names_are_reported_and_never_match() {
        let l = parse("*.example.com,10.0.0.1,fe80::*").unwrap();
        assert_eq!(l.host_name_patterns(), vec!["*.example.com".to_string()]);
        assert!(!l.matches(ip("10.0.0.2")));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("*.*.*.1", "10.0.0.1"));
        assert!(wildcard_match("**?", "x"));
        assert!(!wildcard_match("?", ""));
        assert!(wildcard_match("AbC", "aBc"));
    }
}
