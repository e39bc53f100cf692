//! The performance target: a volume formatted with cryptsetup's DEFAULT argon2id
//! cost verifies a passphrase through sesame's opener in no more than ~1.2× the time
//! `cryptsetup open --test-passphrase` takes on the same file. Prints both (run with
//! `--nocapture`); asserts the ratio only with SESAME_TIMING_STRICT=1, since a shared
//! 2-core machine makes single timings noisy. The host build links Debian's
//! libcryptsetup (and its libargon2); the static /init uses the internal SSE argon2.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{cryptsetup, write};
use sesame_crypt::open::OpenError;
use sesame_crypt::{CryptsetupOpener, VolumeOptions};

#[test]
fn default_argon2id_cost_against_cryptsetup() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "pass", b"a default-cost passphrase");
    let img = write(dir.path(), "argon.img", &vec![0u8; 20 << 20]);
    let started = Instant::now();
    cryptsetup(&[
        "luksFormat",
        "-q",
        "--type",
        "luks2",
        "--key-file",
        key.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    let format = started.elapsed();
    let dump = Command::new("cryptsetup")
        .args(["luksDump", img.to_str().unwrap()])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    let pbkdf: Vec<&str> = dump
        .lines()
        .map(str::trim)
        .filter(|l| {
            ["PBKDF:", "Time cost:", "Memory:", "Threads:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .collect();
    assert!(pbkdf.iter().any(|l| l.contains("argon2id")), "{dump}");

    let cli = || {
        let t = Instant::now();
        let s = Command::new("cryptsetup")
            .args(["open", "--test-passphrase", "--key-file"])
            .arg(&key)
            .arg(&img)
            .status()
            .unwrap();
        assert!(s.success());
        t.elapsed()
    };
    let ours = || {
        let t = Instant::now();
        let r = CryptsetupOpener.check(
            &img,
            b"a default-cost passphrase",
            &VolumeOptions::default(),
        );
        assert_eq!(r, Ok(()));
        t.elapsed()
    };
    let (mut best_cli, mut best_ours) = (Duration::MAX, Duration::MAX);
    for _ in 0..2 {
        best_cli = best_cli.min(cli());
        best_ours = best_ours.min(ours());
    }
    let wrong = Instant::now();
    assert_eq!(
        CryptsetupOpener.check(&img, b"wrong", &VolumeOptions::default()),
        Err(OpenError::WrongKey)
    );
    let wrong = wrong.elapsed();
    let ratio = best_ours.as_secs_f64() / best_cli.as_secs_f64();
    eprintln!(
        "argon2id default cost ({}), formatted in {:.2} s:\n  cryptsetup open --test-passphrase: {:.3} s\n  sesame CryptsetupOpener::check:    {:.3} s  (ratio {ratio:.2}; a wrong passphrase: {:.3} s)",
        pbkdf.join(", "),
        format.as_secs_f64(),
        best_cli.as_secs_f64(),
        best_ours.as_secs_f64(),
        wrong.as_secs_f64(),
    );
    if std::env::var_os("SESAME_TIMING_STRICT").is_some() {
        assert!(ratio <= 1.2, "ratio {ratio:.2}");
    }
}
