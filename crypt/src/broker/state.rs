//! The broker's state, behind one mutex and never held across an await: the volumes
//! and where each stands, the block devices seen, the passphrases that worked. Pure
//! transitions; the async side (attempts, background opens) is in `attempt` and `auto`.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

use super::{mapper_path, VolumeState, VolumeStatus};
use crate::crypttab::KeySource;
use crate::device::DeviceSpec;
use crate::identity::DeviceIdentity;
use crate::secret::Passphrase;
use crate::select::{Origin, Selection, Volume};
use crate::spec::VolumeOptions;

/// How many early passphrases a volume keeps (each costs a key derivation later).
const MAX_PENDING: usize = 4;

pub(super) struct State {
    /// `Some` in discover-all mode: makes the volume of each LUKS device found.
    discover: Option<Selection>,
    disabled: bool,
    pub volumes: Vec<Vol>,
    pub devices: Vec<DeviceIdentity>,
    /// Passphrases that opened a volume, oldest first, each once.
    pub good: Vec<Passphrase>,
    pub last_good: Option<Passphrase>,
}

/// Where a volume's key file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyPhase {
    /// A key file not tried yet.
    Pending,
    /// The key file's device has not appeared (the volume shows `Unlocking`).
    Waiting,
    /// No key file, or it was tried (or given up on): passphrases only.
    Done,
}

pub(super) struct Vol {
    pub spec: Volume,
    /// The device node once found.
    pub path: Option<PathBuf>,
    pub uuid: Option<String>,
    /// A detached header's resolved path.
    pub header: Option<PathBuf>,
    pub state: VolumeState,
    pub attempts: u32,
    /// True once `tries=` ran out (as opposed to another failure).
    pub gave_up: bool,
    /// Serializes attempts on this volume.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    pub key: KeyPhase,
    /// Passphrases given before the device appeared.
    pub pending: Vec<Passphrase>,
    /// When the device appeared.
    pub appeared: Option<Instant>,
    /// A background open is running or queued.
    pub auto_running: bool,
    /// Said once that its device is taken by another volume.
    warned_taken: bool,
}

/// What a key file needs to be read.
pub(super) enum KeyPlan {
    /// Read `path` (on `device` when `Some`).
    Ready {
        path: String,
        device: Option<PathBuf>,
    },
    /// The key's device has not appeared; says which.
    Missing(String),
}

impl Vol {
    fn new(spec: Volume) -> Vol {
        let key = match spec.key {
            KeySource::File { .. } => KeyPhase::Pending,
            KeySource::None => KeyPhase::Done,
        };
        let uuid = match &spec.device {
            DeviceSpec::Uuid(u) if u.len() >= 32 => Some(u.clone()),
            _ => None,
        };
        Vol {
            spec,
            path: None,
            uuid,
            header: None,
            state: VolumeState::WaitingForDevice,
            attempts: 0,
            gave_up: false,
            lock: Arc::new(tokio::sync::Mutex::new(())),
            key,
            pending: Vec::new(),
            appeared: None,
            auto_running: false,
            warned_taken: false,
        }
    }

    /// Keeps a passphrase given before the device appeared: each once, the last few.
    pub fn keep_pending(&mut self, p: &Passphrase) {
        self.pending.retain(|q| q != p);
        self.pending.push(p.clone());
        if self.pending.len() > MAX_PENDING {
            self.pending.remove(0);
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The options for the opener: the detached header resolved to a path.
    pub fn open_options(&self) -> VolumeOptions {
        let mut o = self.spec.options.clone();
        if let (Some(h), Some(path)) = (o.header.as_mut(), &self.header) {
            h.path = path.to_string_lossy().into_owned();
            h.device = None;
        }
        o
    }

    /// Waiting for a passphrase, or for its key file's device (both take a typed one).
    pub fn takes_passphrase(&self) -> bool {
        matches!(self.state, VolumeState::Locked | VolumeState::Unlocking)
    }

    /// The state to go back to after a failed attempt.
    pub fn idle_state(&self) -> VolumeState {
        if self.key == KeyPhase::Waiting {
            VolumeState::Unlocking
        } else {
            VolumeState::Locked
        }
    }

    fn status(&self) -> VolumeStatus {
        VolumeStatus {
            name: self.spec.name.clone(),
            device: self.spec.device.to_string(),
            path: self.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
            uuid: self.uuid.clone(),
            state: self.state.clone(),
            attempts: self.attempts,
            mapper: (self.state == VolumeState::Open)
                .then(|| mapper_path(&self.spec.name).to_string_lossy().into_owned()),
        }
    }
}

impl State {
    pub fn new(selection: Selection) -> State {
        let (volumes, discover, disabled) = match selection {
            Selection::Listed(v) => (v.into_iter().map(Vol::new).collect(), None, false),
            s @ Selection::DiscoverAll { .. } => (Vec::new(), Some(s), false),
            Selection::Disabled => (Vec::new(), None, true),
        };
        State {
            discover,
            disabled,
            volumes,
            devices: Vec::new(),
            good: Vec::new(),
            last_good: None,
        }
    }

    pub fn status(&self) -> Vec<VolumeStatus> {
        self.volumes.iter().map(Vol::status).collect()
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.volumes.iter().position(|v| v.spec.name == name)
    }

    pub fn is_settled(&self) -> bool {
        if self.disabled {
            return true;
        }
        if self.volumes.is_empty() {
            return self.discover.is_none();
        }
        self.volumes.iter().all(|v| match v.state {
            VolumeState::Open | VolumeState::Failed { .. } => true,
            VolumeState::WaitingForDevice => v.spec.options.nofail,
            VolumeState::Locked | VolumeState::Unlocking => false,
        })
    }

    /// Records a device; returns the volumes that became ready and need a background
    /// open (the others that became ready are `Locked`).
    pub fn add_device(&mut self, dev: DeviceIdentity) -> Vec<usize> {
        if self.disabled {
            return Vec::new();
        }
        match self.devices.iter_mut().find(|d| d.same_device(&dev)) {
            Some(known) => *known = dev.clone(),
            None => self.devices.push(dev.clone()),
        }
        if let (Some(sel), Some(uuid)) = (&self.discover, &dev.luks_uuid) {
            let uuid = uuid.to_ascii_lowercase();
            let known = self
                .volumes
                .iter()
                .any(|v| v.uuid.as_deref() == Some(uuid.as_str()))
                || self
                    .volumes
                    .iter()
                    .any(|v| v.path.as_deref() == Some(dev.path.as_path()));
            if !known {
                if let Some(v) = sel.discovered(&uuid) {
                    log::info!(
                        "LUKS: found {} ({}), volume {}",
                        dev.path.display(),
                        uuid,
                        v.name
                    );
                    self.volumes.push(Vol::new(v));
                }
            }
        }
        let mut ready = Vec::new();
        for i in 0..self.volumes.len() {
            if self.volumes[i].state == VolumeState::WaitingForDevice && self.try_ready(i) {
                ready.push(i);
            }
        }
        ready
    }

    /// Finds the devices a waiting volume needs; when all are there, moves it on: to
    /// `Unlocking` when there is something to try in the background (returns true), else
    /// to `Locked`.
    fn try_ready(&mut self, i: usize) -> bool {
        let prefix_ok = self.volumes[i].spec.origin != Origin::Crypttab;
        let spec = self.volumes[i].spec.device.clone();
        let Some(dev) = self
            .devices
            .iter()
            .find(|d| d.matches(&spec, prefix_ok))
            .cloned()
        else {
            return false;
        };
        if self
            .volumes
            .iter()
            .enumerate()
            .any(|(j, o)| j != i && o.path.as_ref() == Some(&dev.path))
        {
            if !std::mem::replace(&mut self.volumes[i].warned_taken, true) {
                log::warn!(
                    "LUKS: {} ({}) is already used by another volume; {} keeps waiting",
                    dev.path.display(),
                    spec,
                    self.volumes[i].name()
                );
            }
            return false;
        }
        let header = match self.resolve_header(i) {
            Ok(Some(h)) => h,
            Ok(None) => {
                self.volumes[i].path = Some(dev.path.clone());
                return false;
            }
            Err(reason) => {
                let v = &mut self.volumes[i];
                v.path = Some(dev.path.clone());
                log::warn!("LUKS: volume {}: {reason}", v.name());
                v.state = VolumeState::Failed { reason };
                return false;
            }
        };
        let has_good = !self.good.is_empty();
        let v = &mut self.volumes[i];
        v.path = Some(dev.path.clone());
        v.header = header;
        v.appeared = Some(Instant::now());
        if let Some(u) = dev.luks_uuid.as_ref().or(dev.fs_uuid.as_ref()) {
            let u = u.to_ascii_lowercase();
            // rd.luks.uuid=<beginning> without a name: luks-<full UUID>, as dracut names it.
            if let DeviceSpec::Uuid(given) = &v.spec.device {
                if v.spec.origin != Origin::Crypttab
                    && v.spec.name == format!("luks-{given}")
                    && *given != u
                {
                    v.spec.name = format!("luks-{u}");
                }
            }
            v.uuid = Some(u);
        }
        log::info!("LUKS: volume {} is on {}", v.spec.name, dev.path.display());
        if v.key == KeyPhase::Pending || has_good || !v.pending.is_empty() {
            v.state = VolumeState::Unlocking;
            v.auto_running = true;
            true
        } else {
            v.state = VolumeState::Locked;
            false
        }
    }

    /// A detached header: `Ok(Some(None))` none, `Ok(Some(Some(path)))` found,
    /// `Ok(None)` its device has not appeared, `Err` unusable.
    fn resolve_header(&self, i: usize) -> Result<Option<Option<PathBuf>>, String> {
        let Some(h) = &self.volumes[i].spec.options.header else {
            return Ok(Some(None));
        };
        if let Some(d) = &h.device {
            return Err(format!(
                "header={}:{d} (a header file on another device) is not supported; put the header in the image (header=/path) or on its own partition (header=PARTUUID=…)",
                h.path
            ));
        }
        match DeviceSpec::parse(&h.path) {
            Ok(DeviceSpec::Path(p)) if !p.starts_with("/dev/") => Ok(Some(Some(PathBuf::from(p)))),
            Ok(spec) => Ok(self.find_device(&spec).map(Some)),
            Err(_) => Err(format!("header={} is not a path or a device", h.path)),
        }
    }

    pub fn find_device(&self, spec: &DeviceSpec) -> Option<PathBuf> {
        self.devices
            .iter()
            .find(|d| d.matches(spec, false))
            .map(|d| d.path.clone())
    }

    /// Where volume `i`'s key file is, if it has one.
    pub fn key_plan(&self, i: usize) -> Option<KeyPlan> {
        let KeySource::File { path, device } = &self.volumes[i].spec.key else {
            return None;
        };
        if let Some(spec) = device {
            return Some(match self.find_device(spec) {
                Some(dev) => KeyPlan::Ready {
                    path: path.clone(),
                    device: Some(dev),
                },
                None => KeyPlan::Missing(spec.to_string()),
            });
        }
        // No device: a file in the image, or a block device holding a raw key.
        Some(match DeviceSpec::parse(path) {
            Ok(DeviceSpec::Path(p)) if !p.starts_with("/dev/") => KeyPlan::Ready {
                path: p,
                device: None,
            },
            Ok(spec) => match self.find_device(&spec) {
                Some(dev) => KeyPlan::Ready {
                    path: dev.to_string_lossy().into_owned(),
                    device: None,
                },
                None => KeyPlan::Missing(spec.to_string()),
            },
            Err(_) => KeyPlan::Ready {
                path: path.clone(),
                device: None,
            },
        })
    }

    /// True when volume `i` should stop waiting for its key file's device.
    pub fn key_wait_over(&self, i: usize, grace: std::time::Duration) -> bool {
        let v = &self.volumes[i];
        let elapsed = v.appeared.map_or(grace, |t| t.elapsed());
        if let Some(t) = v.spec.options.keyfile_timeout.filter(|t| !t.is_zero()) {
            return elapsed >= t;
        }
        if elapsed < grace {
            return false;
        }
        !self.volumes.iter().enumerate().any(|(j, o)| {
            j != i
                && match o.state {
                    VolumeState::WaitingForDevice => !o.spec.options.nofail,
                    VolumeState::Locked => true,
                    VolumeState::Unlocking => o.key != KeyPhase::Waiting,
                    _ => false,
                }
        })
    }

    /// Marks volume `i` open and records its mapping as a device.
    pub fn opened(&mut self, i: usize) -> Vec<usize> {
        let v = &mut self.volumes[i];
        v.state = VolumeState::Open;
        v.key = KeyPhase::Done;
        v.pending.clear();
        let dev = DeviceIdentity {
            path: mapper_path(&v.spec.name),
            ..Default::default()
        };
        self.add_device(dev)
    }

    /// Keeps a passphrase that opened a volume.
    pub fn remember(&mut self, p: &Passphrase) {
        if !self.good.iter().any(|g| g == p) {
            self.good.push(p.clone());
        }
        self.last_good = Some(p.clone());
    }
}
