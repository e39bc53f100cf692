//! Drivers at boot: coldplug of the devices present (after the uevent socket is open,
//! so none slips through), the config's `modules.load`, and drivers for every device the
//! kernel announces later (hot-plug, devices a fresh driver creates).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;

use crate::modules::coldplug::{self, ColdplugReport, Devices};
use crate::modules::index::ModuleIndex;
use crate::modules::load::Loader;
use crate::settings::Settings;
use crate::timeline::Timeline;
use crate::uevent::Uevent;

/// Reads the image's module index and starts loading drivers in the background:
/// coldplug of the devices present, the config's `modules.load`, and every device
/// announced later. Returns at once, so the network, SSH and the console start while
/// drivers load (they all follow devices as they appear).
/// `buses_done` turns true once the disks' and network cards' drivers are loaded (at
/// once when there is no module index).
pub async fn load_modules(
    settings: &Settings,
    uevents: Option<&broadcast::Sender<Arc<Uevent>>>,
    timeline: &Timeline,
    buses_done: tokio::sync::watch::Sender<bool>,
) -> Option<Arc<Loader>> {
    let started = Instant::now();
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = std::path::PathBuf::from("/lib/modules").join(&release);
    let index = match ModuleIndex::read_dir(&dir) {
        Ok(i) => i,
        Err(e) => {
            let present: Vec<String> = std::fs::read_dir("/lib/modules")
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            log::error!(
                "no modules for the running kernel {release} ({e}); the image has modules for: {}. \
                 Rebuild it for this kernel: sesame build --kernel-version {release}",
                if present.is_empty() { "none".into() } else { present.join(", ") }
            );
            timeline.mark("modules_loaded", Some("none".into()));
            buses_done.send_replace(true);
            return None;
        }
    };
    let loader = Arc::new(Loader::new(&dir, index, &settings.cmdline_words));
    if let Some(tx) = uevents {
        tokio::spawn(hotplug_modules(loader.clone(), tx.subscribe()));
    }
    let coldplug_loader = loader.clone();
    let load = settings.modules_load.clone();
    let timeline = timeline.clone();
    tokio::task::spawn_blocking(move || {
        let dir = std::path::Path::new("/sys/devices");
        // Disks and NICs first: that is what the boot waits for.
        let buses = coldplug::coldplug(&coldplug_loader, dir, Devices::Buses);
        log::info!(
            "modules: {} loaded for disks and network cards in {:.2} s",
            buses.loaded.len(),
            started.elapsed().as_secs_f64()
        );
        timeline.mark(
            "modules_loaded",
            Some(format!("{} modules", buses.loaded.len())),
        );
        let rest = coldplug::coldplug(&coldplug_loader, dir, Devices::All);
        for name in &load {
            if let Err(e) = coldplug_loader.load(name) {
                log::warn!("{e} (listed in modules.load of the config)");
            }
        }
        log::debug!(
            "modules: {} more for the other devices, {:.2} s in all",
            rest.loaded.len(),
            started.elapsed().as_secs_f64()
        );
    });
    Some(loader)
}

/// Loads drivers for devices the kernel announces after coldplug (hot-plug, devices a
/// freshly loaded driver creates).
async fn hotplug_modules(loader: Arc<Loader>, mut events: broadcast::Receiver<Arc<Uevent>>) {
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                log::debug!("{n} uevents missed; rescanning sysfs");
                let l = loader.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    coldplug::coldplug(&l, std::path::Path::new("/sys/devices"), Devices::All)
                })
                .await;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if ev.action != "add" {
            continue;
        }
        let Some(alias) = ev.modalias().map(str::to_string) else {
            continue;
        };
        let l = loader.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut report = ColdplugReport::default();
            coldplug::load_for(&l, &alias, &mut report);
            for m in report.loaded {
                log::info!("loaded {m} for a new device ({alias})");
            }
        })
        .await;
    }
}
