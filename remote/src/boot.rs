//! What the boot and the SSH server say to each other: the boot publishes a [`BootView`]
//! (through a watch channel) and its log ([`LogFeed`]); sessions send [`Request`]s and get
//! their answers on oneshot channels. No secret is ever printed by these types' `Debug`.

use std::fmt;

use tokio::sync::{broadcast, oneshot};
use zeroize::Zeroizing;

/// What the boot tells the server (init publishes it through a watch channel).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BootView {
    pub hostname: String,
    pub version: String,
    pub stage: Stage,
    pub volumes: Vec<VolumeView>,
    /// Opaque: init fills it from the net crate's status (addresses, lease).
    pub network: serde_json::Value,
    /// Opaque: the boot timeline.
    pub timeline: serde_json::Value,
    pub errors: Vec<String>,
}

/// Where the boot is. In JSON: `{"name": "waiting-for-unlock"}`,
/// `{"name": "emergency", "reason": "…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Stage {
    #[default]
    Booting,
    WaitingForUnlock,
    /// `rd.break`: stopped before switch_root until `continue`.
    Break,
    Emergency {
        reason: String,
    },
    SwitchingRoot,
}

/// One volume as the boot sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VolumeView {
    pub name: String,
    pub device: String,
    /// One of [`VolumeView::WAITING`], [`VolumeView::LOCKED`], [`VolumeView::UNLOCKING`],
    /// [`VolumeView::OPEN`], [`VolumeView::FAILED`].
    pub state: String,
    pub detail: Option<String>,
}

impl VolumeView {
    pub const WAITING: &'static str = "waiting for device";
    pub const LOCKED: &'static str = "locked";
    pub const UNLOCKING: &'static str = "unlocking";
    pub const OPEN: &'static str = "open";
    pub const FAILED: &'static str = "failed";

    pub fn is_locked(&self) -> bool {
        self.state == Self::LOCKED
    }
    pub fn is_open(&self) -> bool {
        self.state == Self::OPEN
    }
}

impl BootView {
    /// The volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&VolumeView> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// The volumes that wait for a passphrase.
    pub fn locked(&self) -> impl Iterator<Item = &VolumeView> {
        self.volumes.iter().filter(|v| v.is_locked())
    }
}

/// A session's request to the boot.
pub enum Request {
    /// A passphrase for `volume` (or for whichever locked volume it opens, when `None`).
    /// `source` says who sent it (`ssh 10.0.2.2:51234 key SHA256:…`) for the boot's log.
    Unlock {
        volume: Option<String>,
        passphrase: Zeroizing<Vec<u8>>,
        source: String,
        reply: oneshot::Sender<UnlockReply>,
    },
    /// After `rd.break`: go on to switch_root.
    Continue {
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// After a failure: try the failed step again.
    Retry {
        reply: oneshot::Sender<Result<(), String>>,
    },
    Reboot,
    Poweroff,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Unlock { volume, source, .. } => f
                .debug_struct("Unlock")
                .field("volume", volume)
                .field("passphrase", &"<redacted>")
                .field("source", source)
                .finish(),
            Request::Continue { .. } => f.write_str("Continue"),
            Request::Retry { .. } => f.write_str("Retry"),
            Request::Reboot => f.write_str("Reboot"),
            Request::Poweroff => f.write_str("Poweroff"),
        }
    }
}

/// The boot's answer to [`Request::Unlock`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnlockReply {
    /// These volumes opened with the passphrase.
    Opened(Vec<String>),
    /// The passphrase does not open `volume`.
    Wrong {
        volume: String,
    },
    /// The volume was already open (another session or the console was first).
    AlreadyOpen(String),
    NoSuchVolume(String),
    /// No volume waits for a passphrase.
    NothingLocked,
    /// Too many wrong passphrases: the boot stopped asking for `volume`.
    GaveUp {
        volume: String,
    },
    Error(String),
}

/// The init's log, for `log` and `log -f`.
pub trait LogFeed: Send + Sync + 'static {
    /// The lines kept so far, oldest first.
    fn recent(&self) -> Vec<String>;
    /// Every line from now on.
    fn follow(&self) -> broadcast::Receiver<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_passphrase() {
        let (reply, _rx) = oneshot::channel();
        let r = Request::Unlock {
            volume: Some("root".into()),
            passphrase: Zeroizing::new(b"hunter2-secret".to_vec()),
            source: "test".into(),
            reply,
        };
        let s = format!("{r:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("root"));
    }

    #[test]
    fn json_shape() {
        let v = BootView {
            stage: Stage::Emergency {
                reason: "no root".into(),
            },
            volumes: vec![VolumeView {
                name: "root".into(),
                device: "/dev/vda2".into(),
                state: VolumeView::LOCKED.into(),
                detail: None,
            }],
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["stage"]["name"], "emergency");
        assert_eq!(j["stage"]["reason"], "no root");
        assert_eq!(j["volumes"][0]["state"], "locked");
        let j = serde_json::to_value(Stage::WaitingForUnlock).unwrap();
        assert_eq!(j["name"], "waiting-for-unlock");
    }
}
