//! LUKS volumes that fail on purpose: a header whose metadata is damaged (the device still
//! looks like LUKS, with its UUID, but no tool can load it), and a key slot whose Argon2id
//! costs more memory than a small machine has; and a volume's key, for the tests that
//! check it never appears in a log.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::luks::luks_test_passphrase;
use crate::tools::{command, run};

/// The LUKS2 binary header's size; its JSON metadata follows, up to the header size.
const BINARY_HEADER: u64 = 4096;
/// cryptsetup's default LUKS2 header size: the secondary copy starts there.
const HEADER_SIZE: u64 = 16 * 1024;

/// Overwrites the JSON metadata of both LUKS2 header copies, leaving their binary headers
/// (magic, version, UUID, label) intact: probers still see `crypto_LUKS` with its UUID,
/// but the checksums fail and libcryptsetup refuses to load it. Checks that it does.
pub fn corrupt_luks2_metadata(image: &Path) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(image)
        .with_context(|| format!("opening {}", image.display()))?;
    let junk: Vec<u8> = (0..HEADER_SIZE - BINARY_HEADER)
        .map(|i| (i * 131 % 251) as u8)
        .collect();
    for copy in [0, HEADER_SIZE] {
        f.seek(SeekFrom::Start(copy + BINARY_HEADER))?;
        f.write_all(&junk)?;
    }
    f.sync_all()?;
    drop(f);
    let out = command("cryptsetup")?
        .arg("luksDump")
        .arg(image)
        .output()
        .context("running cryptsetup luksDump")?;
    if out.status.success() {
        bail!(
            "{} still loads after the damage; the test needs a header no tool can load",
            image.display()
        );
    }
    Ok(())
}

/// Converts the key slot `passphrase` opens to Argon2id costing `memory_kib` KiB and
/// `iterations` passes on one thread, without benchmarking (`--pbkdf-force-iterations`).
/// Checks the result opens on the host.
pub fn luks_costly_argon2(
    image: &Path,
    passphrase: &[u8],
    memory_kib: u32,
    iterations: u32,
) -> Result<()> {
    let mut key = tempfile::Builder::new()
        .prefix("sesame-key-")
        .tempfile()
        .context("making a temporary key file")?;
    key.write_all(passphrase)?;
    key.flush()?;
    run(command("cryptsetup")?
        .args(["luksConvertKey", "-q", "--pbkdf", "argon2id"])
        .args(["--pbkdf-memory", &memory_kib.to_string()])
        .args(["--pbkdf-parallel", "1"])
        .args(["--pbkdf-force-iterations", &iterations.to_string()])
        .arg("--key-file")
        .arg(key.path())
        .arg(image))
    .with_context(|| format!("making the key slot of {} costly", image.display()))?;
    let dump = run(command("cryptsetup")?.arg("luksDump").arg(image))?;
    if !dump.contains(&format!("Memory:     {memory_kib}")) {
        bail!("the key slot does not cost {memory_kib} KiB:\n{dump}");
    }
    if !luks_test_passphrase(image, passphrase)? {
        bail!(
            "{} does not open with its passphrase any more",
            image.display()
        );
    }
    Ok(())
}

/// The volume (master) key of `image` as `cryptsetup luksDump --dump-volume-key` shows it:
/// (raw bytes, lower-case hex without separators). What must never appear in a log.
pub fn luks_volume_key(image: &Path, passphrase: &[u8]) -> Result<(Vec<u8>, String)> {
    let mut key = tempfile::Builder::new()
        .prefix("sesame-key-")
        .tempfile()
        .context("making a temporary key file")?;
    key.write_all(passphrase)?;
    key.flush()?;
    let dump = run(command("cryptsetup")?
        .args([
            "luksDump",
            "--batch-mode",
            "--dump-volume-key",
            "--key-file",
        ])
        .arg(key.path())
        .arg(image))
    .with_context(|| format!("dumping the volume key of {}", image.display()))?;
    let hex = parse_volume_key_dump(&dump)
        .with_context(|| format!("no volume key in luksDump's output for {}", image.display()))?;
    let raw = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .context("the volume key is not hex")?;
    Ok((raw, hex))
}

/// The hex digits after `MK dump:` (continued on the following indented lines).
fn parse_volume_key_dump(dump: &str) -> Option<String> {
    let mut lines = dump.lines().skip_while(|l| !l.starts_with("MK dump:"));
    let first = lines.next()?.strip_prefix("MK dump:")?;
    let mut hex: String = first.split_whitespace().collect();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        hex.extend(l.split_whitespace());
    }
    (!hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_key_from_a_dump() {
        let dump = "LUKS header information for x\nCipher name:   \taes\nMK bits:       \t512\n\
                    MK dump:\t0a 1b 2c 3d \n\t\t4e 5F 60 71 \nother: 1\n";
        assert_eq!(
            parse_volume_key_dump(dump).as_deref(),
            Some("0a1b2c3d4e5f6071")
        );
        assert_eq!(parse_volume_key_dump("MK dump:\tzz\n"), None);
        assert_eq!(parse_volume_key_dump("nothing"), None);
    }
}
