//! SSH as the boot uses it: the image's host key and authorized_keys handed to
//! sesame-remote, the sessions' requests bridged to the unlock broker and the boot's
//! controls, the readiness line once an address exists, and a clean stop before
//! switch_root.

use std::sync::Arc;
use std::time::Duration;

use sesame_crypt::{Passphrase, SubmitOutcome};
use sesame_remote::authorized_keys;
use sesame_remote::hostkey::{HostKey, HOST_KEY_NAME};
use sesame_remote::{BootView, LogFeed, Request, ServerConfig, UnlockReply};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::control::{Control, ControlMsg};
use crate::logger;
use crate::settings::Settings;
use crate::timeline::Timeline;
use crate::unlock::Unlock;

/// The running server.
pub struct Ssh {
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// The init's log for `log` and `log -f`.
struct InitLog;

impl LogFeed for InitLog {
    fn recent(&self) -> Vec<String> {
        logger::recent_lines().iter().map(|l| l.render()).collect()
    }
    fn follow(&self) -> broadcast::Receiver<String> {
        logger::follow().unwrap_or_else(|| broadcast::channel(1).1)
    }
}

/// Starts the server when SSH is enabled and the image has a host key. Everything the
/// operator needs to know about a failure is logged; the console still works.
pub fn start(
    settings: &Settings,
    unlock: Option<Arc<Unlock>>,
    view: watch::Receiver<BootView>,
    controls: mpsc::Sender<ControlMsg>,
    first_address: watch::Receiver<Option<std::net::Ipv4Addr>>,
    timeline: Timeline,
) -> Option<Ssh> {
    if !settings.ssh_enabled {
        log::info!("ssh: disabled (rd.sesame.ssh=0 or the config)");
        return None;
    }
    let key_path = std::path::Path::new("/etc/sesame").join(HOST_KEY_NAME);
    let host_key = match HostKey::read(&key_path) {
        Ok(k) => k,
        Err(e) => {
            log::error!("ssh: no usable host key ({e}); rebuild the image with `sesame build`");
            return None;
        }
    };
    let text = std::fs::read_to_string("/etc/sesame/authorized_keys").unwrap_or_default();
    let (keys, errors) = authorized_keys::parse(&text);
    for e in errors {
        log::warn!("ssh: /etc/sesame/authorized_keys: {e}");
    }
    if keys.is_empty() {
        log::warn!("ssh: the image has no authorized key: nobody can log in (sesame build --authorized-keys …)");
    }
    let fingerprint = host_key.fingerprint();
    let cfg = ServerConfig {
        port: settings.ssh_port,
        host_key,
        authorized_keys: keys,
        hostname: settings
            .hostname
            .clone()
            .unwrap_or_else(crate::view::hostname),
        limits: Default::default(),
    };
    let (req_tx, req_rx) = mpsc::channel(16);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let port = cfg.port;
    let server = tokio::spawn(async move {
        if let Err(e) =
            sesame_remote::serve(cfg, view, req_tx, Arc::new(InitLog), shutdown_rx).await
        {
            log::error!("ssh: the server stopped: {e}");
        }
    });
    tokio::spawn(handle_requests(req_rx, unlock, controls));
    tokio::spawn(announce(first_address, port, fingerprint, timeline));
    Some(Ssh {
        shutdown: shutdown_tx,
        server,
    })
}

/// `sesame: ssh ready on 10.0.2.15:22, host key SHA256:…` once an address exists (the
/// server listens on every address from the start).
async fn announce(
    mut address: watch::Receiver<Option<std::net::Ipv4Addr>>,
    port: u16,
    fingerprint: String,
    timeline: Timeline,
) {
    let addr = loop {
        if let Some(a) = *address.borrow_and_update() {
            break a;
        }
        if address.changed().await.is_err() {
            return;
        }
    };
    log::info!("ssh ready on {addr}:{port}, host key {fingerprint}");
    timeline.mark("ssh_ready", Some(format!("{addr}:{port}")));
}

/// Answers the sessions: passphrases go to the broker, controls to the boot.
async fn handle_requests(
    mut requests: mpsc::Receiver<Request>,
    unlock: Option<Arc<Unlock>>,
    controls: mpsc::Sender<ControlMsg>,
) {
    while let Some(req) = requests.recv().await {
        match req {
            Request::Unlock {
                volume,
                passphrase,
                source,
                reply,
            } => {
                let Some(u) = unlock.clone() else {
                    let _ = reply.send(UnlockReply::NothingLocked);
                    continue;
                };
                // Each submit runs on its own so a slow PBKDF does not hold other sessions.
                tokio::spawn(async move {
                    let pass = Passphrase::from_bytes(passphrase.to_vec());
                    drop(passphrase);
                    let outcome = u.submit(volume.as_deref(), pass, &source).await;
                    let _ = reply.send(to_reply(outcome));
                });
            }
            Request::Continue { reply } => forward(&controls, Control::Continue, Some(reply)).await,
            Request::Retry { reply } => forward(&controls, Control::Retry, Some(reply)).await,
            Request::Reboot => forward(&controls, Control::Reboot, None).await,
            Request::Poweroff => forward(&controls, Control::Poweroff, None).await,
        }
    }
}

async fn forward(
    controls: &mpsc::Sender<ControlMsg>,
    control: Control,
    reply: Option<oneshot::Sender<Result<(), String>>>,
) {
    if let Err(mpsc::error::SendError(msg)) = controls.send(ControlMsg { control, reply }).await {
        msg.answer(Err("the boot is not listening".into()));
    }
}

fn to_reply(outcome: SubmitOutcome) -> UnlockReply {
    match outcome {
        SubmitOutcome::Opened(v) => UnlockReply::Opened(v),
        SubmitOutcome::Wrong { volume, .. } => UnlockReply::Wrong { volume },
        SubmitOutcome::AlreadyOpen(v) => UnlockReply::AlreadyOpen(v),
        SubmitOutcome::NoSuchVolume(v) => UnlockReply::NoSuchVolume(v),
        SubmitOutcome::NothingLocked => UnlockReply::NothingLocked,
        SubmitOutcome::GaveUp { volume } => UnlockReply::GaveUp { volume },
        SubmitOutcome::Error { volume, message } => {
            UnlockReply::Error(format!("{volume}: {message}"))
        }
    }
}

impl Ssh {
    /// Stops accepting, tells open sessions the boot continues, closes them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(Duration::from_secs(3), self.server)
            .await
            .is_err()
        {
            log::warn!("ssh: sessions did not close within 3 s; continuing");
        }
    }
}
