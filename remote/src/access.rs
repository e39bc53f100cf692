//! Who may log in and with what rights. The authorized keys are prepared once (options and
//! forced commands parsed; a malformed line is refused with its reason, as OpenSSH does),
//! then an offered key or user certificate is matched against them and the client's
//! address, giving a [`Grant`] (forced command, pty) or a refusal reason for the log.

use std::net::IpAddr;

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::Certificate;
use russh::keys::{Algorithm, HashAlg, PublicKey};

use crate::algorithms::{client_algorithm_allowed, MIN_RSA_BITS};
use crate::authorized_keys::AuthorizedKey;
use crate::command::{self, Command};
use crate::from_patterns;
use crate::options::{self, KeyOptions};

/// One usable authorized_keys line.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: KeyData,
    pub fingerprint: String,
    pub line: usize,
    pub options: KeyOptions,
    /// `command=` parsed.
    pub forced: Option<Command>,
}

/// What a login may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The only command the login may run.
    pub forced: Option<Command>,
    pub permit_pty: bool,
    /// For the log: `key SHA256:… (line 3)` or `certificate "id" serial 7 (key SHA256:…)
    /// signed by CA SHA256:… (line 4)`.
    pub who: String,
}

/// A note from [`prepare`] for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The line is refused.
    Refused(String),
    /// The line is used, with a caveat.
    Caveat(String),
}

/// Parses every key's options. Lines that cannot be honoured are left out.
pub fn prepare(keys: &[AuthorizedKey]) -> (Vec<Entry>, Vec<Note>) {
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    for k in keys {
        let fingerprint = k.fingerprint();
        let at = format!("authorized_keys line {} ({fingerprint})", k.line);
        let options = match options::parse(&k.options) {
            Ok(o) => o,
            Err(e) => {
                notes.push(Note::Refused(format!("{at}: {e}; the key is refused")));
                continue;
            }
        };
        let forced = match options.command.as_deref().map(command::parse) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                notes.push(Note::Refused(format!(
                    "{at}: command=\"{}\" is not a sesame command ({e}); the key is refused",
                    command::printable(options.command.as_deref().unwrap_or_default())
                )));
                continue;
            }
        };
        if options.verify_required {
            notes.push(Note::Refused(format!(
                "{at}: verify-required cannot be checked by sesame; the key is refused"
            )));
            continue;
        }
        if let Some(Command::Shell) = forced {
            notes.push(Note::Refused(format!(
                "{at}: command=\"\" is empty; the key is refused"
            )));
            continue;
        }
        for n in &options.no_effect {
            notes.push(Note::Caveat(format!(
                "{at}: `{n}` has no effect (sesame never forwards and has no environment)"
            )));
        }
        if let Some(from) = &options.from {
            for p in from.host_name_patterns() {
                notes.push(Note::Caveat(format!(
                    "{at}: from= pattern `{p}` names hosts; the initramfs resolves no names, so it never matches"
                )));
            }
        }
        if matches!(
            k.key.algorithm(),
            Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256
        ) {
            notes.push(Note::Caveat(format!(
                "{at}: a FIDO key; its touch flag is not checked (as with no-touch-required)"
            )));
        }
        entries.push(Entry {
            key: k.key.key_data().clone(),
            fingerprint,
            line: k.line,
            options,
            forced,
        });
    }
    (entries, notes)
}

/// Checks what every kind of line checks: expiry and `from=`.
fn common_checks(e: &Entry, peer: IpAddr, now_unix: u64) -> Result<(), String> {
    if let Some(t) = e.options.expiry_time {
        if now_unix >= t {
            return Err(format!("line {}: expired (expiry-time)", e.line));
        }
    }
    if let Some(from) = &e.options.from {
        if !from.matches(peer) {
            return Err(format!(
                "line {}: from= does not allow {}",
                e.line,
                peer.to_canonical()
            ));
        }
    }
    Ok(())
}

fn rsa_too_small(key: &KeyData) -> Option<u32> {
    let bits = key.rsa()?.key_size();
    (bits < MIN_RSA_BITS).then_some(bits)
}

/// May `key`, signing with `algorithm`, log in from `peer`?
pub fn authorize_key(
    entries: &[Entry],
    key: &PublicKey,
    algorithm: &Algorithm,
    peer: IpAddr,
    now_unix: u64,
) -> Result<Grant, String> {
    if !client_algorithm_allowed(algorithm) {
        return Err(format!(
            "signature algorithm {algorithm} is not accepted (SHA-1 or unsupported)"
        ));
    }
    if let Some(bits) = rsa_too_small(key.key_data()) {
        return Err(format!(
            "RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed"
        ));
    }
    let mut reason = None;
    for e in entries
        .iter()
        .filter(|e| !e.options.cert_authority && e.key == *key.key_data())
    {
        match common_checks(e, peer, now_unix) {
            Ok(()) => {
                return Ok(Grant {
                    forced: e.forced.clone(),
                    permit_pty: e.options.permit_pty,
                    who: format!("key {} (line {})", e.fingerprint, e.line),
                })
            }
            Err(r) => {
                reason.get_or_insert(r);
            }
        }
    }
    Err(reason.unwrap_or_else(|| "not in authorized_keys".into()))
}

/// May the user certificate `cert`, presented for `user`, log in from `peer`? The
/// certificate's signature and validity period are checked by russh before this.
pub fn authorize_certificate(
    entries: &[Entry],
    cert: &Certificate,
    user: &str,
    peer: IpAddr,
    now_unix: u64,
) -> Result<Grant, String> {
    let ca_fp = cert.signature_key().fingerprint(HashAlg::Sha256);
    let key_fp = cert.public_key().fingerprint(HashAlg::Sha256);
    if cert.cert_type() != CertType::User {
        return Err("a host certificate, not a user certificate".into());
    }
    if let Some(bits) = rsa_too_small(cert.public_key()) {
        return Err(format!(
            "RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed"
        ));
    }
    // The certificate's own restrictions.
    let mut cert_forced = None;
    let mut source: Option<from_patterns::FromList> = None;
    for (name, value) in cert.critical_options().iter() {
        match name.as_str() {
            "force-command" => match command::parse(value) {
                Ok(c) => cert_forced = Some(c),
                Err(e) => {
                    return Err(format!(
                        "force-command \"{}\" is not a sesame command ({e})",
                        command::printable(value)
                    ))
                }
            },
            "source-address" => match from_patterns::parse(value) {
                Ok(l) => source = Some(l),
                Err(e) => return Err(format!("source-address: {e}")),
            },
            other => {
                return Err(format!(
                    "unsupported critical option `{}`",
                    command::printable(other)
                ))
            }
        }
    }
    if let Some(list) = &source {
        if !list.matches(peer) {
            return Err(format!(
                "the certificate's source-address does not allow {}",
                peer.to_canonical()
            ));
        }
    }
    let cert_pty = cert.extensions().contains_key("permit-pty");
    let mut reason = None;
    for e in entries
        .iter()
        .filter(|e| e.options.cert_authority && e.key == *cert.signature_key())
    {
        let principal_ok = match &e.options.principals {
            Some(allowed) => cert.valid_principals().iter().any(|p| allowed.contains(p)),
            None => cert.valid_principals().iter().any(|p| p == user),
        };
        let checked = if principal_ok {
            common_checks(e, peer, now_unix)
        } else {
            Err(format!(
                "line {}: the certificate names none of the allowed principals",
                e.line
            ))
        };
        let forced = match (&e.forced, &cert_forced) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "line {}: command= and the certificate's force-command differ",
                e.line
            )),
            (a, b) => Ok(a.clone().or_else(|| b.clone())),
        };
        match (checked, forced) {
            (Ok(()), Ok(forced)) => {
                return Ok(Grant {
                    forced,
                    permit_pty: e.options.permit_pty && cert_pty,
                    who: format!(
                    "certificate \"{}\" serial {} (key {key_fp}) signed by CA {ca_fp} (line {})",
                    command::printable(cert.key_id()),
                    cert.serial(),
                    e.line
                ),
                })
            }
            (Err(r), _) | (_, Err(r)) => {
                reason.get_or_insert(r);
            }
        }
    }
    Err(reason.unwrap_or_else(|| {
        format!("signed by CA {ca_fp}, which is not a cert-authority in authorized_keys")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorized_keys;
    use russh::keys::ssh_key::certificate::Builder;
    use russh::keys::PrivateKey;

    fn key() -> PrivateKey {
        PrivateKey::random(&mut russh::keys::key::safe_rng(), Algorithm::Ed25519).unwrap()
    }

    fn line(options: &str, k: &PrivateKey) -> String {
        let pk = k.public_key().to_openssh().unwrap();
        if options.is_empty() {
            pk
        } else {
            format!("{options} {pk}")
        }
    }

    fn entries(lines: &[String]) -> (Vec<Entry>, Vec<Note>) {
        let (keys, errors) = authorized_keys::parse(&lines.join("\n"));
        assert!(errors.is_empty(), "{errors:?}");
        prepare(&keys)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn plain_key_and_unknown_key() {
        let (a, b) = (key(), key());
        let (es, notes) = entries(&[line("", &a)]);
        assert!(notes.is_empty());
        let g = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            NOW,
        )
        .unwrap();
        assert_eq!(g.forced, None);
        assert!(g.permit_pty);
        assert!(g.who.contains("SHA256:"));
        let r = authorize_key(
            &es,
            b.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            NOW,
        );
        assert_eq!(r.unwrap_err(), "not in authorized_keys");
    }

    #[test]
    fn sha1_rsa_signatures_are_refused() {
        let a = key();
        let (es, _) = entries(&[line("", &a)]);
        let r = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Rsa { hash: None },
            ip("10.0.0.1"),
            NOW,
        );
        assert!(r.unwrap_err().contains("SHA-1"));
    }

    #[test]
    fn forced_command_and_pty() {
        let a = key();
        let (es, _) = entries(&[line(r#"command="unlock",restrict"#, &a)]);
        let g = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            NOW,
        )
        .unwrap();
        assert_eq!(g.forced, Some(Command::Unlock { volume: None }));
        assert!(!g.permit_pty);
        let (es, _) = entries(&[line(
            r#"command="/usr/bin/cryptroot-unlock",restrict,pty"#,
            &a,
        )]);
        let g = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            NOW,
        )
        .unwrap();
        assert_eq!(g.forced, Some(Command::Unlock { volume: None }));
        assert!(g.permit_pty);
    }

    #[test]
    fn from_is_enforced_and_the_next_line_may_allow() {
        let a = key();
        let (es, _) = entries(&[line(r#"from="10.0.0.0/8""#, &a)]);
        assert!(authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("10.9.9.9"),
            NOW
        )
        .is_ok());
        assert!(authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("::ffff:10.9.9.9"),
            NOW
        )
        .is_ok());
        let r = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("192.168.1.1"),
            NOW,
        );
        assert!(r.unwrap_err().contains("from="));
        let (es, _) = entries(&[
            line(r#"from="10.0.0.0/8""#, &a),
            line(r#"from="192.168.0.0/16",command="status""#, &a),
        ]);
        let g = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("192.168.1.1"),
            NOW,
        )
        .unwrap();
        assert_eq!(g.forced, Some(Command::Status { json: false }));
    }

    #[test]
    fn malformed_lines_are_refused_with_a_reason() {
        let a = key();
        let (keys, _) = authorized_keys::parse(&line("", &a));
        let mut bad = keys[0].clone();
        for (opts, expect) in [
            ("frobnicate", "unknown option"),
            (r#"command="unlock"#, "closing double quote"),
            (r#"from="10.0.0.1/8""#, "from="),
            (r#"command="ls""#, "not a sesame command"),
            ("verify-required", "verify-required"),
        ] {
            bad.options = opts.into();
            let (es, notes) = prepare(std::slice::from_ref(&bad));
            assert!(es.is_empty(), "{opts}");
            match &notes[..] {
                [Note::Refused(m)] => assert!(m.contains(expect) && m.contains("line 1"), "{m}"),
                other => panic!("{opts}: {other:?}"),
            }
        }
    }

    #[test]
    fn expiry() {
        let a = key();
        let (es, _) = entries(&[line(r#"expiry-time="20270101""#, &a)]);
        assert!(authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            1_700_000_000
        )
        .is_ok());
        let r = authorize_key(
            &es,
            a.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            NOW,
        );
        assert!(r.unwrap_err().contains("expired"));
    }

    #[test]
    fn caveats() {
        let a = key();
        let (es, notes) = entries(&[line(r#"port-forwarding,from="*.example.com,10.0.0.1""#, &a)]);
        assert_eq!(es.len(), 1);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    fn certificate(
        ca: &PrivateKey,
        user: &PrivateKey,
        principals: &[&str],
        critical: &[(&str, &str)],
        pty: bool,
    ) -> Certificate {
        let mut b = Builder::new_with_random_nonce(
            &mut russh::keys::key::safe_rng(),
            user.public_key().key_data().clone(),
            1_600_000_000,
            2_000_000_000,
        )
        .unwrap();
        b.serial(7)
            .unwrap()
            .key_id("op@laptop")
            .unwrap()
            .cert_type(CertType::User)
            .unwrap();
        for p in principals {
            b.valid_principal(*p).unwrap();
        }
        if principals.is_empty() {
            b.all_principals_valid().unwrap();
        }
        for (k, v) in critical {
            b.critical_option(*k, *v).unwrap();
        }
        if pty {
            b.extension("permit-pty", "").unwrap();
        }
        b.sign(ca).unwrap()
    }

    #[test]
    fn certificates() {
        let (ca, user, other_ca) = (key(), key(), key());
        let (es, _) = entries(&[line("cert-authority", &ca)]);
        let c = certificate(&ca, &user, &["root"], &[], true);
        let g = authorize_certificate(&es, &c, "root", ip("10.0.0.1"), NOW).unwrap();
        assert!(g.permit_pty && g.forced.is_none());
        assert!(
            g.who.contains("op@laptop") && g.who.contains("serial 7"),
            "{}",
            g.who
        );
        // Wrong principal, other CA, no pty extension.
        assert!(authorize_certificate(&es, &c, "alice", ip("10.0.0.1"), NOW).is_err());
        let c2 = certificate(&other_ca, &user, &["root"], &[], true);
        assert!(authorize_certificate(&es, &c2, "root", ip("10.0.0.1"), NOW)
            .unwrap_err()
            .contains("not a cert-authority"));
        let c3 = certificate(&ca, &user, &["root"], &[], false);
        assert!(
            !authorize_certificate(&es, &c3, "root", ip("10.0.0.1"), NOW)
                .unwrap()
                .permit_pty
        );
        // The CA key itself does not log in as a plain key.
        assert!(authorize_key(
            &es,
            ca.public_key(),
            &Algorithm::Ed25519,
            ip("10.0.0.1"),
            NOW
        )
        .is_err());
        // A plain key line does not make a CA.
        let (plain, _) = entries(&[line("", &ca)]);
        assert!(authorize_certificate(&plain, &c, "root", ip("10.0.0.1"), NOW).is_err());
    }

    #[test]
    fn certificate_options() {
        let (ca, user) = (key(), key());
        let (es, _) = entries(&[line(r#"cert-authority,principals="ops""#, &ca)]);
        let c = certificate(
            &ca,
            &user,
            &["ops"],
            &[
                ("force-command", "unlock"),
                ("source-address", "10.0.0.0/8"),
            ],
            true,
        );
        let g = authorize_certificate(&es, &c, "root", ip("10.1.1.1"), NOW).unwrap();
        assert_eq!(g.forced, Some(Command::Unlock { volume: None }));
        assert!(
            authorize_certificate(&es, &c, "root", ip("192.168.1.1"), NOW)
                .unwrap_err()
                .contains("source-address")
        );
        let c = certificate(&ca, &user, &["ops"], &[("frob", "")], true);
        assert!(authorize_certificate(&es, &c, "root", ip("10.1.1.1"), NOW)
            .unwrap_err()
            .contains("frob"));
        let c = certificate(&ca, &user, &[], &[], true);
        assert!(
            authorize_certificate(&es, &c, "root", ip("10.1.1.1"), NOW).is_err(),
            "no principals"
        );
        let (es, _) = entries(&[line(r#"cert-authority,command="status""#, &ca)]);
        let c = certificate(&ca, &user, &["root"], &[("force-command", "unlock")], true);
        assert!(authorize_certificate(&es, &c, "root", ip("10.1.1.1"), NOW)
            .unwrap_err()
            .contains("differ"));
    }
}
