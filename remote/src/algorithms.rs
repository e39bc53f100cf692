//! The algorithms sesame offers (modern only: no SHA-1, no CBC, no NIST-curve key
//! exchange, no compression) and the russh server configuration built from them.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::{Algorithm, EcdsaCurve, HashAlg};
use russh::{cipher, compression, kex, mac, MethodKind, MethodSet, Preferred, SshId};

use crate::config::{Limits, RemoteError};
use crate::hostkey::HostKey;

/// Key exchange: the ML-KEM hybrid first (post-quantum), then X25519. The last four
/// names are protocol markers (RFC 8308 ext-info, OpenSSH strict kex against Terrapin).
pub const KEX: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// Ciphers: AEAD only.
pub const CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_GCM,
    cipher::AES_128_GCM,
];

/// MACs: only used with a non-AEAD cipher, which is never offered; encrypt-then-MAC SHA-2
/// so the list holds nothing weak either way.
pub const MACS: &[mac::Name] = &[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM];

/// No compression: nothing to gain for a prompt, and less code facing the network.
pub const COMPRESSION: &[compression::Name] = &[compression::NONE];

/// Public key algorithms, for the host key (filtered by the key we hold) and for clients
/// (`server-sig-algs`). No `ssh-rsa` (SHA-1), no DSA.
pub const KEYS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::SkEd25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::SkEcdsaSha2NistP256,
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// The smallest RSA key accepted, host or client.
pub const MIN_RSA_BITS: u32 = 2048;

/// Failed authentication requests answered at most per connection (OpenSSH MaxAuthTries).
pub const MAX_AUTH_ATTEMPTS: usize = 6;

/// Whether a client may sign with `algorithm`.
pub fn client_algorithm_allowed(algorithm: &Algorithm) -> bool {
    KEYS.contains(algorithm)
}

/// The host key algorithms announced for `key` (what `ssh-keyscan` shows).
pub fn host_key_algorithms(key: &HostKey) -> Result<Vec<Algorithm>, RemoteError> {
    let private = key.private_key();
    let refuse = |reason: &str| RemoteError::HostKey {
        algorithm: key.algorithm(),
        reason: reason.to_string(),
    };
    match private.algorithm() {
        Algorithm::Ed25519 => Ok(vec![Algorithm::Ed25519]),
        a @ Algorithm::Ecdsa { .. } => Ok(vec![a]),
        Algorithm::Rsa { .. } => {
            let bits = private
                .public_key()
                .key_data()
                .rsa()
                .map(|k| k.key_size())
                .unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(refuse(&format!(
                    "an RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed"
                )));
            }
            Ok(vec![
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                },
            ])
        }
        _ => Err(refuse(
            "only Ed25519, ECDSA and RSA host keys are supported",
        )),
    }
}

/// The russh configuration.
pub fn russh_config(
    key: &HostKey,
    limits: &Limits,
) -> Result<Arc<russh::server::Config>, RemoteError> {
    host_key_algorithms(key)?;
    let preferred = Preferred {
        kex: Cow::Borrowed(KEX),
        key: Cow::Borrowed(KEYS),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Borrowed(CIPHERS),
        mac: Cow::Borrowed(MACS),
        compression: Cow::Borrowed(COMPRESSION),
    };
    Ok(Arc::new(russh::server::Config {
        server_id: SshId::Standard(Cow::Borrowed("SSH-2.0-sesame")),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        // Public keys leak nothing through timing; a short pause still slows a key-guessing
        // client, and the first "none" probe is answered at once.
        auth_rejection_time: Duration::from_millis(200),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key.private_key().clone()],
        preferred,
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        // A backstop: sesame closes idle sessions itself, with a message.
        inactivity_timeout: Some(limits.idle_timeout + Duration::from_secs(60)),
        // Finds clients that vanished without closing (cable pulled, laptop closed).
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T: AsRef<str>>(list: &[T]) -> Vec<String> {
        list.iter().map(|n| n.as_ref().to_string()).collect()
    }

    #[test]
    fn nothing_weak_is_offered() {
        let all: Vec<String> = names(KEX)
            .into_iter()
            .chain(names(CIPHERS))
            .chain(names(MACS))
            .chain(KEYS.iter().map(|a| a.to_string()))
            .collect();
        for n in &all {
            assert!(!n.contains("sha1"), "{n}");
            assert!(!n.contains("cbc"), "{n}");
            assert!(!n.contains("ctr"), "{n}");
            assert!(
                !n.contains("nistp") || n.starts_with("ecdsa") || n.starts_with("sk-"),
                "{n}"
            );
            assert!(n != "ssh-rsa" && n != "ssh-dss" && n != "none", "{n}");
        }
        assert!(!client_algorithm_allowed(&Algorithm::Rsa { hash: None }));
        assert!(client_algorithm_allowed(&Algorithm::Ed25519));
    }

    #[test]
    fn ed25519_host_key_announces_only_itself() {
        let key = HostKey::generate().unwrap();
        assert_eq!(host_key_algorithms(&key).unwrap(), vec![Algorithm::Ed25519]);
        let cfg = russh_config(&key, &Limits::default()).unwrap();
        assert_eq!(cfg.keys.len(), 1);
    }
}
