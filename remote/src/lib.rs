//! sesame-remote owns SSH: the host keys (choosing, generating, fingerprinting) and
//! `authorized_keys`, and — wired by `init` — the russh server, the unlock prompt and
//! the commands a session may run. It knows nothing of the network or LUKS internals.

pub mod authorized_keys;
pub mod hostkey;
