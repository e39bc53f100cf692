//! Handing the passphrase on to the real system (opt-in, `rd.sesame.keyring=1`): the
//! kernel user keyring key that systemd-ask-password caches passphrases in and
//! systemd-cryptsetup reads (`ASK_PASSWORD_ACCEPT_CACHED`), so the real system opens
//! the rest of its crypttab without asking again.
//!
//! As systemd's `add_to_keyring()` (src/shared/ask-password-api.c) does it: a key of
//! type `user`, description `cryptsetup`, in `KEY_SPEC_USER_KEYRING`; its payload the
//! passphrases joined by NUL bytes, without a trailing NUL; passphrases already there
//! kept (duplicates dropped); then `KEYCTL_SET_TIMEOUT` (systemd uses 150 s).

use std::ffi::CString;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::secret::Passphrase;

/// The description systemd-cryptsetup looks for.
pub const KEYRING_DESCRIPTION: &str = "cryptsetup";

const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
const KEYCTL_READ: libc::c_long = 11;
const KEYCTL_SET_TIMEOUT: libc::c_long = 15;

/// Adds `passphrase` to the `cryptsetup` key of the user keyring, expiring after
/// `timeout` (rounded up to seconds; zero: no expiry). Errors never contain the
/// passphrase.
pub fn hand_on_to_keyring(passphrase: &Passphrase, timeout: Duration) -> Result<(), String> {
    add_to_user_keyring(KEYRING_DESCRIPTION, passphrase, timeout).map(|_| ())
}

/// [`hand_on_to_keyring`] under another description (tests); returns the key's serial.
pub(crate) fn add_to_user_keyring(
    description: &str,
    passphrase: &Passphrase,
    timeout: Duration,
) -> Result<i32, String> {
    if passphrase.as_bytes().contains(&0) {
        return Err(
            "the passphrase holds a NUL byte, which the keyring format cannot carry".into(),
        );
    }
    let desc = CString::new(description).map_err(|_| "bad key description".to_string())?;
    let existing = match find_key(&desc) {
        Some(serial) => read_key(serial)?,
        None => Zeroizing::new(Vec::new()),
    };
    let payload = merge(&existing, passphrase.as_bytes());
    // SAFETY: the pointers are valid NUL-terminated strings and a buffer of `len` bytes.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_USER_KEYRING,
        )
    };
    if serial < 0 {
        return Err(format!(
            "add_key(user, {description}): {}",
            std::io::Error::last_os_error()
        ));
    }
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    if secs > 0 {
        // SAFETY: plain integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SET_TIMEOUT, serial, secs) };
        if r < 0 {
            return Err(format!(
                "keyctl(KEYCTL_SET_TIMEOUT): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    i32::try_from(serial).map_err(|_| "the kernel returned a bad key serial".to_string())
}

/// Joins `existing` (NUL-separated passphrases) and `new` by NUL, dropping a duplicate.
fn merge(existing: &[u8], new: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(existing.len() + new.len() + 1));
    let mut have_new = false;
    if !existing.is_empty() {
        for p in existing.split(|b| *b == 0) {
            have_new |= p == new;
            if !out.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(p);
        }
    }
    if !have_new {
        if !existing.is_empty() {
            out.push(0);
        }
        out.extend_from_slice(new);
    }
    out
}

/// The serial of the user key with this description, if any (`request_key` without
/// call-out, as systemd looks it up).
fn find_key(desc: &CString) -> Option<libc::c_long> {
    // SAFETY: valid NUL-terminated strings; NULL call-out info; destination 0.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_request_key,
            c"user".as_ptr(),
            desc.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0 as libc::c_long,
        )
    };
    (serial >= 0).then_some(serial)
}

/// A key's payload, in a zeroizing buffer.
fn read_key(serial: libc::c_long) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut size = 256usize;
    loop {
        let mut buf = Zeroizing::new(vec![0u8; size]);
        // SAFETY: `buf` has `size` writable bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_READ,
                serial,
                buf.as_mut_ptr(),
                size,
            )
        };
        if n < 0 {
            return Err(format!(
                "keyctl(KEYCTL_READ): {}",
                std::io::Error::last_os_error()
            ));
        }
        let n = usize::try_from(n).map_err(|_| "bad key length".to_string())?;
        if n <= size {
            buf.truncate(n);
            return Ok(buf);
        }
        size = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_as_systemd_writes_it() {
        assert_eq!(&merge(b"", b"one")[..], b"one");
        assert_eq!(&merge(b"one", b"two")[..], b"one\0two");
        assert_eq!(&merge(b"one\0two", b"two")[..], b"one\0two");
        assert_eq!(&merge(b"one\0two", b"three")[..], b"one\0two\0three");
    }

    #[test]
    fn nul_bytes_are_refused_without_echo() {
        let p = Passphrase::from_bytes(b"se\0cret".to_vec());
        let e = hand_on_to_keyring(&p, Duration::from_secs(1)).unwrap_err();
        assert!(!e.contains("cret"), "{e}");
    }

    /// The real keyring, under a test description with a short timeout (so nothing
    /// lingers); skipped where the keyring syscalls are not allowed.
    #[test]
    fn the_user_keyring_holds_the_passphrases() {
        let desc = format!("sesame-test-{}", std::process::id());
        let first = Passphrase::from_str("first passphrase");
        let serial = match add_to_user_keyring(&desc, &first, Duration::from_millis(4500)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped: {e}");
                return;
            }
        };
        let second = Passphrase::from_str("second");
        let again = add_to_user_keyring(&desc, &second, Duration::from_secs(5)).unwrap();
        add_to_user_keyring(&desc, &first, Duration::from_secs(5)).unwrap();
        let c = CString::new(desc.clone()).unwrap();
        let found = find_key(&c).expect("the key is found as systemd looks it up");
        assert_eq!(&read_key(found).unwrap()[..], b"first passphrase\0second");
        // add_key on an existing description updates the same key.
        assert_eq!(serial, again);
        // SAFETY: plain integer arguments (KEYCTL_INVALIDATE).
        unsafe { libc::syscall(libc::SYS_keyctl, 21 as libc::c_long, found) };
    }
}
