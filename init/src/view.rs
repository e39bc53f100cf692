//! The boot as SSH sessions see it (`status`, the banner, the prompts): the stage, the
//! volumes, the network, the timeline and the errors (every line logged as an error, and
//! why the boot stopped), gathered into one BootView and
//! republished whenever one of them changes. Carries no secret: the broker's status and
//! the net crate's status hold none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_remote::{BootView, Stage, VolumeView};
use tokio::sync::watch;

use crate::network::Network;
use crate::timeline::Timeline;
use crate::unlock::Unlock;

/// The publisher of the BootView.
#[derive(Clone)]
pub struct View {
    view: Arc<watch::Sender<BootView>>,
    stage: Arc<watch::Sender<Stage>>,
    errors: Arc<Mutex<Vec<String>>>,
}

/// The kernel's host name, or "initramfs" when none is set yet.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && h != "(none)")
        .unwrap_or_else(|| "initramfs".into())
}

impl View {
    pub fn start(
        hostname: String,
        unlock: Option<Arc<Unlock>>,
        net: Arc<Network>,
        timeline: Timeline,
    ) -> View {
        let (view_tx, _) = watch::channel(BootView::default());
        let (stage_tx, stage_rx) = watch::channel(Stage::Booting);
        let v = View {
            view: Arc::new(view_tx),
            stage: Arc::new(stage_tx),
            errors: Arc::new(Mutex::new(Vec::new())),
        };
        tokio::spawn(v.clone().publish(hostname, unlock, net, timeline, stage_rx));
        v
    }

    pub fn subscribe(&self) -> watch::Receiver<BootView> {
        self.view.subscribe()
    }

    pub fn set_stage(&self, stage: Stage) {
        self.stage.send_replace(stage);
    }

    /// Records an error for `status` (kept to the last 50).
    pub fn add_error(&self, e: String) {
        if let Ok(mut errors) = self.errors.lock() {
            if errors.len() == 50 {
                errors.remove(0);
            }
            errors.push(e);
        }
    }

    async fn publish(
        self,
        hostname: String,
        unlock: Option<Arc<Unlock>>,
        net: Arc<Network>,
        timeline: Timeline,
        mut stage: watch::Receiver<Stage>,
    ) {
        let mut volumes = unlock.as_ref().map(|u| u.broker.status());
        let mut network = net.status();
        loop {
            let vols: Vec<VolumeView> = volumes
                .as_mut()
                .map(|v| v.borrow_and_update().iter().map(volume_view).collect())
                .unwrap_or_default();
            // While booting, a locked volume means the boot waits for an operator.
            let current = match stage.borrow_and_update().clone() {
                Stage::Booting if vols.iter().any(|v| v.state == "locked") => {
                    Stage::WaitingForUnlock
                }
                other => other,
            };
            let view = BootView {
                hostname: hostname.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                stage: current,
                volumes: vols,
                network: serde_json::to_value(&*network.borrow_and_update()).unwrap_or_default(),
                timeline: serde_json::from_str(&timeline.to_json()).unwrap_or_default(),
                errors: merge_errors(
                    crate::logger::recent_lines()
                        .into_iter()
                        .filter(|l| l.level == log::Level::Error)
                        .map(|l| l.text)
                        .collect(),
                    self.errors.lock().map(|e| e.clone()).unwrap_or_default(),
                ),
            };
            self.view.send_replace(view);
            let volumes_changed = async {
                match volumes.as_mut() {
                    Some(v) => changed(v).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = volumes_changed => {}
                _ = changed(&mut network) => {}
                _ = changed(&mut stage) => {}
                // The timeline and the errors change without telling: refresh now and then.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Waits for a change; a channel whose sender is gone never changes again (and must not
/// wake the loop over and over).
async fn changed<T>(rx: &mut watch::Receiver<T>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn volume_view(v: &sesame_crypt::VolumeStatus) -> VolumeView {
    use sesame_crypt::VolumeState::*;
    let (state, detail) = match &v.state {
        WaitingForDevice => ("waiting for device", None),
        Locked => ("locked", None),
        Unlocking => ("unlocking", None),
        Open => ("open", v.mapper.clone()),
        Failed { reason } => ("failed", Some(reason.clone())),
    };
    VolumeView {
        name: v.name.clone(),
        device: v.path.clone().unwrap_or_else(|| v.device.clone()),
        state: state.to_string(),
        detail,
    }
}

/// The errors `status` shows: the lines logged as errors, then each recorded reason no
/// logged line already carries; the last 50.
fn merge_errors(logged: Vec<String>, recorded: Vec<String>) -> Vec<String> {
    let mut all = logged;
    for r in recorded {
        if !all.iter().any(|l| l.contains(&r)) {
            all.push(r);
        }
    }
    let extra = all.len().saturating_sub(50);
    all.drain(..extra);
    all
}

#[cfg(test)]
mod tests {
    use super::merge_errors;

    #[test]
    fn logged_errors_then_reasons_not_logged() {
        let logged = vec![
            "LUKS: /dev/vda: the LUKS header is damaged".to_string(),
            "the boot stopped: no root".to_string(),
        ];
        let recorded = vec!["no root".to_string(), "internal error".to_string()];
        assert_eq!(
            merge_errors(logged.clone(), recorded),
            [logged, vec!["internal error".to_string()]].concat()
        );
        let many: Vec<String> = (0..60).map(|n| n.to_string()).collect();
        let kept = merge_errors(many, Vec::new());
        assert_eq!((kept.len(), kept[0].as_str()), (50, "10"));
    }
}
