//! Opening without asking, in the background, when a volume's device appears: its key
//! file first (waiting for the key's device if needed), then the passphrases that
//! already opened other volumes, then those given before the device appeared; if none
//! works, the volume is `Locked` and waits for a prompt.

use std::sync::Arc;

use super::attempt::Attempt;
use super::state::{KeyPhase, KeyPlan};
use super::{Inner, VolumeState};
use crate::secret::Passphrase;

impl Inner {
    /// Starts the background open of volume `i` (its `auto_running` is already set).
    pub(super) fn start_auto(self: &Arc<Self>, i: usize) {
        let me = self.clone();
        self.spawn(async move { me.auto(i).await });
    }

    async fn auto(self: &Arc<Self>, i: usize) {
        let lock = self.lock().volumes[i].lock.clone();
        let held = lock.lock().await;
        if self.auto_keyfile(i).await == Step::Stop {
            return;
        }
        let (candidates, typed_from): (Vec<Passphrase>, usize) = {
            let mut st = self.lock();
            let mut c = st.good.clone();
            let typed_from = c.len();
            c.append(&mut st.volumes[i].pending);
            (c, typed_from)
        };
        for (k, p) in candidates.iter().enumerate() {
            match self.attempt_held(i, p, false).await {
                Attempt::Opened => {
                    self.lock().volumes[i].auto_running = false;
                    drop(held);
                    if k >= typed_from {
                        // A passphrase given early: it counts as typed, and is reused.
                        self.lock().remember(p);
                        self.reuse(p, &[i]).await;
                    }
                    return;
                }
                Attempt::Error(message) => {
                    log::warn!("LUKS: {}: {message}", self.lock().volumes[i].name())
                }
                _ => {}
            }
        }
        {
            let mut st = self.lock();
            let v = &mut st.volumes[i];
            v.auto_running = false;
            if v.takes_passphrase() {
                v.state = v.idle_state();
            }
        }
        self.publish();
        drop(held);
        self.reconsider();
    }

    /// The key-file step of `auto`, under the volume's lock.
    async fn auto_keyfile(self: &Arc<Self>, i: usize) -> Step {
        let plan = {
            let mut st = self.lock();
            let v = &st.volumes[i];
            if !v.takes_passphrase() {
                st.volumes[i].auto_running = false;
                return Step::Stop;
            }
            if v.key == KeyPhase::Done {
                return Step::Continue;
            }
            match st.key_plan(i) {
                None => {
                    st.volumes[i].key = KeyPhase::Done;
                    return Step::Continue;
                }
                Some(KeyPlan::Missing(what)) => {
                    if st.key_wait_over(i, self.key_grace) {
                        log::warn!(
                            "LUKS: volume {}: the key file's device {what} did not appear; asking for a passphrase",
                            st.volumes[i].name()
                        );
                        st.volumes[i].key = KeyPhase::Done;
                        return Step::Continue;
                    }
                    let first = st.volumes[i].key != KeyPhase::Waiting;
                    let v = &mut st.volumes[i];
                    v.key = KeyPhase::Waiting;
                    v.state = VolumeState::Unlocking;
                    v.auto_running = false;
                    if first {
                        log::info!(
                            "LUKS: volume {} waits for its key file's device {what}",
                            v.name()
                        );
                    }
                    let wait = v
                        .spec
                        .options
                        .keyfile_timeout
                        .filter(|t| !t.is_zero())
                        .unwrap_or(self.key_grace);
                    let elapsed = v.appeared.map(|t| t.elapsed()).unwrap_or_default();
                    drop(st);
                    self.publish();
                    let me = self.clone();
                    let left = wait.saturating_sub(elapsed);
                    self.spawn(async move {
                        tokio::time::sleep(left).await;
                        me.reconsider();
                    });
                    return Step::Stop;
                }
                Some(KeyPlan::Ready { path, device }) => {
                    st.volumes[i].state = VolumeState::Unlocking;
                    (
                        path,
                        device,
                        st.volumes[i].spec.options.clone(),
                        st.volumes[i].name().to_string(),
                    )
                }
            }
        };
        self.publish();
        let (path, device, options, name) = plan;
        let reader = self.keyfiles.clone();
        let (p, d) = (path.clone(), device.clone());
        let key = tokio::task::spawn_blocking(move || {
            reader.read(
                &p,
                d.as_deref(),
                options.keyfile_offset,
                options.keyfile_size,
            )
        })
        .await
        .unwrap_or_else(|e| Err(format!("the key file thread failed: {e}")));
        let shown = match &device {
            Some(d) => format!("{path} on {}", d.display()),
            None => path,
        };
        self.lock().volumes[i].key = KeyPhase::Done;
        match key {
            Ok(key) => match self.attempt_held(i, &key, false).await {
                Attempt::Opened => {
                    log::info!("LUKS: {name} opened with the key file {shown}");
                    self.lock().volumes[i].auto_running = false;
                    return Step::Stop;
                }
                Attempt::Wrong { .. } => log::warn!(
                    "LUKS: the key file {shown} does not open {name}; asking for a passphrase"
                ),
                Attempt::Error(m) => {
                    log::warn!(
                        "LUKS: {name} with the key file {shown}: {m}; asking for a passphrase"
                    )
                }
                _ => {
                    self.lock().volumes[i].auto_running = false;
                    return Step::Stop;
                }
            },
            Err(e) => log::warn!("LUKS: volume {name}: {e}; asking for a passphrase"),
        }
        Step::Continue
    }

    /// Starts the background open of volumes waiting for their key file's device when
    /// that device appeared, or when waiting is over.
    pub(super) fn reconsider(self: &Arc<Self>) {
        let start: Vec<usize> = {
            let mut st = self.lock();
            let waiting: Vec<usize> = (0..st.volumes.len())
                .filter(|&i| {
                    let v = &st.volumes[i];
                    v.key == KeyPhase::Waiting
                        && v.state == VolumeState::Unlocking
                        && !v.auto_running
                })
                .collect();
            let go: Vec<usize> = waiting
                .into_iter()
                .filter(|&i| {
                    matches!(st.key_plan(i), Some(KeyPlan::Ready { .. }))
                        || st.key_wait_over(i, self.key_grace)
                })
                .collect();
            for &i in &go {
                st.volumes[i].auto_running = true;
            }
            go
        };
        for i in start {
            self.start_auto(i);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Continue,
    Stop,
}
