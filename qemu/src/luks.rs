//! LUKS volumes made in userspace on a plain image file: `cryptsetup reencrypt --encrypt`
//! turns an existing filesystem image into a LUKS2 (or, converted, LUKS1) volume without
//! device-mapper, loop devices or root.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::tools::{command, run};

/// Space `reencrypt --encrypt` takes from the end of the data for the header.
const HEADER_MIB: u64 = 32;

/// How the keyslot derives its key from the passphrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pbkdf {
    /// PBKDF2 with 1000 iterations: instant, for tests that are not about the KDF.
    CheapPbkdf2,
    /// Argon2id with 4 iterations, 32 KiB, 1 thread: instant, but the real KDF code path.
    CheapArgon2id,
    /// cryptsetup's own choice (Argon2id benchmarked to ~2 s; PBKDF2 for LUKS1).
    Default,
}

/// The on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LuksVersion {
    Luks2,
    /// Made as LUKS2 with a PBKDF2 keyslot, then `cryptsetup convert --type luks1`.
    Luks1,
}

/// What [`luks_encrypt`] makes. [`LuksOptions::new`] gives LUKS2 with cheap PBKDF2.
#[derive(Clone, Debug)]
pub struct LuksOptions {
    pub passphrase: Vec<u8>,
    pub pbkdf: Pbkdf,
    pub version: LuksVersion,
    /// LUKS2 only.
    pub label: Option<String>,
    /// The LUKS UUID; random if `None`.
    pub uuid: Option<String>,
    /// `--cipher` and `--key-size` (e.g. `serpent-xts-plain64`, 512); cryptsetup's default
    /// (aes-xts-plain64) if `None`.
    pub cipher: Option<(String, u32)>,
}

impl LuksOptions {
    pub fn new(passphrase: impl Into<Vec<u8>>) -> Self {
        LuksOptions {
            passphrase: passphrase.into(),
            pbkdf: Pbkdf::CheapPbkdf2,
            version: LuksVersion::Luks2,
            label: None,
            uuid: None,
            cipher: None,
        }
    }
    pub fn cipher(mut self, cipher: &str, key_bits: u32) -> Self {
        self.cipher = Some((cipher.to_string(), key_bits));
        self
    }
    pub fn pbkdf(mut self, pbkdf: Pbkdf) -> Self {
        self.pbkdf = pbkdf;
        self
    }
    pub fn version(mut self, version: LuksVersion) -> Self {
        self.version = version;
        self
    }
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_string());
        self
    }
    pub fn uuid(mut self, uuid: &str) -> Self {
        self.uuid = Some(uuid.to_string());
        self
    }
}

/// Encrypts the filesystem image at `image` in place. The file grows by 32 MiB first, so
/// the filesystem inside keeps its full size. Returns the LUKS UUID (`rd.luks.uuid=`).
pub fn luks_encrypt(image: &Path, opts: &LuksOptions) -> Result<String> {
    let luks1 = opts.version == LuksVersion::Luks1;
    if luks1 && opts.pbkdf == Pbkdf::CheapArgon2id {
        bail!("LUKS1 keyslots are PBKDF2 only; use Pbkdf::CheapPbkdf2 or Pbkdf::Default");
    }
    if luks1 && opts.label.is_some() {
        bail!("LUKS1 has no label; drop the label or use LUKS2");
    }
    let key = key_file(&opts.passphrase)?;
    let file = OpenOptions::new()
        .write(true)
        .open(image)
        .with_context(|| format!("opening {}", image.display()))?;
    let size = file.metadata()?.len();
    file.set_len(size + (HEADER_MIB << 20))
        .with_context(|| format!("growing {} for the LUKS header", image.display()))?;
    drop(file);

    let mut cmd = command("cryptsetup")?;
    cmd.args(["reencrypt", "-q", "--encrypt", "--type", "luks2"])
        .args(["--reduce-device-size", &format!("{HEADER_MIB}M")]);
    match (opts.pbkdf, luks1) {
        (Pbkdf::CheapPbkdf2, _) => {
            cmd.args(["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]);
        }
        (Pbkdf::CheapArgon2id, _) => {
            cmd.args(["--pbkdf", "argon2id", "--pbkdf-memory", "32"])
                .args(["--pbkdf-parallel", "1", "--pbkdf-force-iterations", "4"]);
        }
        (Pbkdf::Default, true) => {
            cmd.args(["--pbkdf", "pbkdf2"]);
        }
        (Pbkdf::Default, false) => {}
    }
    if let Some(label) = &opts.label {
        cmd.args(["--label", label]);
    }
    if let Some(uuid) = &opts.uuid {
        cmd.args(["--uuid", uuid]);
    }
    if let Some((cipher, bits)) = &opts.cipher {
        cmd.args(["--cipher", cipher, "--key-size", &bits.to_string()]);
    }
    cmd.arg("--key-file").arg(key.path()).arg(image);
    run(&mut cmd).with_context(|| format!("encrypting {} with LUKS", image.display()))?;
    if luks1 {
        run(command("cryptsetup")?
            .args(["convert", "-q", "--type", "luks1"])
            .arg(image))
        .with_context(|| format!("converting {} to LUKS1", image.display()))?;
    }
    let uuid = run(command("cryptsetup")?.arg("luksUUID").arg(image))?;
    Ok(uuid.trim().to_string())
}

/// Whether `passphrase` opens a keyslot of the LUKS volume in `image`
/// (`cryptsetup open --test-passphrase`: exit 0 yes, 2 no, anything else an error).
pub fn luks_test_passphrase(image: &Path, passphrase: &[u8]) -> Result<bool> {
    let key = key_file(passphrase)?;
    let out = command("cryptsetup")?
        .args(["open", "--test-passphrase", "--key-file"])
        .arg(key.path())
        .arg(image)
        .output()
        .context("running cryptsetup open --test-passphrase")?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(2) => Ok(false),
        _ => bail!(
            "cryptsetup open --test-passphrase {} failed ({}): {}",
            image.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The passphrase in a mode-0600 temporary file, exactly its bytes (no newline added).
fn key_file(passphrase: &[u8]) -> Result<tempfile::NamedTempFile> {
    let mut f = tempfile::Builder::new()
        .prefix("sesame-key-")
        .tempfile()
        .context("making a temporary key file")?;
    // tempfile creates it 0600 already; say so explicitly since it holds a secret.
    use std::os::unix::fs::PermissionsExt;
    f.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(passphrase)?;
    f.flush()?;
    Ok(f)
}
