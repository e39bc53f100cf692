//! `Passphrase`: key material in a zeroizing buffer. It cannot be printed: `Debug` says
//! `Passphrase(<redacted>)` and there is no `Display`; the bytes leave only through
//! [`Passphrase::as_bytes`], to libcryptsetup or the kernel keyring.

use std::fmt;

use zeroize::Zeroizing;

/// A passphrase or the contents of a key file. Wiped from memory when dropped; clones
/// are wiped too.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Takes the bytes as they are (no newline is stripped); the vector is wiped when the
    /// passphrase is dropped.
    pub fn from_bytes(bytes: Vec<u8>) -> Passphrase {
        Passphrase(Zeroizing::new(bytes))
    }

    /// Copies `s` into a zeroizing buffer; wiping `s` itself is the caller's business.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(s: &str) -> Passphrase {
        Passphrase::from_bytes(s.as_bytes().to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<Vec<u8>>> for Passphrase {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Passphrase {
        Passphrase(bytes)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let p = Passphrase::from_str("hunter2");
        assert_eq!(format!("{p:?}"), "Passphrase(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(p.clone())),
            "Some(Passphrase(<redacted>))"
        );
        assert_eq!(p.as_bytes(), b"hunter2");
        assert_eq!(p.len(), 7);
        assert!(!p.is_empty());
        assert_eq!(Passphrase::from_bytes(b"a\n".to_vec()).as_bytes(), b"a\n");
        assert_eq!(p, p.clone());
    }
}
