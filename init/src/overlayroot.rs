//! overlayroot, as Ubuntu's overlayroot does it: the real root mounted read-only as the
//! lower layer, an upper layer on a tmpfs (`rd.sesame.overlayroot=tmpfs`), a device's
//! filesystem (`dev:<device>`) or an opened LUKS volume (`crypt:<volume>`), and the
//! overlay becomes the new root. The lower stays visible read-only under
//! `/media/root-ro` in the new root, the upper under `/media/root-rw`.

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use crate::modules::load::Loader;
use crate::rootfs::{self, RootMount};
use sesame_storage::scan::BlockDevice;

/// Where the layers are mounted in the initramfs before they move into the new root.
const LOWER: &str = "/run/sesame/root-ro";
const UPPER: &str = "/run/sesame/root-rw";

/// What carries the upper layer.
#[derive(Debug, Clone)]
pub enum Upper {
    Tmpfs,
    /// A block device (from `dev:` or an opened volume's /dev/mapper node), formatted
    /// already; its filesystem keeps the changes across boots.
    Device(Box<BlockDevice>),
}

/// Mounts `lower` read-only, the upper layer, and the overlay on `target`; then moves
/// both layers under `<target>/media/`. Returns a description for the log.
pub fn mount_overlay(
    lower: &BlockDevice,
    root_mount: &RootMount,
    upper: &Upper,
    loader: Option<&Loader>,
    target: &Path,
) -> Result<String> {
    if let Some(l) = loader {
        if let Err(e) = l.load("overlay") {
            log::debug!("{e}");
        }
    }
    let read_only = RootMount {
        read_only: Some(true),
        ..root_mount.clone()
    };
    let lower_type = rootfs::mount_root(lower, &read_only, loader, Path::new(LOWER))
        .context("mounting the real root read-only as the lower layer")?;
    let upper_what = match upper {
        Upper::Tmpfs => {
            mkdir(UPPER)?;
            mount(
                Some("tmpfs-root"),
                UPPER,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=0755"),
            )
            .context("mounting the tmpfs upper layer")?;
            "tmpfs".to_string()
        }
        Upper::Device(dev) => {
            let rw = RootMount {
                fstype: None,
                flags: None,
                read_only: Some(false),
            };
            let t = rootfs::mount_root(dev, &rw, loader, Path::new(UPPER)).with_context(|| {
                format!("mounting the upper layer {}", dev.mount_path().display())
            })?;
            format!("{} ({t})", dev.mount_path().display())
        }
    };
    for d in ["overlay", "overlay-workdir"] {
        mkdir(&format!("{UPPER}/{d}"))?;
    }
    let options =
        format!("lowerdir={LOWER},upperdir={UPPER}/overlay,workdir={UPPER}/overlay-workdir");
    mount(
        Some("overlayroot"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .context("mounting the overlay (is the overlay module in the image?)")?;
    for (from, to) in [(LOWER, "media/root-ro"), (UPPER, "media/root-rw")] {
        let dest = target.join(to);
        std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
        mount(
            Some(from),
            &dest,
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .with_context(|| format!("moving {from} to {}", dest.display()))?;
    }
    Ok(format!(
        "overlay of {} ({lower_type}, read-only) and {upper_what}",
        lower.node.display()
    ))
}

fn mkdir(path: &str) -> Result<()> {
    match nix::unistd::mkdir(path, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(_) => std::fs::create_dir_all(path).with_context(|| format!("creating {path}")),
    }
}
