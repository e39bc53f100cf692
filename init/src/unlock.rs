//! The LUKS side of the boot: which volumes (sesame-crypt decides from the command line,
//! the image's crypttab and the config), feeding the broker every block device as it
//! appears, loading dm-crypt and its ciphers before the first open, and waiting until
//! the volumes are open — devices time out, operators do not.

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use sesame_crypt::{
    Broker, CryptsetupOpener, DeviceIdentity, MountingKeyfileReader, OpenError, Opener, Passphrase,
    Selection, SubmitOutcome, VolumeOptions, VolumeState, VolumeStatus,
};
use tokio::sync::broadcast;

use crate::image::modset::CRYPT_MODULES;
use crate::modules::load::Loader;
use crate::settings::Settings;
use crate::timeline::Timeline;
use crate::uevent::Uevent;
use sesame_storage::scan::BlockDevice;
use sesame_storage::wait::scan_now;

/// How long the passphrase stays in the keyring for the real system (systemd's
/// cryptsetup uses the key within seconds of starting).
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(150);

/// Where the image keeps its crypttab.
pub const CRYPTTAB_PATH: &str = "/etc/crypttab";

/// The volumes of this boot and the broker that opens them.
pub struct Unlock {
    pub broker: Broker,
    /// Whether the selection names volumes (as opposed to discovering every LUKS device).
    pub listed: bool,
    timeline: Timeline,
    first_request: Once,
}

/// Opens through libcryptsetup, loading dm-crypt and its ciphers first (no udev, and the
/// kernel's own module requests are only a fallback).
struct LoadingOpener {
    inner: CryptsetupOpener,
    loader: Option<Arc<Loader>>,
    once: Once,
}

impl Opener for LoadingOpener {
    fn open(
        &self,
        device: &Path,
        name: &str,
        key: &[u8],
        options: &VolumeOptions,
    ) -> Result<(), OpenError> {
        self.once.call_once(|| {
            let started = Instant::now();
            if let Some(loader) = &self.loader {
                for m in CRYPT_MODULES {
                    if let Err(e) = loader.load(m) {
                        log::debug!("{e}");
                    }
                }
            }
            let _ = std::fs::create_dir_all("/run/cryptsetup");
            log::debug!(
                "dm-crypt modules ready in {:.2} s",
                started.elapsed().as_secs_f64()
            );
        });
        self.inner.open(device, name, key, options)
    }
}

/// Chooses the volumes and starts feeding the broker with devices. None when LUKS is
/// disabled (`rd.luks=0`).
pub fn start(
    settings: &Settings,
    loader: Option<Arc<Loader>>,
    uevents: Option<&broadcast::Sender<Arc<Uevent>>>,
    timeline: Timeline,
) -> Option<Arc<Unlock>> {
    let crypttab_text = std::fs::read_to_string(CRYPTTAB_PATH).unwrap_or_default();
    let (crypttab, errors) = sesame_crypt::crypttab::parse_crypttab(&crypttab_text);
    for e in errors {
        log::warn!("{CRYPTTAB_PATH}: {e}");
    }
    let (selection, problems) = sesame_crypt::select_volumes(
        &settings.luks,
        &crypttab,
        settings.root.as_ref(),
        &settings.luks_volumes,
    );
    for p in problems {
        log::warn!("{p}");
    }
    let listed = match &selection {
        Selection::Disabled => {
            log::info!("LUKS: disabled (rd.luks=0)");
            return None;
        }
        Selection::Listed(v) => {
            let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
            log::info!("LUKS: volumes to open: {}", names.join(", "));
            true
        }
        Selection::DiscoverAll { .. } => false,
    };
    let opener = Arc::new(LoadingOpener {
        inner: CryptsetupOpener,
        loader,
        once: Once::new(),
    });
    let broker = Broker::new(
        selection,
        opener,
        Arc::new(MountingKeyfileReader::default()),
    );
    let events = uevents.map(|tx| tx.subscribe());
    tokio::spawn(feed_devices(broker.clone(), events));
    tokio::spawn(mark_progress(broker.clone(), timeline.clone()));
    Some(Arc::new(Unlock {
        broker,
        listed,
        timeline,
        first_request: Once::new(),
    }))
}

/// Tells the broker about every block device now and whenever the kernel adds one. A
/// LUKS header libcryptsetup rejects is reported once, naming the device.
async fn feed_devices(broker: Broker, mut events: Option<broadcast::Receiver<Arc<Uevent>>>) {
    let mut reported = std::collections::HashSet::new();
    loop {
        for dev in scan_now().await {
            if let Some(e) = damaged_luks(&dev) {
                if reported.insert(dev.node.clone()) {
                    log::error!("LUKS: {e}; it is not offered for unlocking");
                }
            }
            broker.device_appeared(identity(&dev));
        }
        let Some(rx) = events.as_mut() else { return };
        loop {
            match rx.recv().await {
                Ok(ev) if ev.subsystem() == Some("block") && ev.action != "remove" => break,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Why libcryptsetup rejected the LUKS header of `dev`, if it did.
fn damaged_luks(dev: &BlockDevice) -> Option<&str> {
    dev.fs.as_ref().filter(|f| f.fstype.is_luks())?;
    dev.error.as_deref()
}

/// What the broker matches volume specs against. A device whose LUKS header cannot be
/// loaded has no LUKS UUID, so it is never offered as a discovered volume (a volume named
/// on the command line still finds it by UUID, and fails to open naming the device).
fn identity(dev: &BlockDevice) -> DeviceIdentity {
    let fs = dev.fs.as_ref().filter(|f| f.conflicts.is_empty());
    let luks = fs
        .filter(|f| f.fstype.is_luks())
        .filter(|_| damaged_luks(dev).is_none());
    DeviceIdentity {
        path: dev.node.clone(),
        luks_uuid: luks.and_then(|f| f.uuid.clone()),
        fs_uuid: fs.and_then(|f| f.uuid.clone()),
        label: fs.and_then(|f| f.label.clone()),
        partuuid: dev.partuuid.clone(),
        partlabel: dev.partlabel.clone(),
        other_paths: dev
            .dm_name
            .iter()
            .map(|n| format!("/dev/mapper/{n}"))
            .collect(),
    }
}

/// Marks `volumes_open` in the timeline when nothing is left to open.
async fn mark_progress(broker: Broker, timeline: Timeline) {
    let status = broker.settled().await;
    let open = status
        .iter()
        .filter(|v| v.state == VolumeState::Open)
        .count();
    if open > 0 {
        timeline.mark("volumes_open", Some(format!("{open} open")));
    }
}

impl Unlock {
    /// A passphrase from the console or an SSH session; the first one marks
    /// `unlock_requested` in the timeline.
    pub async fn submit(
        &self,
        volume: Option<&str>,
        passphrase: Passphrase,
        source: &str,
    ) -> SubmitOutcome {
        self.first_request.call_once(|| {
            self.timeline
                .mark("unlock_requested", Some(source.to_string()))
        });
        self.broker.submit(volume, passphrase, source).await
    }

    /// Before switch_root: unmount the keys volumes and, when asked (`rd.sesame.keyring=1`),
    /// leave the passphrase that worked in the kernel keyring for systemd-cryptsetup.
    pub fn before_switch_root(&self, keyring: bool) {
        self.broker.release_keyfile_mounts();
        if !keyring {
            return;
        }
        match self.broker.last_good_passphrase() {
            Some(p) => match sesame_crypt::hand_on_to_keyring(&p, KEYRING_TIMEOUT) {
                Ok(()) => log::info!(
                    "the passphrase is in the kernel keyring for {} s (key \"cryptsetup\")",
                    KEYRING_TIMEOUT.as_secs()
                ),
                Err(e) => log::warn!("could not hand the passphrase to the keyring: {e}"),
            },
            None => log::info!("keyring: no passphrase was typed; nothing to hand on"),
        }
    }

    /// Volumes still waiting for a passphrase or being opened.
    pub fn pending(&self) -> Vec<VolumeStatus> {
        self.broker
            .status()
            .borrow()
            .iter()
            .filter(|v| matches!(v.state, VolumeState::Locked | VolumeState::Unlocking))
            .cloned()
            .collect()
    }

    /// For listed volumes: waits until every one is open (or failed with `nofail`). A
    /// volume whose device does not appear within `device_timeout` is an error naming it;
    /// a volume waiting for its passphrase waits as long as it takes.
    pub async fn wait_listed(&self, device_timeout: Option<Duration>) -> Result<()> {
        if !self.listed {
            return Ok(());
        }
        let settled = self.broker.settled();
        tokio::pin!(settled);
        let deadline = device_timeout.map(|t| tokio::time::Instant::now() + t);
        tokio::select! {
            s = &mut settled => return check_failed(s),
            _ = sleep_until(deadline) => {}
        }
        let missing: Vec<String> = self
            .broker
            .status()
            .borrow()
            .iter()
            .filter(|v| v.state == VolumeState::WaitingForDevice)
            .map(|v| format!("{} ({})", v.name, v.device))
            .collect();
        if !missing.is_empty() {
            let seen: Vec<String> = scan_now().await.iter().map(BlockDevice::describe).collect();
            bail!(
                "the device of {} did not appear; devices seen: {}. Check rd.luks.uuid= / crypttab, or attach the disk and `retry`",
                missing.join(", "),
                if seen.is_empty() { "none".into() } else { seen.join("; ") }
            );
        }
        // Only passphrases are awaited now: no time limit on operators.
        check_failed(settled.await)
    }
}

fn check_failed(status: Vec<VolumeStatus>) -> Result<()> {
    let failed: Vec<String> = status
        .iter()
        .filter_map(|v| match &v.state {
            VolumeState::Failed { reason } => Some(format!("{}: {reason}", v.name)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        bail!("volumes could not be opened: {}", failed.join("; "));
    }
    Ok(())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One line telling an operator what happened to their passphrase.
pub fn describe_outcome(outcome: &SubmitOutcome) -> String {
    match outcome {
        SubmitOutcome::Opened(names) => {
            format!("unlocked {}; the boot continues", names.join(", "))
        }
        SubmitOutcome::Wrong { volume, attempts } => {
            format!("wrong passphrase for {volume} (attempt {attempts}); try again")
        }
        SubmitOutcome::AlreadyOpen(v) => format!("{v} is already unlocked"),
        SubmitOutcome::NoSuchVolume(v) => format!("there is no volume named {v}"),
        SubmitOutcome::NothingLocked => "nothing is locked".into(),
        SubmitOutcome::GaveUp { volume } => {
            format!("{volume}: too many wrong passphrases (tries=); giving up on it")
        }
        SubmitOutcome::Error { volume, message } => format!("{volume}: {message}"),
    }
}
