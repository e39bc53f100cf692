//! Opening a LUKS volume: the `Opener` trait the broker drives (blocking; tests use a
//! fake), and `CryptsetupOpener`, which opens LUKS1 and LUKS2 through libcryptsetup
//! (`crypt_init[_data_device]` + `crypt_load` + `crypt_activate_by_passphrase`).
//! Errors carry paths, names and libcryptsetup's error text; never key material.

use std::path::Path;

use libcryptsetup_rs::consts::flags::CryptActivate;
use libcryptsetup_rs::consts::vals::EncryptionFormat;
use libcryptsetup_rs::{CryptDevice, CryptInit, Either, LibcryptErr};

use crate::spec::VolumeOptions;

/// Opens a volume, blocking (a PBKDF takes seconds). `key` is a passphrase or the
/// contents of a key file (already cut by `keyfile-offset=`/`keyfile-size=`).
/// `options.header`, if any, is a path the opener can use as it is (the broker resolves
/// `UUID=`… headers to the device's node).
pub trait Opener: Send + Sync + 'static {
    fn open(
        &self,
        device: &Path,
        name: &str,
        key: &[u8],
        options: &VolumeOptions,
    ) -> Result<(), OpenError>;
}

/// Why a volume did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// No key slot accepts this key.
    #[error("wrong passphrase or key")]
    WrongKey,
    /// Anything else: the device, device-mapper, memory… Never contains key material.
    #[error("{0}")]
    Other(String),
}

/// The real opener: libcryptsetup, the reference implementation. The mapping appears as
/// `/dev/mapper/<name>` (the static libdevmapper, built without udev, makes the node).
#[derive(Debug, Clone, Copy, Default)]
pub struct CryptsetupOpener;

impl Opener for CryptsetupOpener {
    fn open(
        &self,
        device: &Path,
        name: &str,
        key: &[u8],
        options: &VolumeOptions,
    ) -> Result<(), OpenError> {
        activate(device, Some(name), key, options)
    }
}

impl CryptsetupOpener {
    /// Tests a key without opening anything (`crypt_activate_by_passphrase` with no
    /// name, as `cryptsetup open --test-passphrase` does). Needs no device-mapper.
    pub fn check(
        &self,
        device: &Path,
        key: &[u8],
        options: &VolumeOptions,
    ) -> Result<(), OpenError> {
        activate(device, None, key, options)
    }
}

/// The cipher and mode of the LUKS volume at `device` (`("aes", "xts-plain64")`), read
/// from its header without any key — what the builder needs to carry its modules.
pub fn luks_cipher(device: &Path) -> Result<(String, String), OpenError> {
    let mut cd = load(device, &VolumeOptions::default())?;
    let mut status = cd.status_handle();
    let cipher = status.get_cipher();
    let mode = status.get_cipher_mode();
    match (cipher, mode) {
        (Ok(c), Ok(m)) => Ok((c, m)),
        (Err(e), _) | (_, Err(e)) => Err(OpenError::Other(format!(
            "{}: no cipher in the LUKS header ({})",
            device.display(),
            describe(&e)
        ))),
    }
}

/// The activation flags the options ask for.
pub fn activation_flags(options: &VolumeOptions) -> CryptActivate {
    let mut flags = CryptActivate::empty();
    for (on, flag) in [
        (options.discard, CryptActivate::ALLOW_DISCARDS),
        (options.readonly, CryptActivate::READONLY),
        (options.no_read_workqueue, CryptActivate::NO_READ_WORKQUEUE),
        (
            options.no_write_workqueue,
            CryptActivate::NO_WRITE_WORKQUEUE,
        ),
        (options.same_cpu_crypt, CryptActivate::SAME_CPU_CRYPT),
        (
            options.submit_from_crypt_cpus,
            CryptActivate::SUBMIT_FROM_CRYPT_CPUS,
        ),
    ] {
        if on {
            flags |= flag;
        }
    }
    flags
}

fn activate(
    device: &Path,
    name: Option<&str>,
    key: &[u8],
    options: &VolumeOptions,
) -> Result<(), OpenError> {
    let mut cd = load(device, options)?;
    let costs = crate::kdf_memory::keyslot_costs_kib(&mut cd, options.key_slot);
    let available = crate::kdf_memory::available_kib();
    if let (Some(needed), Some(have)) =
        (crate::kdf_memory::too_costly(&costs, available), available)
    {
        return Err(OpenError::Other(crate::kdf_memory::explain(
            device, needed, have,
        )));
    }
    let result = cd.activate_handle().activate_by_passphrase(
        name,
        options.key_slot,
        key,
        activation_flags(options),
    );
    match result {
        Ok(_slot) => Ok(()),
        Err(e) => {
            let mut status = cd.status_handle();
            let cipher = status.get_cipher().ok().zip(status.get_cipher_mode().ok());
            let cipher = cipher.as_ref().map(|(c, m)| (c.as_str(), m.as_str()));
            Err(activation_error(&e, device, name, options, cipher))
        }
    }
}

/// `crypt_init` (with the detached header, if any) and `crypt_load` of a LUKS header.
fn load(device: &Path, options: &VolumeOptions) -> Result<CryptDevice, OpenError> {
    let shown = device.display();
    let header = options.header.as_ref().map(|h| Path::new(&h.path));
    let init = match header {
        Some(h) => CryptInit::init_with_data_device(Either::Right((h, device))),
        None => CryptInit::init(device),
    };
    let mut cd = init.map_err(|e| {
        OpenError::Other(match header {
            Some(h) => format!(
                "{shown}: cannot use it with the header {}: {}",
                h.display(),
                describe(&e)
            ),
            None => format!("{shown}: cannot open the device: {}", describe(&e)),
        })
    })?;
    let where_ = header.unwrap_or(device).display().to_string();
    cd.context_handle().load::<()>(None, None).map_err(|e| {
        OpenError::Other(format!(
            "{where_}: the LUKS header is damaged or missing: libcryptsetup cannot load it \
                 ({}); restore a header backup with `cryptsetup luksHeaderRestore`",
            describe(&e)
        ))
    })?;
    match cd.format_handle().get_type() {
        Ok(EncryptionFormat::Luks1 | EncryptionFormat::Luks2) => Ok(cd),
        Ok(other) => Err(OpenError::Other(format!(
            "{where_}: {other:?} is not LUKS1 or LUKS2"
        ))),
        Err(e) => Err(OpenError::Other(format!(
            "{where_}: unknown header type ({})",
            describe(&e)
        ))),
    }
}

/// `cipher` is the volume's (cipher, mode) from its header, e.g. `("aes", "xts-plain64")`.
fn activation_error(
    e: &LibcryptErr,
    device: &Path,
    name: Option<&str>,
    options: &VolumeOptions,
    cipher: Option<(&str, &str)>,
) -> OpenError {
    let errno = match e {
        LibcryptErr::IOError(io) => io.raw_os_error(),
        _ => None,
    };
    let shown = device.display();
    // A cipher the kernel lacks: dm-crypt says ENOTSUP/ENODEV/ENXIO, an AF_ALG socket for
    // the key slot ENOENT. Name the modules when the cipher is not the image's AES.
    let missing_cipher = || {
        let (c, m) = cipher?;
        let aliases = crate::cipher::modules_beyond_aes(c, m)?;
        let listed: Vec<String> = aliases.iter().map(|a| format!("\"{a}\"")).collect();
        Some(format!(
            "the volume's cipher {c}-{m} needs kernel modules the image does not carry: add \
             `include = [{}]` under [modules] in /etc/sesame/config.toml and rebuild the image \
             ({})",
            listed.join(", "),
            describe(e)
        ))
    };
    let what = match errno {
        Some(libc::EPERM) => return OpenError::WrongKey,
        Some(libc::ENOENT) if options.key_slot.is_some() => format!(
            "key slot {} is not in use",
            options.key_slot.unwrap_or_default()
        ),
        Some(libc::ENOMEM) => {
            "not enough memory for the key derivation (argon2 needs the memory the key slot was made with)".to_string()
        }
        Some(libc::EEXIST) => format!(
            "a device-mapper device named {} already exists",
            name.unwrap_or("?")
        ),
        Some(libc::EBUSY) => "the device is in use (already opened under another name?)".to_string(),
        Some(errno @ (libc::ENOTSUP | libc::ENODEV | libc::ENXIO | libc::ENOENT)) => {
            match missing_cipher() {
                Some(advice) => advice,
                None if errno == libc::ENOENT => describe(e),
                None => format!(
                    "device-mapper or the cipher is missing: load dm_mod, dm_crypt and the cipher modules ({})",
                    describe(e)
                ),
            }
        }
        _ => describe(e),
    };
    OpenError::Other(format!("{shown}: {what}"))
}

/// libcryptsetup's error as text (its errno message; the details go to its log).
fn describe(e: &LibcryptErr) -> String {
    match e {
        LibcryptErr::IOError(io) => io.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_options() {
        let o = VolumeOptions {
            discard: true,
            readonly: true,
            no_read_workqueue: true,
            no_write_workqueue: true,
            ..Default::default()
        };
        let f = activation_flags(&o);
        assert!(f.contains(CryptActivate::ALLOW_DISCARDS | CryptActivate::READONLY));
        assert!(f.contains(CryptActivate::NO_READ_WORKQUEUE | CryptActivate::NO_WRITE_WORKQUEUE));
        assert!(!f.contains(CryptActivate::SAME_CPU_CRYPT));
        assert!(activation_flags(&VolumeOptions::default()).is_empty());
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = |errno| LibcryptErr::IOError(std::io::Error::from_raw_os_error(errno));
        let o = VolumeOptions::default();
        let dev = Path::new("/dev/vda2");
        assert_eq!(
            activation_error(&e(libc::EPERM), dev, Some("root"), &o, None),
            OpenError::WrongKey
        );
        let msg = activation_error(&e(libc::EEXIST), dev, Some("root"), &o, None).to_string();
        assert!(msg.contains("/dev/vda2") && msg.contains("root"), "{msg}");
        let msg = activation_error(&e(libc::ENOTSUP), dev, Some("root"), &o, None).to_string();
        assert!(msg.contains("dm_crypt"), "{msg}");
        let aes = Some(("aes", "xts-plain64"));
        let msg = activation_error(&e(libc::ENOTSUP), dev, Some("root"), &o, aes).to_string();
        assert!(msg.contains("dm_crypt"), "{msg}");
        let camellia = Some(("camellia", "cbc-essiv:sha256"));
        for errno in [libc::ENOTSUP, libc::ENOENT] {
            let msg = activation_error(&e(errno), dev, Some("root"), &o, camellia).to_string();
            assert!(
                msg.starts_with("/dev/vda2: the volume's cipher camellia-cbc-essiv:sha256")
                    && msg.contains(r#"`include = ["crypto-camellia"]` under [modules]"#),
                "{msg}"
            );
        }
        let slot = VolumeOptions {
            key_slot: Some(3),
            ..Default::default()
        };
        let msg = activation_error(&e(libc::ENOENT), dev, None, &slot, None).to_string();
        assert!(msg.contains("key slot 3"), "{msg}");
    }

    #[test]
    fn a_missing_device_is_an_error_with_its_path() {
        let err = CryptsetupOpener
            .check(
                Path::new("/nonexistent/sesame.img"),
                b"x",
                &VolumeOptions::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/sesame.img"), "{err}");
    }
}
