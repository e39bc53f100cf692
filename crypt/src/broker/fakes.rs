//! Test doubles for the broker: an opener with a passphrase per device that records its
//! calls (and can be slow, or fail), a key-file reader over an in-memory table, and
//! helpers to build volumes and devices.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Broker, VolumeStatus};
use crate::crypttab::KeySource;
use crate::device::DeviceSpec;
use crate::identity::DeviceIdentity;
use crate::keyfile::{read_key, KeyfileReader};
use crate::open::{OpenError, Opener};
use crate::secret::Passphrase;
use crate::select::{Origin, Volume};
use crate::spec::VolumeOptions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub device: PathBuf,
    pub name: String,
    pub ok: bool,
}

#[derive(Default)]
pub struct FakeOpener {
    keys: HashMap<PathBuf, Vec<u8>>,
    errors: HashMap<PathBuf, String>,
    delay: Duration,
    calls: Mutex<Vec<Call>>,
    active: Mutex<Vec<String>>,
    in_flight: Mutex<HashMap<String, usize>>,
    max_in_flight: Mutex<HashMap<String, usize>>,
}

impl FakeOpener {
    /// `keys`: (device path, the passphrase that opens it).
    pub fn new(keys: &[(&str, &[u8])]) -> FakeOpener {
        FakeOpener {
            keys: keys
                .iter()
                .map(|(d, k)| (PathBuf::from(d), k.to_vec()))
                .collect(),
            ..Default::default()
        }
    }

    pub fn slow(mut self, delay: Duration) -> FakeOpener {
        self.delay = delay;
        self
    }

    pub fn failing(mut self, device: &str, message: &str) -> FakeOpener {
        self.errors.insert(device.into(), message.into());
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, name: &str) -> usize {
        self.calls().iter().filter(|c| c.name == name).count()
    }

    pub fn opened(&self) -> Vec<String> {
        self.active.lock().unwrap().clone()
    }

    /// The most attempts ever running at once on one volume.
    pub fn max_concurrent(&self, name: &str) -> usize {
        self.max_in_flight
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

impl Opener for FakeOpener {
    fn open(
        &self,
        device: &Path,
        name: &str,
        key: &[u8],
        _: &VolumeOptions,
    ) -> Result<(), OpenError> {
        {
            let mut now = self.in_flight.lock().unwrap();
            let n = now.entry(name.to_string()).or_default();
            *n += 1;
            let mut max = self.max_in_flight.lock().unwrap();
            let m = max.entry(name.to_string()).or_default();
            *m = (*m).max(*n);
        }
        std::thread::sleep(self.delay);
        if let Some(n) = self.in_flight.lock().unwrap().get_mut(name) {
            *n -= 1;
        }
        let ok = self.keys.get(device).is_some_and(|k| k == key);
        self.calls.lock().unwrap().push(Call {
            device: device.to_path_buf(),
            name: name.to_string(),
            ok,
        });
        if let Some(m) = self.errors.get(device) {
            return Err(OpenError::Other(m.clone()));
        }
        if !ok {
            return Err(OpenError::WrongKey);
        }
        let mut active = self.active.lock().unwrap();
        assert!(!active.iter().any(|a| a == name), "{name} opened twice");
        active.push(name.to_string());
        Ok(())
    }
}

/// Key files in memory: (path, device) → contents, sliced like the real reader.
#[derive(Default)]
pub struct FakeReader {
    files: HashMap<(String, Option<PathBuf>), Vec<u8>>,
    pub reads: Mutex<Vec<(String, Option<PathBuf>)>>,
    pub released: AtomicUsize,
}

impl FakeReader {
    pub fn new(files: &[(&str, Option<&str>, &[u8])]) -> FakeReader {
        FakeReader {
            files: files
                .iter()
                .map(|(p, d, c)| ((p.to_string(), d.map(PathBuf::from)), c.to_vec()))
                .collect(),
            ..Default::default()
        }
    }
}

impl KeyfileReader for FakeReader {
    fn read(
        &self,
        path: &str,
        device: Option<&Path>,
        offset: Option<u64>,
        size: Option<u64>,
    ) -> Result<Passphrase, String> {
        let k = (path.to_string(), device.map(Path::to_path_buf));
        self.reads.lock().unwrap().push(k.clone());
        let data = self
            .files
            .get(&k)
            .ok_or_else(|| format!("key file {path}: not found"))?;
        read_key(&mut Cursor::new(data), offset, size).map_err(|e| format!("key file {path}: {e}"))
    }

    fn release(&self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn uuid(n: u8) -> String {
    format!("{n:08x}-1111-2222-3333-444444444444")
}

/// A volume on `UUID=<uuid(n)>` asking for a passphrase.
pub fn vol(name: &str, n: u8) -> Volume {
    Volume {
        name: name.into(),
        device: DeviceSpec::Uuid(uuid(n)),
        key: KeySource::None,
        options: VolumeOptions::default(),
        origin: Origin::Crypttab,
    }
}

pub fn with_key(mut v: Volume, path: &str, device: Option<&str>) -> Volume {
    v.key = KeySource::File {
        path: path.into(),
        device: device.map(|d| DeviceSpec::parse(d).unwrap()),
    };
    v
}

/// The LUKS device `/dev/vd<letter>` with UUID `uuid(n)`.
pub fn luks_dev(path: &str, n: u8) -> DeviceIdentity {
    DeviceIdentity {
        path: path.into(),
        luks_uuid: Some(uuid(n)),
        fs_uuid: Some(uuid(n)),
        ..Default::default()
    }
}

pub fn broker(volumes: Vec<Volume>, opener: &Arc<FakeOpener>, reader: &Arc<FakeReader>) -> Broker {
    Broker::new(
        crate::select::Selection::Listed(volumes),
        opener.clone(),
        reader.clone(),
    )
}

pub fn state_of(b: &Broker, name: &str) -> super::VolumeState {
    b.status()
        .borrow()
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.state.clone())
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// Waits (at most 5 s) until `f` holds for the status.
pub async fn until(b: &Broker, f: impl Fn(&[VolumeStatus]) -> bool) -> Vec<VolumeStatus> {
    let mut rx = b.status();
    let wait = async {
        loop {
            {
                let s = rx.borrow_and_update();
                if f(&s) {
                    return s.clone();
                }
            }
            rx.changed().await.unwrap();
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), wait).await {
        Ok(s) => s,
        Err(_) => panic!("timed out; status: {:#?}", b.status().borrow()),
    }
}
