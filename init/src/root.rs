//! One attempt at the real root: the listed volumes opened, the root device found (a
//! plain disk, or a mapping that appears when a volume is unlocked), mounted on
//! /sysroot, its init found. Waiting for devices has a time limit; waiting for an
//! operator's passphrase does not.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use sesame_crypt::device::DeviceSpec;
use tokio::sync::broadcast;

use crate::cmdline::Overlayroot;
use crate::modules::load::Loader;
use crate::overlayroot::{self, Upper};
use crate::rootfs::{self, SYSROOT};
use crate::settings::Settings;
use crate::switch_root::{self, SwitchPlan};
use crate::timeline::Timeline;
use crate::uevent::Uevent;
use crate::unlock::Unlock;
use sesame_storage::wait::wait_for;

/// What an attempt needs.
pub struct RootContext {
    pub settings: Settings,
    pub loader: Option<Arc<Loader>>,
    pub uevents: Option<broadcast::Sender<Arc<Uevent>>>,
    pub timeline: Timeline,
    pub unlock: Option<Arc<Unlock>>,
    /// True once the drivers of disks and network cards are loaded.
    pub drivers_ready: tokio::sync::watch::Receiver<bool>,
}

impl RootContext {
    fn events(&self) -> broadcast::Receiver<Arc<Uevent>> {
        match &self.uevents {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }
}

/// Finds, mounts and checks the real root.
pub async fn find_and_mount(ctx: Arc<RootContext>) -> Result<SwitchPlan> {
    let s = &ctx.settings;
    let spec = s.root.clone().context(
        "no root device: the kernel command line has no root= and the config no boot.root; \
         add root=UUID=<uuid of the root filesystem> to the kernel command line",
    )?;
    crate::test_hooks::checkpoint(s, "root");
    if let Some(u) = &ctx.unlock {
        u.wait_listed(s.timeout).await?;
    }
    let started = Instant::now();
    log::info!(
        "waiting for root {spec}{}",
        match s.timeout {
            Some(t) => format!(" (up to {} s, rd.timeout=)", t.as_secs()),
            None => " (no time limit)".into(),
        }
    );
    let device = loop {
        match wait_for(&spec, ctx.events(), s.timeout).await {
            Ok(d) => break d,
            Err(e) => {
                // The root may be inside a volume nobody has unlocked yet: wait for them.
                let pending = ctx.unlock.as_ref().map(|u| u.pending()).unwrap_or_default();
                if pending.is_empty() {
                    return Err(anyhow::anyhow!(
                        "{e}. Check root= (and rd.timeout= for slow disks)"
                    ));
                }
                let names: Vec<&str> = pending.iter().map(|v| v.name.as_str()).collect();
                log::info!(
                    "root {spec} not found yet; waiting for the passphrase of {}",
                    names.join(", ")
                );
            }
        }
    };
    log::info!(
        "root {spec} is {} (found in {:.2} s)",
        device.describe(),
        started.elapsed().as_secs_f64()
    );
    ctx.timeline.mark("root_found", Some(device.name.clone()));
    let upper = overlay_upper(&ctx).await?;
    let loader = ctx.loader.clone();
    let mount_spec = s.root_mount.clone();
    let dev = device.clone();
    let mounted = tokio::task::spawn_blocking(move || match upper {
        Some(upper) => overlayroot::mount_overlay(
            &dev,
            &mount_spec,
            &upper,
            loader.as_deref(),
            Path::new(SYSROOT),
        ),
        None => {
            let fstype =
                rootfs::mount_root(&dev, &mount_spec, loader.as_deref(), Path::new(SYSROOT))?;
            let ro = rootfs::root_flags(&mount_spec)
                .0
                .contains(nix::mount::MsFlags::MS_RDONLY);
            Ok(format!(
                "{} ({fstype}, {})",
                dev.mount_path().display(),
                if ro { "read-only" } else { "read-write" }
            ))
        }
    })
    .await
    .context("mounting the root")??;
    log::info!("root mounted on {SYSROOT}: {mounted}");
    ctx.timeline.mark("root_mounted", Some(mounted));
    let init = switch_root::find_init(Path::new(SYSROOT), s.init.as_deref())?;
    Ok(SwitchPlan {
        new_root: SYSROOT.into(),
        init,
        args: s.init_args.clone(),
    })
}

/// The overlayroot upper layer asked for, found (devices are waited for like the root).
async fn overlay_upper(ctx: &RootContext) -> Result<Option<Upper>> {
    let spec = match &ctx.settings.overlayroot {
        None | Some(Overlayroot::Disabled) => return Ok(None),
        Some(Overlayroot::Tmpfs) => return Ok(Some(Upper::Tmpfs)),
        Some(Overlayroot::Dev(spec)) => spec.clone(),
        Some(Overlayroot::Crypt(volume)) => DeviceSpec::Path(format!("/dev/mapper/{volume}")),
    };
    let dev = wait_for(&spec, ctx.events(), ctx.settings.timeout)
        .await
        .map_err(|e| anyhow::anyhow!("the overlayroot upper layer: {e}"))?;
    Ok(Some(Upper::Device(Box::new(dev))))
}

/// Undoes a mount left by a failed attempt, before the next one.
pub fn unmount_sysroot() {
    use nix::mount::{umount2, MntFlags};
    let _ = umount2(SYSROOT, MntFlags::MNT_DETACH);
    // An overlay attempt leaves its layers under /sysroot/media (moved) or /run/sesame.
    for layer in ["/run/sesame/root-ro", "/run/sesame/root-rw"] {
        let _ = umount2(layer, MntFlags::MNT_DETACH);
    }
}
