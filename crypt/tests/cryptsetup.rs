//! `CryptsetupOpener` against real LUKS1 and LUKS2 images made by `cryptsetup` on plain
//! files: right and wrong passphrases through the passphrase check (activation without a
//! name, like `cryptsetup open --test-passphrase`), key files cut by
//! `keyfile-offset=`/`keyfile-size=`, a detached header, a key slot.

mod common;

use std::path::Path;

use common::{cryptsetup, luks_image, write};
use sesame_crypt::open::OpenError;
use sesame_crypt::spec::HeaderSpec;
use sesame_crypt::{CryptsetupOpener, KeyfileReader, MountingKeyfileReader, VolumeOptions};

fn check(img: &Path, key: &[u8], options: &VolumeOptions) -> Result<(), OpenError> {
    CryptsetupOpener.check(img, key, options)
}

#[test]
fn luks2_and_luks1_right_and_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "pass", b"correct horse");
    for kind in ["luks2", "luks1"] {
        let img = luks_image(dir.path(), &format!("{kind}.img"), kind, &key, &[]);
        let header = sesame_crypt::luks::read_header(&img).unwrap();
        assert_eq!(header.version, if kind == "luks1" { 1 } else { 2 });
        let none = VolumeOptions::default();
        assert_eq!(check(&img, b"correct horse", &none), Ok(()), "{kind}");
        assert_eq!(
            check(&img, b"correct horse\n", &none),
            Err(OpenError::WrongKey),
            "{kind}"
        );
        assert_eq!(
            check(&img, b"wrong", &none),
            Err(OpenError::WrongKey),
            "{kind}"
        );
        // Activation options do not get in the way of the check.
        let opts = VolumeOptions {
            discard: true,
            readonly: true,
            no_read_workqueue: true,
            no_write_workqueue: true,
            ..Default::default()
        };
        assert_eq!(check(&img, b"correct horse", &opts), Ok(()), "{kind}");
    }
}

#[test]
fn not_luks_is_an_error_not_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let img = write(dir.path(), "zeros.img", &vec![0u8; 1 << 20]);
    match check(&img, b"x", &VolumeOptions::default()) {
        Err(OpenError::Other(m)) => assert!(
            m.contains("zeros.img") && m.contains("LUKS header is damaged or missing"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_files_cut_by_offset_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    bytes[10] = b'\n';
    let kf = write(dir.path(), "data.key", &bytes);
    let img = luks_image(
        dir.path(),
        "data.img",
        "luks2",
        &kf,
        &["--keyfile-offset", "7", "--keyfile-size", "32"],
    );
    let reader = MountingKeyfileReader::with_root(dir.path());
    let opts = VolumeOptions {
        keyfile_offset: Some(7),
        keyfile_size: Some(32),
        ..Default::default()
    };
    let key = reader
        .read("/data.key", None, opts.keyfile_offset, opts.keyfile_size)
        .unwrap();
    assert_eq!(key.as_bytes(), &bytes[7..39]);
    assert_eq!(check(&img, key.as_bytes(), &opts), Ok(()));
    let off_by_one = reader.read("/data.key", None, Some(8), Some(32)).unwrap();
    assert_eq!(
        check(&img, off_by_one.as_bytes(), &opts),
        Err(OpenError::WrongKey)
    );
    let whole = reader.read("/data.key", None, None, None).unwrap();
    assert_eq!(
        check(&img, whole.as_bytes(), &opts),
        Err(OpenError::WrongKey)
    );
}

#[test]
fn a_detached_header() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "pass", b"detached");
    let hdr = write(dir.path(), "hdr.img", &vec![0u8; 16 << 20]);
    let data = luks_image(
        dir.path(),
        "data.img",
        "luks2",
        &key,
        &["--header", hdr.to_str().unwrap()],
    );
    let with_header = VolumeOptions {
        header: Some(HeaderSpec {
            path: hdr.to_string_lossy().into_owned(),
            device: None,
        }),
        ..Default::default()
    };
    assert_eq!(check(&data, b"detached", &with_header), Ok(()));
    assert_eq!(
        check(&data, b"nope", &with_header),
        Err(OpenError::WrongKey)
    );
    // Without it, the data device has no header.
    assert!(matches!(
        check(&data, b"detached", &VolumeOptions::default()),
        Err(OpenError::Other(_))
    ));
}

#[test]
fn a_key_slot() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "first", b"first-pass");
    let second = write(dir.path(), "second", b"second-pass");
    let img = luks_image(dir.path(), "slots.img", "luks2", &first, &[]);
    cryptsetup(&[
        "luksAddKey",
        "-q",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        first.to_str().unwrap(),
        "--new-key-slot",
        "3",
        img.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    let slot3 = VolumeOptions {
        key_slot: Some(3),
        ..Default::default()
    };
    assert_eq!(check(&img, b"second-pass", &slot3), Ok(()));
    assert_eq!(check(&img, b"first-pass", &slot3), Err(OpenError::WrongKey));
    assert_eq!(
        check(&img, b"first-pass", &VolumeOptions::default()),
        Ok(())
    );
    let slot5 = VolumeOptions {
        key_slot: Some(5),
        ..Default::default()
    };
    match check(&img, b"first-pass", &slot5) {
        Err(OpenError::Other(m)) => assert!(m.contains("key slot 5"), "{m}"),
        other => panic!("an unused key slot: {other:?}"),
    }
}
