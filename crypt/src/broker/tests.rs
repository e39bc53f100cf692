//! The broker's state machine with a fake opener: first answer wins, one passphrase for
//! many volumes, wrong passphrases and `tries=`, devices that appear late, concurrent
//! submits, `nofail`, discover-all mode.

use std::sync::Arc;
use std::time::Duration;

use super::fakes::*;
use super::*;
use crate::device::DeviceSpec;
use crate::select::Selection;
use crate::spec::VolumeOptions;

fn pw(s: &str) -> Passphrase {
    Passphrase::from_str(s)
}

#[tokio::test]
async fn devices_move_volumes_from_waiting_to_locked() {
    let opener = Arc::new(FakeOpener::new(&[]));
    let reader = Arc::new(FakeReader::default());
    let b = broker(vec![vol("root", 1), vol("home", 2)], &opener, &reader);
    let s = b.status().borrow().clone();
    assert_eq!(s.len(), 2);
    assert!(s
        .iter()
        .all(|v| v.state == VolumeState::WaitingForDevice && v.path.is_none()));
    assert_eq!(s[0].device, format!("UUID={}", uuid(1)));
    b.device_appeared(luks_dev("/dev/vda2", 1));
    // Seen again and again (init rescans on every uevent): no change.
    b.device_appeared(luks_dev("/dev/vda2", 1));
    b.device_appeared(DeviceIdentity {
        path: "/dev/vda1".into(),
        fs_uuid: Some("aaaa-bbbb".into()),
        ..Default::default()
    });
    let s = b.status().borrow().clone();
    assert_eq!(s[0].state, VolumeState::Locked);
    assert_eq!(s[0].path.as_deref(), Some("/dev/vda2"));
    assert_eq!(s[0].uuid.as_deref(), Some(uuid(1).as_str()));
    assert_eq!(s[1].state, VolumeState::WaitingForDevice);
    assert!(opener.calls().is_empty());
}

#[tokio::test]
async fn a_right_passphrase_opens_and_a_wrong_one_names_the_volume() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vda2", b"right")]));
    let b = broker(
        vec![vol("root", 1)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda2", 1));
    let out = b.submit(Some("root"), pw("nope"), "console").await;
    assert_eq!(
        out,
        SubmitOutcome::Wrong {
            volume: "root".into(),
            attempts: 1
        }
    );
    assert_eq!(state_of(&b, "root"), VolumeState::Locked);
    let out = b.submit(None, pw("nope again"), "ssh 10.0.2.2:5000").await;
    assert_eq!(
        out,
        SubmitOutcome::Wrong {
            volume: "root".into(),
            attempts: 2
        }
    );
    assert_eq!(b.status().borrow()[0].attempts, 2);
    let out = b.submit(Some("root"), pw("right"), "console").await;
    assert_eq!(out, SubmitOutcome::Opened(vec!["root".into()]));
    let s = b.settled().await;
    assert_eq!(s[0].state, VolumeState::Open);
    assert_eq!(s[0].mapper.as_deref(), Some("/dev/mapper/root"));
    assert_eq!(b.last_good_passphrase().unwrap().as_bytes(), b"right");
    assert_eq!(
        b.submit(Some("root"), pw("right"), "console").await,
        SubmitOutcome::AlreadyOpen("root".into())
    );
    assert_eq!(
        b.submit(None, pw("x"), "console").await,
        SubmitOutcome::NothingLocked
    );
    assert_eq!(
        b.submit(Some("rot"), pw("x"), "console").await,
        SubmitOutcome::NoSuchVolume("rot".into())
    );
    assert_eq!(opener.calls_for("root"), 3);
}

#[tokio::test]
async fn one_passphrase_opens_every_volume_it_fits() {
    let opener = Arc::new(FakeOpener::new(&[
        ("/dev/vda", b"shared"),
        ("/dev/vdb", b"shared"),
        ("/dev/vdc", b"other"),
        ("/dev/vdd", b"shared"),
    ]));
    let b = broker(
        vec![vol("a", 1), vol("b", 2), vol("c", 3), vol("d", 4)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    for (p, n) in [("/dev/vda", 1), ("/dev/vdb", 2), ("/dev/vdc", 3)] {
        b.device_appeared(luks_dev(p, n));
    }
    let out = b.submit(Some("b"), pw("shared"), "console").await;
    assert_eq!(out, SubmitOutcome::Opened(vec!["b".into(), "a".into()]));
    assert_eq!(state_of(&b, "c"), VolumeState::Locked);
    assert_eq!(
        b.status().borrow()[2].attempts,
        0,
        "reuse tries are not counted"
    );
    // d's device appears late: the passphrase that worked opens it without asking.
    b.device_appeared(luks_dev("/dev/vdd", 4));
    until(&b, |s| s[3].state == VolumeState::Open).await;
    let out = b.submit(None, pw("other"), "ssh").await;
    assert_eq!(out, SubmitOutcome::Opened(vec!["c".into()]));
    let s = b.settled().await;
    assert!(s.iter().all(|v| v.state == VolumeState::Open));
    assert_eq!(b.last_good_passphrase().unwrap().as_bytes(), b"other");
}

#[tokio::test]
async fn none_tries_every_locked_volume_and_counts_only_the_first() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vda", b"pa"), ("/dev/vdb", b"pb")]));
    let b = broker(
        vec![vol("a", 1), vol("b", 2)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    b.device_appeared(luks_dev("/dev/vdb", 2));
    assert_eq!(
        b.submit(None, pw("pb"), "ssh").await,
        SubmitOutcome::Opened(vec!["b".into()])
    );
    assert_eq!(b.status().borrow()[0].attempts, 0);
    assert_eq!(
        b.submit(None, pw("zz"), "ssh").await,
        SubmitOutcome::Wrong {
            volume: "a".into(),
            attempts: 1
        }
    );
}

#[tokio::test]
async fn tries_gives_up_and_nofail_lets_the_boot_go_on() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vda", b"pa"), ("/dev/vdb", b"pb")]));
    let mut a = vol("a", 1);
    a.options.tries = Some(2);
    a.options.nofail = true;
    let b = broker(
        vec![a, vol("b", 2)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    b.device_appeared(luks_dev("/dev/vdb", 2));
    assert_eq!(
        b.submit(Some("a"), pw("x"), "console").await,
        SubmitOutcome::Wrong {
            volume: "a".into(),
            attempts: 1
        }
    );
    assert_eq!(
        b.submit(Some("a"), pw("y"), "console").await,
        SubmitOutcome::GaveUp { volume: "a".into() }
    );
    assert!(
        matches!(state_of(&b, "a"), VolumeState::Failed { reason } if reason.contains("tries=2"))
    );
    // Further passphrases are refused without trying.
    assert_eq!(
        b.submit(Some("a"), pw("pa"), "console").await,
        SubmitOutcome::GaveUp { volume: "a".into() }
    );
    assert_eq!(opener.calls_for("a"), 2);
    // `None` now means b only.
    assert_eq!(
        b.submit(None, pw("pb"), "console").await,
        SubmitOutcome::Opened(vec!["b".into()])
    );
    let s = tokio::time::timeout(Duration::from_secs(5), b.settled())
        .await
        .unwrap();
    assert!(matches!(s[0].state, VolumeState::Failed { .. }));
}

#[tokio::test]
async fn without_tries_nothing_gives_up() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vda", b"pa")]));
    let b = broker(vec![vol("a", 1)], &opener, &Arc::new(FakeReader::default()));
    b.device_appeared(luks_dev("/dev/vda", 1));
    for n in 1..=12 {
        assert_eq!(
            b.submit(Some("a"), pw("x"), "console").await,
            SubmitOutcome::Wrong {
                volume: "a".into(),
                attempts: n
            }
        );
    }
    assert_eq!(state_of(&b, "a"), VolumeState::Locked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_answer_wins_and_no_volume_opens_twice() {
    let opener =
        Arc::new(FakeOpener::new(&[("/dev/vda", b"right")]).slow(Duration::from_millis(150)));
    let b = broker(
        vec![vol("root", 1)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    let (x, y, z) = tokio::join!(
        b.submit(Some("root"), pw("right"), "console"),
        b.submit(Some("root"), pw("right"), "ssh 1"),
        b.submit(None, pw("right"), "ssh 2"),
    );
    let mut outcomes = [x, y, z];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [
            SubmitOutcome::AlreadyOpen("root".into()),
            SubmitOutcome::AlreadyOpen("root".into()),
            SubmitOutcome::Opened(vec!["root".into()]),
        ]
    );
    assert_eq!(opener.calls_for("root"), 1);
    assert_eq!(opener.max_concurrent("root"), 1);
    assert_eq!(opener.opened(), vec!["root".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_and_a_right_passphrase_at_once() {
    let opener =
        Arc::new(FakeOpener::new(&[("/dev/vda", b"right")]).slow(Duration::from_millis(100)));
    let b = broker(
        vec![vol("root", 1)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    let mut status = b.status();
    let (wrong, right) = tokio::join!(
        b.submit(Some("root"), pw("wrong"), "console"),
        b.submit(Some("root"), pw("right"), "ssh"),
    );
    assert_eq!(right, SubmitOutcome::Opened(vec!["root".into()]));
    // Either it was tried first (and counted), or the volume was open by then.
    assert!(
        matches!(&wrong, SubmitOutcome::Wrong { volume, attempts: 1 } if volume == "root")
            || wrong == SubmitOutcome::AlreadyOpen("root".into()),
        "{wrong:?}"
    );
    assert!(opener.max_concurrent("root") <= 1);
    assert!(status.has_changed().unwrap());
    assert_eq!(status.borrow_and_update()[0].state, VolumeState::Open);
}

#[tokio::test]
async fn a_passphrase_before_the_device_is_kept_for_it() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"data-pass")]));
    let b = broker(
        vec![vol("data", 2)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    let out = b.submit(Some("data"), pw("data-pass"), "ssh").await;
    let SubmitOutcome::Error { volume, message } = out else {
        panic!("{out:?}")
    };
    assert_eq!(volume, "data");
    assert!(
        message.contains("not appeared") && message.contains("kept"),
        "{message}"
    );
    assert!(opener.calls().is_empty());
    b.device_appeared(luks_dev("/dev/vdb", 2));
    until(&b, |s| s[0].state == VolumeState::Open).await;
    assert_eq!(b.last_good_passphrase().unwrap().as_bytes(), b"data-pass");
}

#[tokio::test]
async fn a_wrong_early_passphrase_leaves_the_volume_locked_uncounted() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"data-pass")]));
    let b = broker(
        vec![vol("data", 2)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    let out = b.submit(None, pw("guess"), "console").await;
    assert!(
        matches!(&out, SubmitOutcome::Error { volume, message } if volume == "data" && message.contains("waiting")),
        "{out:?}"
    );
    b.device_appeared(luks_dev("/dev/vdb", 2));
    let s = until(&b, |s| {
        s[0].state == VolumeState::Locked && !opener.calls().is_empty()
    })
    .await;
    assert_eq!(s[0].attempts, 0);
    assert_eq!(opener.calls_for("data"), 1);
}

#[tokio::test]
async fn open_errors_are_not_wrong_passphrases() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vda", b"right")]).failing(
        "/dev/vda",
        "/dev/vda: device-mapper or the cipher is missing",
    ));
    let mut v = vol("root", 1);
    v.options.tries = Some(1);
    let b = broker(vec![v], &opener, &Arc::new(FakeReader::default()));
    b.device_appeared(luks_dev("/dev/vda", 1));
    let out = b.submit(Some("root"), pw("right"), "console").await;
    assert_eq!(
        out,
        SubmitOutcome::Error {
            volume: "root".into(),
            message: "/dev/vda: device-mapper or the cipher is missing".into()
        }
    );
    assert_eq!(state_of(&b, "root"), VolumeState::Locked);
    assert_eq!(b.status().borrow()[0].attempts, 0);
}

#[tokio::test]
async fn nofail_volumes_without_a_device_do_not_hold_the_boot() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vda", b"pa")]));
    let mut usb = vol("usb", 9);
    usb.options.nofail = true;
    let b = broker(
        vec![vol("root", 1), usb],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    let settled = b.settled();
    tokio::pin!(settled);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut settled)
            .await
            .is_err()
    );
    b.submit(None, pw("pa"), "console").await;
    let s = tokio::time::timeout(Duration::from_secs(5), settled)
        .await
        .unwrap();
    assert_eq!(s[0].state, VolumeState::Open);
    assert_eq!(s[1].state, VolumeState::WaitingForDevice);
}

#[tokio::test]
async fn discover_all_names_each_luks_device() {
    let opener = Arc::new(FakeOpener::new(&[
        ("/dev/vda2", b"pw"),
        ("/dev/vdb", b"pw"),
    ]));
    let sel = Selection::DiscoverAll {
        options: VolumeOptions {
            discard: true,
            ..Default::default()
        },
        keys: vec![],
        options_by_uuid: vec![],
    };
    let b = Broker::new(sel, opener.clone(), Arc::new(FakeReader::default()));
    let settled = b.settled();
    tokio::pin!(settled);
    assert!(
        tokio::time::timeout(Duration::from_millis(20), &mut settled)
            .await
            .is_err()
    );
    b.device_appeared(DeviceIdentity {
        path: "/dev/vda1".into(),
        fs_uuid: Some("1234-abcd".into()),
        ..Default::default()
    });
    b.device_appeared(luks_dev("/dev/vda2", 1));
    b.device_appeared(luks_dev("/dev/vda2", 1));
    let s = b.status().borrow().clone();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, format!("luks-{}", uuid(1)));
    assert_eq!(s[0].state, VolumeState::Locked);
    let out = b.submit(None, pw("pw"), "console").await;
    assert_eq!(
        out,
        SubmitOutcome::Opened(vec![format!("luks-{}", uuid(1))])
    );
    // The opened mapping is a device too, but not LUKS: no new volume.
    b.device_appeared(DeviceIdentity {
        path: "/dev/dm-0".into(),
        fs_uuid: Some("5555-6666".into()),
        other_paths: vec![format!("/dev/mapper/luks-{}", uuid(1))],
        ..Default::default()
    });
    assert_eq!(b.status().borrow().len(), 1);
    tokio::time::timeout(Duration::from_secs(5), settled)
        .await
        .unwrap();
    // A second LUKS disk later: opened with the passphrase that worked.
    b.device_appeared(luks_dev("/dev/vdb", 2));
    until(&b, |s| s.len() == 2 && s[1].state == VolumeState::Open).await;
}

#[tokio::test]
async fn a_uuid_prefix_from_the_command_line_gets_the_full_name() {
    let opener = Arc::new(FakeOpener::new(&[]));
    let mut v = vol("luks-00000001", 1);
    v.device = DeviceSpec::Uuid("00000001".into());
    v.origin = crate::select::Origin::Cmdline;
    let b = broker(vec![v], &opener, &Arc::new(FakeReader::default()));
    b.device_appeared(luks_dev("/dev/vda", 1));
    let s = b.status().borrow().clone();
    assert_eq!(s[0].name, format!("luks-{}", uuid(1)));
    assert_eq!(s[0].state, VolumeState::Locked);
}

#[tokio::test]
async fn disabled_is_settled_at_once() {
    let b = Broker::new(
        Selection::Disabled,
        Arc::new(FakeOpener::new(&[])),
        Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    assert!(b.settled().await.is_empty());
    assert_eq!(
        b.submit(None, pw("x"), "console").await,
        SubmitOutcome::NothingLocked
    );
}

#[tokio::test]
async fn a_cancelled_submit_still_finishes_its_attempt() {
    let opener =
        Arc::new(FakeOpener::new(&[("/dev/vda", b"right")]).slow(Duration::from_millis(100)));
    let b = broker(
        vec![vol("root", 1)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    let r = tokio::time::timeout(
        Duration::from_millis(10),
        b.submit(None, pw("right"), "ssh"),
    )
    .await;
    assert!(r.is_err(), "the caller went away");
    until(&b, |s| s[0].state == VolumeState::Open).await;
}

#[tokio::test]
async fn early_passphrases_are_kept_once_and_only_the_last_few() {
    let opener = Arc::new(FakeOpener::new(&[("/dev/vdb", b"none of these")]));
    let b = broker(
        vec![vol("data", 2)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    for n in 0..7 {
        b.submit(Some("data"), pw(&format!("guess {n}")), "ssh")
            .await;
        b.submit(Some("data"), pw(&format!("guess {n}")), "ssh")
            .await;
    }
    b.device_appeared(luks_dev("/dev/vdb", 2));
    until(&b, |s| s[0].state == VolumeState::Locked).await;
    assert_eq!(opener.calls_for("data"), 4);
}

#[tokio::test]
async fn the_status_in_json() {
    let opener = Arc::new(FakeOpener::new(&[]));
    let mut v = vol("root", 1);
    v.options.tries = Some(1);
    let b = broker(
        vec![v, vol("home", 2)],
        &opener,
        &Arc::new(FakeReader::default()),
    );
    b.device_appeared(luks_dev("/dev/vda", 1));
    b.submit(Some("root"), pw("x"), "console").await;
    let json = serde_json::to_value(&*b.status().borrow()).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"name": "root", "device": format!("UUID={}", uuid(1)), "path": "/dev/vda",
             "uuid": uuid(1), "state": {"failed": {"reason": "1 wrong passphrase (tries=1)"}},
             "attempts": 1, "mapper": null},
            {"name": "home", "device": format!("UUID={}", uuid(2)), "path": null,
             "uuid": uuid(2), "state": "waiting_for_device", "attempts": 0, "mapper": null},
        ])
    );
}
