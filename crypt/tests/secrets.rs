//! Secrets hygiene: with known passphrases in play (right, wrong, early, in a key file),
//! every outcome, status, error and log line sesame-crypt produces — Debug, Display and
//! the JSON of the status — is searched for the passphrase bytes, which must never be
//! there.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sesame_crypt::open::OpenError;
use sesame_crypt::spec::VolumeOptions;
use sesame_crypt::{
    hand_on_to_keyring, Broker, CryptsetupOpener, DeviceIdentity, DeviceSpec, KeySource,
    KeyfileReader, MountingKeyfileReader, Opener, Origin, Passphrase, Selection, Volume,
};

const RIGHT: &str = "Right-Passphrase-7f3a9c";
const WRONG: &str = "Wrong-Passphrase-c0ffee";
const EARLY: &str = "Early-Passphrase-d00d42";
const KEYFILE: &str = "Keyfile-Contents-5eed11";

/// Every log line, kept.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

fn logs() -> &'static Capture {
    static LOGS: OnceLock<&'static Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

/// Opens /dev/vda with RIGHT, /dev/vdk with KEYFILE; /dev/vdx fails with an error.
struct Fake;

impl Opener for Fake {
    fn open(&self, device: &Path, _: &str, key: &[u8], _: &VolumeOptions) -> Result<(), OpenError> {
        match device.to_str() {
            Some("/dev/vdx") => Err(OpenError::Other(
                "/dev/vdx: device-mapper is missing".into(),
            )),
            Some("/dev/vda" | "/dev/vdc") if key == RIGHT.as_bytes() => Ok(()),
            Some("/dev/vdk") if key == KEYFILE.as_bytes() => Ok(()),
            _ => Err(OpenError::WrongKey),
        }
    }
}

fn vol(name: &str, n: u8, key: KeySource, tries: Option<u32>) -> Volume {
    Volume {
        name: name.into(),
        device: DeviceSpec::Uuid(uuid(n)),
        key,
        options: VolumeOptions {
            tries,
            ..Default::default()
        },
        origin: Origin::Crypttab,
    }
}

fn uuid(n: u8) -> String {
    format!("{n:08x}-aaaa-bbbb-cccc-dddddddddddd")
}

fn dev(path: &str, n: u8) -> DeviceIdentity {
    DeviceIdentity {
        path: path.into(),
        luks_uuid: Some(uuid(n)),
        fs_uuid: Some(uuid(n)),
        ..Default::default()
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in [RIGHT, WRONG, EARLY, KEYFILE] {
        assert!(!text.contains(secret), "{what} holds a secret: {text}");
    }
}

#[tokio::test]
async fn no_secret_in_any_output() {
    let logs = logs();
    sesame_crypt::luks::route_library_log();
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "k.key", KEYFILE.as_bytes());
    let reader = Arc::new(MountingKeyfileReader::with_root(dir.path()));
    let file = |p: &str| KeySource::File {
        path: p.into(),
        device: None,
    };
    let b = Broker::new(
        Selection::Listed(vec![
            vol("root", 1, KeySource::None, None),
            vol("err", 2, KeySource::None, None),
            vol("keyed", 3, file("/k.key"), None),
            vol("late", 4, KeySource::None, None),
            vol("strict", 5, KeySource::None, Some(1)),
            vol("stale", 6, file("/missing.key"), None),
            vol("shared", 7, KeySource::None, None),
        ]),
        Arc::new(Fake),
        reader.clone(),
    );
    let mut texts: Vec<(String, String)> = Vec::new();
    let outcome = |o: sesame_crypt::SubmitOutcome, texts: &mut Vec<(String, String)>| {
        texts.push(("outcome Debug".into(), format!("{o:?}")));
        texts.push(("outcome Display".into(), o.to_string()));
    };
    for (p, n) in [
        ("/dev/vda", 1),
        ("/dev/vdx", 2),
        ("/dev/vdk", 3),
        ("/dev/vde", 5),
        ("/dev/vdf", 6),
        ("/dev/vdc", 7),
    ] {
        b.device_appeared(dev(p, n));
    }
    let pw = Passphrase::from_str;
    outcome(
        b.submit(Some("late"), pw(EARLY), "ssh 10.0.2.2:1").await,
        &mut texts,
    );
    outcome(
        b.submit(Some("root"), pw(WRONG), "console").await,
        &mut texts,
    );
    outcome(
        b.submit(Some("err"), pw(RIGHT), "console").await,
        &mut texts,
    );
    outcome(
        b.submit(Some("strict"), pw(WRONG), "console").await,
        &mut texts,
    );
    outcome(
        b.submit(Some("strict"), pw(RIGHT), "console").await,
        &mut texts,
    );
    outcome(
        b.submit(Some("nope"), pw(RIGHT), "console").await,
        &mut texts,
    );
    outcome(
        b.submit(None, pw(RIGHT), "ssh 10.0.2.2:2").await,
        &mut texts,
    );
    outcome(
        b.submit(Some("root"), pw(RIGHT), "console").await,
        &mut texts,
    );
    b.device_appeared(dev("/dev/vdd", 4));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = b.status().borrow().clone();
    assert!(status
        .iter()
        .any(|v| v.name == "keyed" && v.state == sesame_crypt::VolumeState::Open));
    texts.push(("status Debug".into(), format!("{status:?}")));
    texts.push((
        "status JSON".into(),
        serde_json::to_string(&status).unwrap(),
    ));
    for v in &status {
        texts.push(("state Display".into(), v.state.to_string()));
    }
    texts.push((
        "last good".into(),
        format!("{:?}", b.last_good_passphrase()),
    ));
    texts.push(("passphrase".into(), format!("{:?}", pw(RIGHT))));

    // The real opener's errors, on a real LUKS2 image.
    let key = common::write(dir.path(), "pass", RIGHT.as_bytes());
    let img = common::luks_image(dir.path(), "real.img", "luks2", &key, &[]);
    let err = CryptsetupOpener
        .check(&img, WRONG.as_bytes(), &VolumeOptions::default())
        .unwrap_err();
    texts.push(("open error".into(), format!("{err:?} {err}")));
    let err = CryptsetupOpener
        .open(&img, "real", RIGHT.as_bytes(), &VolumeOptions::default())
        .err();
    texts.push(("open error (no dm)".into(), format!("{err:?}")));
    // Key files and the keyring.
    let err = reader.read("/k.key", None, Some(100), None).unwrap_err();
    texts.push(("keyfile error".into(), err));
    let err = reader
        .read("/k.key", None, Some(2), Some(1000))
        .unwrap_err();
    texts.push(("keyfile error".into(), err));
    let nul = Passphrase::from_bytes([RIGHT.as_bytes(), b"\0"].concat());
    texts.push((
        "keyring".into(),
        format!("{:?}", hand_on_to_keyring(&nul, Duration::from_secs(1))),
    ));

    let logged = logs.0.lock().unwrap().join("\n");
    texts.push(("log".into(), logged.clone()));
    for (what, text) in &texts {
        if std::env::var_os("SESAME_SHOW_OUTPUT").is_some() {
            eprintln!("{what}: {text}");
        }
        assert_clean(what, text);
    }
    // The logs did record the story, names and sources included.
    assert!(
        logged.contains("wrong passphrase for root from console"),
        "{logged}"
    );
    assert!(logged.contains("ssh 10.0.2.2:2"), "{logged}");
}
