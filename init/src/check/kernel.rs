//! The kernel can unpack the image: its build config (`/boot/config-<version>`, else
//! `/proc/config.gz` for the running kernel) enables the decompressor of the chosen
//! compression (`CONFIG_RD_ZSTD`, `CONFIG_RD_GZIP`). A kernel that cannot panics with
//! "no cpio magic" long before sesame runs.

use std::io::Read;

use super::{error, ok, warn, Finding};
use crate::host::{running_kernel, Host};
use crate::image::cpio::Compression;

pub(super) fn check_decompressor(
    host: &Host,
    version: &str,
    how: Compression,
    out: &mut Vec<Finding>,
) {
    let option = match how {
        Compression::None => return,
        Compression::Zstd => "CONFIG_RD_ZSTD",
        Compression::Gzip => "CONFIG_RD_GZIP",
    };
    let name = format!("{how:?}").to_lowercase();
    let Some((source, text)) = kernel_config(host, version) else {
        out.push(warn(format!(
            "cannot tell whether kernel {version} unpacks a {name} image (no \
             /boot/config-{version}); distribution kernels do, but if the boot stops at \
             \"no cpio magic\", build with --compress gzip"
        )));
        return;
    };
    match config_value(&text, option).as_deref() {
        Some("y") => out.push(ok(format!(
            "kernel {version} unpacks {name} images ({option}=y in {source})"
        ))),
        _ => {
            let other = match how {
                Compression::Zstd
                    if config_value(&text, "CONFIG_RD_GZIP").as_deref() == Some("y") =>
                {
                    "; this kernel has CONFIG_RD_GZIP=y: use --compress gzip"
                }
                _ => "; use --compress none, or a kernel built with it",
            };
            out.push(error(format!(
                "kernel {version} cannot unpack a {name} image ({option} is not set in \
                 {source}){other}"
            )))
        }
    }
}

/// The kernel's build config and where it came from.
fn kernel_config(host: &Host, version: &str) -> Option<(String, String)> {
    let path = host.path(&format!("/boot/config-{version}"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Some((path.display().to_string(), text));
    }
    if !host.is_system() || running_kernel().ok().as_deref() != Some(version) {
        return None;
    }
    let gz = std::fs::read("/proc/config.gz").ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .ok()?;
    Some(("/proc/config.gz".into(), text))
}

/// `CONFIG_X=value`'s value; `None` when absent or `# CONFIG_X is not set`.
fn config_value(text: &str, option: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(option)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;

    fn run(config: Option<&str>, how: Compression) -> Vec<Finding> {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        if let Some(text) = config {
            std::fs::create_dir_all(dir.path().join("boot")).unwrap();
            std::fs::write(dir.path().join("boot/config-6.1.0-1-test"), text).unwrap();
        }
        let mut out = Vec::new();
        check_decompressor(&host, "6.1.0-1-test", how, &mut out);
        out
    }

    #[test]
    fn the_decompressor_must_be_built_in() {
        let both = "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n";
        assert_eq!(run(Some(both), Compression::Zstd)[0].severity, Severity::Ok);
        assert_eq!(run(Some(both), Compression::Gzip)[0].severity, Severity::Ok);
        let gzip_only = "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n";
        let out = run(Some(gzip_only), Compression::Zstd);
        assert_eq!(out[0].severity, Severity::Error, "{out:?}");
        assert!(out[0].text.contains("CONFIG_RD_ZSTD is not set"), "{out:?}");
        assert!(out[0].text.contains("--compress gzip"), "{out:?}");
        let out = run(Some("CONFIG_RD_XZ=y\n"), Compression::Gzip);
        assert_eq!(out[0].severity, Severity::Error, "{out:?}");
        assert!(run(Some(""), Compression::None).is_empty());
        let out = run(None, Compression::Zstd);
        assert_eq!(out[0].severity, Severity::Warning, "{out:?}");
    }

    #[test]
    fn config_values() {
        let text = "CONFIG_RD_ZSTD=y\nCONFIG_RD_ZSTD_X=m\n# CONFIG_RD_GZIP is not set\n";
        assert_eq!(config_value(text, "CONFIG_RD_ZSTD").as_deref(), Some("y"));
        assert_eq!(config_value(text, "CONFIG_RD_GZIP"), None);
    }
}
