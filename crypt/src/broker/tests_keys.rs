//! The broker and key files: opened without asking, `keyfile-offset=`/`keyfile-size=`,
//! a key file kept inside a "keys" volume opened first, fallbacks to a passphrase.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::fakes::*;
use super::*;
use crate::select::Selection;

fn pw(s: &str) -> Passphrase {
    Passphrase::from_str(s)
}

#[tokio::test]
async fn a_key_file_in_the_image_opens_without_asking() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"secret")]));
    let reader = Arc::new(FakeReader::new(&[(
        "/etc/keys/data.key",
        None,
        b"XXsecretYY",
    )]));
    let mut data = with_key(vol("data", 2), "/etc/keys/data.key", None);
    data.options.keyfile_offset = Some(2);
    data.options.keyfile_size = Some(6);
    let b = broker(vec![data], &opener, &reader);
    b.device_appeared(luks_dev("/dev/vdb", 2));
    let s = tokio::time::timeout(Duration::from_secs(5), b.settled())
        .await
        .unwrap();
    assert_eq!(s[0].state, VolumeState::Open);
    assert_eq!(opener.calls_for("data"), 1);
    assert_eq!(
        *reader.reads.lock().unwrap(),
        vec![("/etc/keys/data.key".to_string(), None)]
    );
    // Key files are not passphrases to hand on.
    assert!(b.last_good_passphrase().is_none());
}

#[tokio::test]
async fn a_key_file_on_a_keys_volume_opens_after_it() {
    let opener = Arc::new(FakeOpener::new(&[
        ("/dev/vda", b"keys-pass"),
        ("/dev/vdb", b"data-key"),
        ("/dev/vdc", b"more-key"),
    ]));
    let reader = Arc::new(FakeReader::new(&[
        ("/data.key", Some("/dev/mapper/keys"), b"data-key"),
        ("/more.key", Some("/dev/mapper/keys"), b"more-key"),
    ]));
    let b = broker(
        vec![
            with_key(vol("data", 2), "/data.key", Some("/dev/mapper/keys")),
            vol("keys", 1),
            with_key(vol("more", 3), "/more.key", Some("/dev/mapper/keys")),
        ],
        &opener,
        &reader,
    );
    for (p, n) in [("/dev/vdb", 2), ("/dev/vda", 1), ("/dev/vdc", 3)] {
        b.device_appeared(luks_dev(p, n));
    }
    let s = until(&b, |s| {
        s[0].state == VolumeState::Unlocking && s[2].state == VolumeState::Unlocking
    })
    .await;
    // Only the keys volume asks.
    let locked: Vec<&str> = s
        .iter()
        .filter(|v| v.state == VolumeState::Locked)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(locked, vec!["keys"]);
    let out = b.submit(None, pw("keys-pass"), "console").await;
    assert_eq!(out, SubmitOutcome::Opened(vec!["keys".into()]));
    let s = tokio::time::timeout(Duration::from_secs(5), b.settled())
        .await
        .unwrap();
    assert!(s.iter().all(|v| v.state == VolumeState::Open), "{s:#?}");
    // Each opened once, the data volumes with their key files, never with the passphrase.
    assert_eq!(opener.calls_for("data"), 1);
    assert_eq!(opener.calls_for("more"), 1);
    let reads = reader.reads.lock().unwrap().clone();
    assert!(reads.contains(&("/data.key".into(), Some(PathBuf::from("/dev/mapper/keys")))));
    b.release_keyfile_mounts();
    assert_eq!(reader.released.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_key_device_named_by_label_is_found_when_init_reports_it() {
    let opener = Arc::new(FakeOpener::new(&[
        ("/dev/vda", b"keys-pass"),
        ("/dev/vdb", b"data-key"),
    ]));
    let reader = Arc::new(FakeReader::new(&[(
        "keys/data.key",
        Some("/dev/dm-0"),
        b"data-key",
    )]));
    let b = broker(
        vec![
            vol("keys", 1),
            with_key(vol("data", 2), "keys/data.key", Some("LABEL=keys")),
        ],
        &opener,
        &reader,
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    b.device_appeared(luks_dev("/dev/vdb", 2));
    assert_eq!(
        b.submit(Some("keys"), pw("keys-pass"), "ssh").await,
        SubmitOutcome::Opened(vec!["keys".into()])
    );
    assert_eq!(state_of(&b, "data"), VolumeState::Unlocking);
    // Init probes the new dm device and reports the file system's label.
    b.device_appeared(DeviceIdentity {
        path: "/dev/dm-0".into(),
        fs_uuid: Some("abcdef01-2345".into()),
        label: Some("keys".into()),
        other_paths: vec!["/dev/mapper/keys".into()],
        ..Default::default()
    });
    until(&b, |s| s[1].state == VolumeState::Open).await;
}

#[tokio::test]
async fn a_wrong_or_missing_key_file_falls_back_to_a_passphrase() {
    let opener = Arc::new(FakeOpener::new(&[
        ("/dev/vdb", b"typed"),
        ("/dev/vdc", b"typed2"),
    ]));
    let reader = Arc::new(FakeReader::new(&[("/etc/keys/old.key", None, b"stale")]));
    let b = broker(
        vec![
            with_key(vol("data", 2), "/etc/keys/old.key", None),
            with_key(vol("other", 3), "/etc/keys/gone.key", None),
        ],
        &opener,
        &reader,
    );
    b.device_appeared(luks_dev("/dev/vdb", 2));
    b.device_appeared(luks_dev("/dev/vdc", 3));
    until(&b, |s| s.iter().all(|v| v.state == VolumeState::Locked)).await;
    assert_eq!(opener.calls_for("data"), 1);
    assert_eq!(opener.calls_for("other"), 0);
    assert_eq!(b.status().borrow()[0].attempts, 0);
    assert_eq!(
        b.submit(Some("data"), pw("typed"), "console").await,
        SubmitOutcome::Opened(vec!["data".into()])
    );
}

#[tokio::test]
async fn keyfile_timeout_bounds_the_wait_for_the_key_device() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"typed")]));
    let reader = Arc::new(FakeReader::default());
    let mut data = with_key(vol("data", 2), "/k", Some("LABEL=usbkey"));
    data.options.keyfile_timeout = Some(Duration::from_millis(150));
    let b = broker(vec![data, vol("root", 1)], &opener, &reader);
    b.device_appeared(luks_dev("/dev/vdb", 2));
    assert_eq!(state_of(&b, "data"), VolumeState::Unlocking);
    // root is still waiting for its device; keyfile-timeout= does not care.
    let t = std::time::Instant::now();
    until(&b, |s| s[0].state == VolumeState::Locked).await;
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert!(reader.reads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn without_keyfile_timeout_the_wait_ends_when_nothing_can_bring_the_key() {
    let opener = Arc::new(FakeOpener::new(&[
        ("/dev/vda", b"keys-pass"),
        ("/dev/vdb", b"typed"),
    ]));
    let reader = Arc::new(FakeReader::default());
    let mut keys = vol("keys", 1);
    keys.options.tries = Some(1);
    let b = Broker::with_grace(
        Selection::Listed(vec![
            keys,
            with_key(vol("data", 2), "/k", Some("/dev/mapper/keys")),
        ]),
        opener.clone(),
        reader.clone(),
        Duration::from_millis(50),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    b.device_appeared(luks_dev("/dev/vdb", 2));
    // Past the grace period, but keys may still open: data keeps waiting.
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(state_of(&b, "data"), VolumeState::Unlocking);
    assert_eq!(
        b.submit(Some("keys"), pw("wrong"), "console").await,
        SubmitOutcome::GaveUp {
            volume: "keys".into()
        }
    );
    until(&b, |s| s[1].state == VolumeState::Locked).await;
    assert_eq!(
        b.submit(None, pw("typed"), "console").await,
        SubmitOutcome::Opened(vec!["data".into()])
    );
}

#[tokio::test]
async fn a_raw_key_on_a_block_device_waits_for_that_device() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"raw")]));
    let reader = Arc::new(FakeReader::new(&[("/dev/vdz", None, b"raw-and-more")]));
    let mut data = with_key(vol("data", 2), &format!("UUID={}", uuid(7)), None);
    data.options.keyfile_size = Some(3);
    let b = broker(vec![data], &opener, &reader);
    b.device_appeared(luks_dev("/dev/vdb", 2));
    assert_eq!(state_of(&b, "data"), VolumeState::Unlocking);
    b.device_appeared(DeviceIdentity {
        path: "/dev/vdz".into(),
        fs_uuid: Some(uuid(7)),
        ..Default::default()
    });
    until(&b, |s| s[0].state == VolumeState::Open).await;
}

#[tokio::test]
async fn a_passphrase_reaches_a_volume_waiting_for_its_key_when_nothing_else_is_locked() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"typed")]));
    let b = broker(
        vec![with_key(vol("data", 2), "/k", Some("LABEL=usbkey"))],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vdb", 2));
    assert_eq!(state_of(&b, "data"), VolumeState::Unlocking);
    assert_eq!(
        b.submit(None, pw("nope"), "ssh").await,
        SubmitOutcome::Wrong {
            volume: "data".into(),
            attempts: 1
        }
    );
    assert_eq!(state_of(&b, "data"), VolumeState::Unlocking);
    assert_eq!(
        b.submit(None, pw("typed"), "ssh").await,
        SubmitOutcome::Opened(vec!["data".into()])
    );
}
