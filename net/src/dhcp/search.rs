//! Domain names from a lease: option 119 (domain search list, RFC 3397, in DNS wire
//! format with compression pointers) and option 15 (domain name). Names end up in
//! `/etc/resolv.conf`, so only plain host-name characters are accepted. Pure.

use std::fmt;

/// Why an option 119 value was not used (the whole option is then ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    Truncated {
        at: usize,
    },
    /// A compression pointer that does not point before the stretch it is in (a loop,
    /// or a forward reference).
    BadPointer {
        at: usize,
        to: usize,
    },
    /// The 0x40/0x80 label types (extended/reserved).
    BadLabelType {
        at: usize,
    },
    TooLong,
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::Truncated { at } => write!(f, "name at byte {at} is truncated"),
            SearchError::BadPointer { at, to } => {
                write!(
                    f,
                    "compression pointer at byte {at} to byte {to} is not backwards"
                )
            }
            SearchError::BadLabelType { at } => write!(f, "unknown label type at byte {at}"),
            SearchError::TooLong => write!(f, "a name is longer than 255 bytes"),
        }
    }
}

/// Decodes option 119 (the concatenated value). Pointers are offsets into that value
/// (RFC 3397 §2) and must point before the name (or the stretch last jumped to) they
/// are in, which rules out loops.
/// Names with characters unfit for `resolv.conf` are dropped; duplicates too.
pub fn decode_search(data: &[u8]) -> Result<Vec<String>, SearchError> {
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let (name, next) = read_name(data, i)?;
        i = next;
        if valid_domain(&name) && !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Reads one name starting at `start`; returns it (no trailing dot) and the offset
/// after it in the uncompressed stream.
fn read_name(data: &[u8], start: usize) -> Result<(String, usize), SearchError> {
    let mut labels: Vec<String> = Vec::new();
    let mut wire_len = 0usize;
    let mut pos = start;
    let mut resume: Option<usize> = None;
    // Every jump must land before the start of the stretch it jumps from, so the
    // jumps strictly decrease and the walk ends.
    let mut limit = start;
    loop {
        let len = *data.get(pos).ok_or(SearchError::Truncated { at: pos })?;
        match len & 0xC0 {
            0xC0 => {
                let low = *data
                    .get(pos + 1)
                    .ok_or(SearchError::Truncated { at: pos })?;
                let to = usize::from(len & 0x3F) << 8 | usize::from(low);
                if to >= limit {
                    return Err(SearchError::BadPointer { at: pos, to });
                }
                resume.get_or_insert(pos + 2);
                pos = to;
                limit = to;
            }
            0x00 if len == 0 => {
                let next = resume.unwrap_or(pos + 1);
                return Ok((labels.join("."), next));
            }
            0x00 => {
                let label = data
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(SearchError::Truncated { at: pos })?;
                wire_len += 1 + label.len();
                if wire_len > 254 {
                    return Err(SearchError::TooLong);
                }
                labels.push(String::from_utf8_lossy(label).into_owned());
                pos += 1 + usize::from(len);
            }
            _ => return Err(SearchError::BadLabelType { at: pos }),
        }
    }
}

/// A domain fit for `resolv.conf`: labels of letters, digits, `-` and `_`, at most 63
/// bytes each, 253 in all; a trailing dot is not accepted here (strip it first).
pub fn valid_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Option 15: the first valid domain of the (possibly space-separated) value.
pub fn domain_name(text: &str) -> Option<String> {
    text.split_ascii_whitespace()
        .map(|d| d.strip_suffix('.').unwrap_or(d))
        .find(|d| valid_domain(d))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3397_example_with_compression() {
        // RFC 3397 §3: eng.apple.com. and marketing.apple.com., the second compressed.
        let data = [
            3, b'e', b'n', b'g', 5, b'a', b'p', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 9, b'm',
            b'a', b'r', b'k', b'e', b't', b'i', b'n', b'g', 0xC0, 4,
        ];
        assert_eq!(
            decode_search(&data),
            Ok(vec!["eng.apple.com".into(), "marketing.apple.com".into()])
        );
    }

    #[test]
    fn pointer_to_a_whole_earlier_name_and_duplicates() {
        let data = [3, b'l', b'a', b'n', 0, 0xC0, 0, 1, b'x', 0xC0, 0];
        assert_eq!(decode_search(&data), Ok(vec!["lan".into(), "x.lan".into()]));
    }

    #[test]
    fn loops_and_forward_pointers_are_rejected() {
        // A pointer to itself.
        assert_eq!(
            decode_search(&[0xC0, 0]),
            Err(SearchError::BadPointer { at: 0, to: 0 })
        );
        // Two names pointing at each other: the forward one is caught.
        let data = [1, b'a', 0xC0, 4, 1, b'b', 0xC0, 0];
        assert_eq!(
            decode_search(&data),
            Err(SearchError::BadPointer { at: 2, to: 4 })
        );
        // A label then a pointer back to it: a loop.
        assert_eq!(
            decode_search(&[1, b'a', 0xC0, 0]),
            Err(SearchError::BadPointer { at: 2, to: 0 })
        );
        // Backwards into the middle of a pointer: still terminates.
        let data = [1, b'a', 0, 0xC0, 0, 0xC0, 4];
        assert!(decode_search(&data).is_ok());
    }

    #[test]
    fn truncation_and_label_types() {
        assert_eq!(
            decode_search(&[3, b'l', b'a']),
            Err(SearchError::Truncated { at: 0 })
        );
        assert_eq!(
            decode_search(&[3, b'l', b'a', b'n']),
            Err(SearchError::Truncated { at: 4 })
        );
        assert_eq!(
            decode_search(&[0xC0]),
            Err(SearchError::Truncated { at: 0 })
        );
        assert_eq!(
            decode_search(&[0x40, 1]),
            Err(SearchError::BadLabelType { at: 0 })
        );
        assert_eq!(decode_search(&[]), Ok(vec![]));
    }

    #[test]
    fn overlong_names_are_rejected() {
        let mut data = Vec::new();
        for _ in 0..5 {
            data.push(63);
            data.extend_from_slice(&[b'a'; 63]);
        }
        data.push(0);
        assert_eq!(decode_search(&data), Err(SearchError::TooLong));
    }

    #[test]
    fn unsafe_names_are_dropped() {
        // "a b" and "x\nnameserver" must never reach resolv.conf.
        let data = [3, b'a', b' ', b'b', 0, 2, b'x', b'\n', 0, 2, b'o', b'k', 0];
        assert_eq!(decode_search(&data), Ok(vec!["ok".into()]));
        // The root name (empty) is dropped too.
        assert_eq!(decode_search(&[0]), Ok(vec![]));
    }

    #[test]
    fn option_15() {
        assert_eq!(domain_name("example.com."), Some("example.com".into()));
        assert_eq!(domain_name("b@d ok.lan"), Some("ok.lan".into()));
        assert_eq!(domain_name("a..b"), None);
        assert_eq!(domain_name(""), None);
    }
}
