//! LUKS headers read through libcryptsetup, the reference implementation: which version a
//! device holds and its UUID (opening them is `open`'s), and libcryptsetup's own log.

use std::path::Path;

use libcryptsetup_rs::consts::vals::EncryptionFormat;
use libcryptsetup_rs::{CryptInit, LibcryptErr};

/// What libcryptsetup says about a LUKS device's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuksHeader {
    /// 1 or 2.
    pub version: u8,
    /// The header's UUID, lower-case, as `rd.luks.uuid=` and crypttab's `UUID=` name it.
    pub uuid: String,
}

/// Why a device's LUKS header could not be read. Never carries secrets: only paths and
/// libcryptsetup's error text.
#[derive(Debug, thiserror::Error)]
pub enum LuksError {
    #[error("{path}: libcryptsetup cannot open the device: {source}")]
    Init { path: String, source: LibcryptErr },
    #[error(
        "{path}: the LUKS header is damaged or of an unknown version: libcryptsetup cannot \
         load it ({source}); restore a header backup with `cryptsetup luksHeaderRestore`"
    )]
    Load { path: String, source: LibcryptErr },
    #[error("{path}: {what} is not LUKS1 or LUKS2")]
    NotLuks { path: String, what: String },
}

/// Reads the LUKS header of `path` with libcryptsetup (`crypt_init` + `crypt_load`).
pub fn read_header(path: &Path) -> Result<LuksHeader, LuksError> {
    let shown = path.display().to_string();
    let mut device = CryptInit::init(path).map_err(|source| LuksError::Init {
        path: shown.clone(),
        source,
    })?;
    device
        .context_handle()
        .load::<()>(None, None)
        .map_err(|source| LuksError::Load {
            path: shown.clone(),
            source,
        })?;
    let version = match device.format_handle().get_type() {
        Ok(EncryptionFormat::Luks1) => 1,
        Ok(EncryptionFormat::Luks2) => 2,
        Ok(other) => {
            return Err(LuksError::NotLuks {
                path: shown,
                what: format!("{other:?}"),
            })
        }
        Err(e) => {
            return Err(LuksError::NotLuks {
                path: shown,
                what: e.to_string(),
            })
        }
    };
    let uuid = device
        .status_handle()
        .get_uuid()
        .map_err(|source| LuksError::Load {
            path: shown,
            source,
        })?;
    Ok(LuksHeader {
        version,
        uuid: uuid.hyphenated().to_string(),
    })
}

/// Routes libcryptsetup's own messages to the `log` facade instead of stderr, so they
/// reach the console and /dev/kmsg with a level and nothing is printed twice.
pub fn route_library_log() {
    use libcryptsetup_rs::consts::vals::CryptLogLevel;
    extern "C" fn callback(
        level: std::os::raw::c_int,
        msg: *const std::os::raw::c_char,
        _usrptr: *mut std::os::raw::c_void,
    ) {
        if msg.is_null() {
            return;
        }
        // SAFETY: libcryptsetup passes a NUL-terminated string valid for this call.
        let text = unsafe { std::ffi::CStr::from_ptr(msg) }.to_string_lossy();
        let text = text.trim_end();
        match CryptLogLevel::try_from(level) {
            Ok(CryptLogLevel::Error) => log::warn!("libcryptsetup: {text}"),
            Ok(CryptLogLevel::Normal) | Ok(CryptLogLevel::Verbose) => {
                log::info!("libcryptsetup: {text}")
            }
            _ => log::debug!("libcryptsetup: {text}"),
        }
    }
    libcryptsetup_rs::set_log_callback::<()>(Some(callback), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_luks_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("sesame-luks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("zeros.img");
        std::fs::write(&img, vec![0u8; 64 * 1024]).unwrap();
        let err = read_header(&img).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("zeros.img"), "{msg}");
        assert!(matches!(err, LuksError::Load { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_real_luks2_header_is_read() {
        // cryptsetup works offline on plain files (no device-mapper needed for luksFormat).
        let dir = std::env::temp_dir().join(format!("sesame-luks2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("luks.img");
        let key = dir.join("key");
        std::fs::write(&img, vec![0u8; 20 * 1024 * 1024]).unwrap();
        std::fs::write(&key, b"not-a-real-secret").unwrap();
        let status = std::process::Command::new("cryptsetup")
            .args(["luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2"])
            .args(["--pbkdf-force-iterations", "1000", "--uuid"])
            .arg("0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab")
            .arg(&img)
            .arg(&key)
            .status()
            .expect("cryptsetup is needed: apt-get install -y cryptsetup-bin");
        assert!(status.success());
        let header = read_header(&img).unwrap();
        assert_eq!(header.version, 2);
        assert_eq!(header.uuid, "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
