//! The unlock broker: the one place that knows each volume's state (waiting for its
//! device, locked, unlocking, open, failed) and takes passphrases from every source at
//! once (console, SSH sessions) and keys from key files.
//!
//! Decisions:
//! - **First answer wins.** Opening is serialized per volume: a second passphrase for a
//!   volume waits for the first attempt, then gets `AlreadyOpen` if it worked. Other
//!   sources learn it from `status()`.
//! - **One passphrase, many volumes.** A passphrase that opened a volume is tried on
//!   every other locked volume before the submit returns (`Opened` lists them all), and
//!   kept (zeroized) to be tried on volumes whose device appears later. Such tries never
//!   count as wrong attempts.
//! - **Wrong passphrases** count against the volume they were meant for (the named one,
//!   or with `None` the first locked one, and only when the passphrase opened nothing).
//!   After `tries=N` of them the volume is `Failed`; without `tries=`, never.
//! - **A device that appears late.** A passphrase for a volume still waiting for its
//!   device is kept and tried when the device appears; the submit returns
//!   `Error { message: "… has not appeared yet; the passphrase is kept …" }` at once,
//!   so no prompt hangs on a missing disk. If it turns out wrong, the volume asks as
//!   usual (the try is not counted).
//! - **Key files** are read and tried as soon as the volume's device (and the key's
//!   device) is there, without asking. While the key's device is missing — typically a
//!   small "keys" volume not yet unlocked — the volume shows `Unlocking` (no prompt asks
//!   for it, a passphrase given for the locked volumes is not tried on it, one named
//!   for it is) and waits: `keyfile-timeout=` if given, else until nothing else that
//!   could bring the key device is pending and at least 10 s have passed. A key file
//!   that is missing, unreadable or wrong falls back to asking for a passphrase (logged).
//!   Key files are never tried on other volumes nor handed on to the keyring.
//! - **Cancellation.** `submit` runs its work in a task of its own: a caller that goes
//!   away (a closed SSH session) does not leave a volume half-tried.
//! - `settled()` resolves when every volume is `Open` or `Failed` (a failed volume
//!   without `nofail` is for the caller to report); volumes with `nofail` whose device
//!   has not appeared do not hold it. In discover-all mode, it waits for a first volume.
//! - `timeout=` (how long to wait for a passphrase) is not applied: operators are never
//!   timed out, as a machine that gives up is unreachable.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::identity::DeviceIdentity;
use crate::keyfile::KeyfileReader;
use crate::open::Opener;
use crate::secret::Passphrase;
use crate::select::Selection;

mod attempt;
mod auto;
#[cfg(test)]
mod fakes;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_keys;

use state::State;

/// How long a key file's device is waited for by default once nothing else is pending.
pub const KEY_DEVICE_GRACE: Duration = Duration::from_secs(10);

/// Where a volume stands.
/// In JSON: `"waiting_for_device"`, `"locked"`, `"unlocking"`, `"open"`, or
/// `{"failed": {"reason": "…"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    WaitingForDevice,
    Locked,
    Unlocking,
    Open,
    Failed { reason: String },
}

/// One volume, as status screens show it. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeStatus {
    pub name: String,
    /// The device as written (`UUID=…`, `/dev/vda2`).
    pub device: String,
    /// The block device once found.
    pub path: Option<String>,
    /// The LUKS UUID once known.
    pub uuid: Option<String>,
    pub state: VolumeState,
    /// Wrong passphrases so far.
    pub attempts: u32,
    /// `/dev/mapper/<name>` once open.
    pub mapper: Option<String>,
}

/// What happened to a submitted passphrase. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// These volumes opened (the one asked for first, then those the same passphrase
    /// opened too).
    Opened(Vec<String>),
    /// The passphrase opened nothing; `volume` is the one it was meant for.
    Wrong {
        volume: String,
        attempts: u32,
    },
    /// Someone else opened it first.
    AlreadyOpen(String),
    NoSuchVolume(String),
    /// Every volume is open (or failed).
    NothingLocked,
    /// `tries=` wrong passphrases: the volume is `Failed`.
    GaveUp {
        volume: String,
    },
    /// Not a wrong passphrase: the device, device-mapper, a missing device…
    Error {
        volume: String,
        message: String,
    },
}

impl fmt::Display for VolumeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolumeState::WaitingForDevice => f.write_str("waiting for its device"),
            VolumeState::Locked => f.write_str("locked"),
            VolumeState::Unlocking => f.write_str("unlocking"),
            VolumeState::Open => f.write_str("open"),
            VolumeState::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// One line for the operator.
impl fmt::Display for SubmitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitOutcome::Opened(v) => write!(f, "unlocked {}", v.join(", ")),
            SubmitOutcome::Wrong { volume, attempts } => {
                write!(
                    f,
                    "wrong passphrase for {volume} (attempt {attempts}); try again"
                )
            }
            SubmitOutcome::AlreadyOpen(v) => write!(f, "{v} is already unlocked"),
            SubmitOutcome::NoSuchVolume(v) => write!(f, "there is no volume named {v}"),
            SubmitOutcome::NothingLocked => f.write_str("nothing is locked"),
            SubmitOutcome::GaveUp { volume } => {
                write!(
                    f,
                    "{volume}: too many wrong passphrases (tries=); giving up on it"
                )
            }
            SubmitOutcome::Error { volume, message } => write!(f, "{volume}: {message}"),
        }
    }
}

/// The broker. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    status: watch::Sender<Vec<VolumeStatus>>,
    opener: Arc<dyn Opener>,
    keyfiles: Arc<dyn KeyfileReader>,
    runtime: Option<Handle>,
    key_grace: Duration,
}

impl Broker {
    /// A broker for these volumes. Call from within the tokio runtime (it keeps a handle
    /// to start background opens from `device_appeared`).
    pub fn new(
        selection: Selection,
        opener: Arc<dyn Opener>,
        keyfiles: Arc<dyn KeyfileReader>,
    ) -> Broker {
        Broker::with_grace(selection, opener, keyfiles, KEY_DEVICE_GRACE)
    }

    pub(crate) fn with_grace(
        selection: Selection,
        opener: Arc<dyn Opener>,
        keyfiles: Arc<dyn KeyfileReader>,
        key_grace: Duration,
    ) -> Broker {
        let state = State::new(selection);
        let (status, _) = watch::channel(state.status());
        Broker {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                status,
                opener,
                keyfiles,
                runtime: Handle::try_current().ok(),
                key_grace,
            }),
        }
    }

    /// Init reports every block device it sees (again and again is fine). Matching
    /// volumes go from `WaitingForDevice` to `Locked`, or are opened in the background
    /// (key file, a passphrase that already worked, one given early). In discover-all
    /// mode every new LUKS device becomes a volume `luks-<UUID>`.
    pub fn device_appeared(&self, dev: DeviceIdentity) {
        let ready = self.inner.lock().add_device(dev);
        self.inner.publish();
        for i in ready {
            self.inner.start_auto(i);
        }
        self.inner.reconsider();
    }

    /// Every volume's status, updated on every change.
    pub fn status(&self) -> watch::Receiver<Vec<VolumeStatus>> {
        self.inner.status.subscribe()
    }

    /// A passphrase from `source` ("console", "ssh 10.0.2.2:51234"…) for `volume`, or
    /// for whichever locked volume it opens when `None`. See the module documentation.
    pub async fn submit(
        &self,
        volume: Option<&str>,
        passphrase: Passphrase,
        source: &str,
    ) -> SubmitOutcome {
        let inner = self.inner.clone();
        let volume = volume.map(str::to_string);
        let source = source.to_string();
        let shown = volume.clone().unwrap_or_default();
        let task = tokio::spawn(async move { inner.submit(volume, passphrase, &source).await });
        match task.await {
            Ok(outcome) => outcome,
            Err(e) => SubmitOutcome::Error {
                volume: shown,
                message: format!("the unlock task failed: {e}"),
            },
        }
    }

    /// Resolves when every volume is open or failed (see the module documentation), with
    /// the final status.
    pub async fn settled(&self) -> Vec<VolumeStatus> {
        let mut rx = self.inner.status.subscribe();
        loop {
            rx.borrow_and_update();
            if self.inner.lock().is_settled() {
                return self.inner.lock().status();
            }
            if rx.changed().await.is_err() {
                return self.inner.lock().status();
            }
        }
    }

    /// The passphrase that last opened a volume (typed, not a key file), for the keyring
    /// hand-on.
    pub fn last_good_passphrase(&self) -> Option<Passphrase> {
        self.inner.lock().last_good.clone()
    }

    /// Unmounts the key devices the key files were read from (before switch_root).
    pub fn release_keyfile_mounts(&self) {
        self.inner.keyfiles.release();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state usable: every update is a
        // single assignment.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the status to every watcher, if it changed.
    fn publish(&self) {
        let now = self.lock().status();
        self.status.send_if_modified(|old| {
            if *old == now {
                false
            } else {
                *old = now;
                true
            }
        });
    }

    /// Runs `fut` on the runtime: the current one, else the one the broker was made in.
    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match Handle::try_current().ok().or_else(|| self.runtime.clone()) {
            Some(h) => {
                h.spawn(fut);
            }
            None => log::error!("LUKS: no async runtime to open volumes in the background"),
        }
    }
}

fn mapper_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/mapper/{name}"))
}
