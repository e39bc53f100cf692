//! SSH host keys: which one an image carries (the explicit one, else sesame's own
//! `/etc/sesame/ssh_host_ed25519_key`, else the system's `/etc/ssh/ssh_host_ed25519_key`,
//! else a dedicated key generated once into `/etc/sesame/` and kept, so clients never
//! see the key change across rebuilds), loading it and its fingerprint.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use zeroize::Zeroizing;

/// The host key file name, in sesame's directory and in the image.
pub const HOST_KEY_NAME: &str = "ssh_host_ed25519_key";

/// A loaded host key.
#[derive(Clone)]
pub struct HostKey {
    key: PrivateKey,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half.
        write!(f, "HostKey({} {})", self.algorithm(), self.fingerprint())
    }
}

/// Where the chosen key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--host-key FILE`.
    Explicit(PathBuf),
    /// sesame's own key in its directory.
    Sesame(PathBuf),
    /// The system's OpenSSH host key.
    System(PathBuf),
    /// Generated now into sesame's directory.
    Generated(PathBuf),
}

impl KeySource {
    pub fn path(&self) -> &Path {
        match self {
            KeySource::Explicit(p)
            | KeySource::Sesame(p)
            | KeySource::System(p)
            | KeySource::Generated(p) => p,
        }
    }
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Explicit(p) => write!(f, "{} (given)", p.display()),
            KeySource::Sesame(p) => write!(f, "{} (sesame's own)", p.display()),
            KeySource::System(p) => write!(f, "{} (the system's OpenSSH key)", p.display()),
            KeySource::Generated(p) => {
                write!(f, "{} (generated now, kept for rebuilds)", p.display())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not an OpenSSH private key ({reason})")]
    Parse { path: String, reason: String },
    #[error("{path}: the key is protected by a passphrase; a host key must be unencrypted (ssh-keygen -p -N '' -f {path})")]
    Encrypted { path: String },
    #[error("generating a host key: {0}")]
    Generate(String),
}

impl HostKey {
    /// Parses an OpenSSH private key.
    pub fn from_openssh(text: &str, path: &str) -> Result<Self, HostKeyError> {
        let key = PrivateKey::from_openssh(text).map_err(|e| HostKeyError::Parse {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if key.is_encrypted() {
            return Err(HostKeyError::Encrypted {
                path: path.to_string(),
            });
        }
        Ok(HostKey { key })
    }

    /// Reads an OpenSSH private key file.
    pub fn read(path: &Path) -> Result<Self, HostKeyError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| HostKeyError::Io {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        Self::from_openssh(&text, &path.display().to_string())
    }

    /// A new Ed25519 key.
    pub fn generate() -> Result<Self, HostKeyError> {
        let mut rng = russh::keys::key::safe_rng();
        let key = PrivateKey::random(&mut rng, Algorithm::Ed25519)
            .map_err(|e| HostKeyError::Generate(e.to_string()))?;
        Ok(HostKey { key })
    }

    /// `SHA256:…`, as `ssh` prints it.
    pub fn fingerprint(&self) -> String {
        self.key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    pub fn algorithm(&self) -> String {
        self.key.algorithm().to_string()
    }

    /// The public key as an OpenSSH line (for known_hosts).
    pub fn public_openssh(&self) -> String {
        self.key.public_key().to_openssh().unwrap_or_default()
    }

    /// The private key in OpenSSH format, for the image.
    pub fn private_openssh(&self) -> Result<Zeroizing<String>, HostKeyError> {
        self.key
            .to_openssh(LineEnding::LF)
            .map_err(|e| HostKeyError::Generate(e.to_string()))
    }

    /// The key for russh.
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }
}

/// Chooses the image's host key. `explicit` wins; then `<sesame_dir>/ssh_host_ed25519_key`;
/// then `<system_dir>/ssh_host_ed25519_key`; else a new key is written (mode 0600) to
/// `<sesame_dir>` and used from then on.
pub fn choose(
    explicit: Option<&Path>,
    sesame_dir: &Path,
    system_dir: &Path,
) -> Result<(HostKey, KeySource), HostKeyError> {
    if let Some(p) = explicit {
        return Ok((HostKey::read(p)?, KeySource::Explicit(p.to_path_buf())));
    }
    let own = sesame_dir.join(HOST_KEY_NAME);
    if own.exists() {
        return Ok((HostKey::read(&own)?, KeySource::Sesame(own)));
    }
    let system = system_dir.join(HOST_KEY_NAME);
    if system.exists() {
        return Ok((HostKey::read(&system)?, KeySource::System(system)));
    }
    let key = HostKey::generate()?;
    write_private(&own, &key)?;
    Ok((key, KeySource::Generated(own)))
}

/// Writes a private key with mode 0600, refusing to overwrite an existing file.
fn write_private(path: &Path, key: &HostKey) -> Result<(), HostKeyError> {
    let io = |source| HostKeyError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = key.private_openssh()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    let public = path.with_extension("pub");
    let _ = std::fs::write(
        &public,
        format!("{} sesame-initramfs\n", key.public_openssh()),
    );
    let _ = std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let sesame = dir.path().join("etc/sesame");
        let system = dir.path().join("etc/ssh");
        let (k1, s1) = choose(None, &sesame, &system).unwrap();
        assert!(matches!(s1, KeySource::Generated(_)));
        let mode = std::fs::metadata(sesame.join(HOST_KEY_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (k2, s2) = choose(None, &sesame, &system).unwrap();
        assert!(matches!(s2, KeySource::Sesame(_)));
        assert_eq!(k1.fingerprint(), k2.fingerprint());
        assert!(k1.fingerprint().starts_with("SHA256:"));
        assert!(!format!("{k1:?}").contains("PRIVATE"));
    }

    #[test]
    fn system_key_is_used_before_generating() {
        let dir = tempfile::tempdir().unwrap();
        let sesame = dir.path().join("sesame");
        let system = dir.path().join("ssh");
        std::fs::create_dir_all(&system).unwrap();
        let key = HostKey::generate().unwrap();
        std::fs::write(
            system.join(HOST_KEY_NAME),
            key.private_openssh().unwrap().as_bytes(),
        )
        .unwrap();
        let (chosen, source) = choose(None, &sesame, &system).unwrap();
        assert!(matches!(source, KeySource::System(_)));
        assert_eq!(chosen.fingerprint(), key.fingerprint());
        assert!(!sesame.join(HOST_KEY_NAME).exists());
    }

    #[test]
    fn malformed_keys_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad_key");
        std::fs::write(&p, "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n").unwrap();
        let err = HostKey::read(&p).unwrap_err().to_string();
        assert!(err.contains("bad_key"), "{err}");
        let err = HostKey::read(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
