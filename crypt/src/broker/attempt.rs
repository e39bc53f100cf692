//! Trying passphrases: `submit` (choose the volumes, try, count wrong ones, reuse a
//! good passphrase on the other locked volumes) and one attempt on one volume, under
//! that volume's lock, with the blocking open on tokio's blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use super::state::KeyPhase;
use super::{Inner, SubmitOutcome, VolumeState};
use crate::open::OpenError;
use crate::secret::Passphrase;

/// How one attempt ended.
#[derive(Debug)]
pub(super) enum Attempt {
    Opened,
    Wrong {
        attempts: u32,
    },
    GaveUp,
    AlreadyOpen,
    /// Not in a state to take a passphrase (failed, or its device is gone).
    NotReady(VolumeState),
    Error(String),
}

impl Inner {
    pub(super) async fn submit(
        self: &Arc<Self>,
        volume: Option<String>,
        passphrase: Passphrase,
        source: &str,
    ) -> SubmitOutcome {
        let targets = match self.targets(volume, &passphrase) {
            Ok(t) => t,
            Err(outcome) => return outcome,
        };
        let names: Vec<String> = {
            let st = self.lock();
            targets
                .iter()
                .map(|&i| st.volumes[i].name().to_string())
                .collect()
        };
        log::info!("LUKS: passphrase from {source} for {}", names.join(", "));
        // Only one target: count a wrong passphrase in the same step (tries= is exact
        // even with concurrent submits).
        let count = targets.len() == 1;
        let mut opened = Vec::new();
        let mut first = None;
        for (k, &i) in targets.iter().enumerate() {
            match self.attempt(i, &passphrase, count).await {
                Attempt::Opened => opened.push(names[k].clone()),
                other if k == 0 => first = Some(other),
                _ => {}
            }
        }
        if !opened.is_empty() {
            log::info!(
                "LUKS: {} opened with the passphrase from {source}",
                opened.join(", ")
            );
            self.lock().remember(&passphrase);
            opened.extend(self.reuse(&passphrase, &targets).await);
            return SubmitOutcome::Opened(opened);
        }
        let primary = targets[0];
        let volume = names[0].clone();
        let outcome = match first {
            Some(Attempt::Wrong { attempts }) if count => SubmitOutcome::Wrong { volume, attempts },
            Some(Attempt::Wrong { .. }) => match self.count_wrong(primary) {
                Attempt::Wrong { attempts } => SubmitOutcome::Wrong { volume, attempts },
                Attempt::GaveUp => SubmitOutcome::GaveUp { volume },
                _ => SubmitOutcome::AlreadyOpen(volume),
            },
            Some(Attempt::GaveUp) => SubmitOutcome::GaveUp { volume },
            Some(Attempt::AlreadyOpen) | Some(Attempt::Opened) | None => {
                SubmitOutcome::AlreadyOpen(volume)
            }
            Some(Attempt::NotReady(state)) => self.not_ready(primary, &state),
            Some(Attempt::Error(message)) => SubmitOutcome::Error { volume, message },
        };
        match &outcome {
            SubmitOutcome::Wrong { volume, attempts } => {
                log::warn!("LUKS: wrong passphrase for {volume} from {source} (attempt {attempts})")
            }
            SubmitOutcome::GaveUp { volume } => {
                log::warn!("LUKS: {volume}: too many wrong passphrases (tries=); giving up on it")
            }
            SubmitOutcome::Error { volume, message } => log::warn!("LUKS: {volume}: {message}"),
            _ => {}
        }
        outcome
    }

    /// The volumes to try (the one meant first), or the outcome at once.
    fn targets(
        &self,
        volume: Option<String>,
        passphrase: &Passphrase,
    ) -> Result<Vec<usize>, SubmitOutcome> {
        let mut st = self.lock();
        if let Some(name) = volume {
            let Some(i) = st.find(&name) else {
                return Err(SubmitOutcome::NoSuchVolume(name));
            };
            let v = &mut st.volumes[i];
            return match &v.state {
                VolumeState::Open => Err(SubmitOutcome::AlreadyOpen(name)),
                VolumeState::Failed { .. } => Err(self.not_ready_locked(v)),
                VolumeState::WaitingForDevice => {
                    v.keep_pending(passphrase);
                    Err(SubmitOutcome::Error {
                        message: format!(
                            "its device {} has not appeared yet; the passphrase is kept and tried when it does",
                            v.spec.device
                        ),
                        volume: name,
                    })
                }
                VolumeState::Locked | VolumeState::Unlocking => Ok(vec![i]),
            };
        }
        // The locked volumes; else those waiting for their key file's device (a typed
        // passphrase may open them too).
        for waiting_key in [false, true] {
            let targets: Vec<usize> = (0..st.volumes.len())
                .filter(|&i| {
                    let v = &st.volumes[i];
                    v.takes_passphrase() && (v.key == KeyPhase::Waiting) == waiting_key
                })
                .collect();
            if !targets.is_empty() {
                return Ok(targets);
            }
        }
        let waiting: Vec<usize> = (0..st.volumes.len())
            .filter(|&i| st.volumes[i].state == VolumeState::WaitingForDevice)
            .collect();
        let Some(&first) = waiting.first() else {
            return Err(SubmitOutcome::NothingLocked);
        };
        for &i in &waiting {
            st.volumes[i].keep_pending(passphrase);
        }
        let v = &st.volumes[first];
        Err(SubmitOutcome::Error {
            volume: v.name().to_string(),
            message: format!(
                "no volume is locked yet: waiting for the device {}; the passphrase is kept and tried when it appears",
                v.spec.device
            ),
        })
    }

    fn not_ready(&self, i: usize, state: &VolumeState) -> SubmitOutcome {
        let st = self.lock();
        let v = &st.volumes[i];
        match state {
            VolumeState::Open => SubmitOutcome::AlreadyOpen(v.name().to_string()),
            _ => self.not_ready_locked(v),
        }
    }

    fn not_ready_locked(&self, v: &super::state::Vol) -> SubmitOutcome {
        let volume = v.name().to_string();
        match &v.state {
            VolumeState::Failed { .. } if v.gave_up => SubmitOutcome::GaveUp { volume },
            VolumeState::Failed { reason } => SubmitOutcome::Error {
                volume,
                message: reason.clone(),
            },
            VolumeState::Open => SubmitOutcome::AlreadyOpen(volume),
            _ => SubmitOutcome::Error {
                volume,
                message: format!("its device {} is not there", v.spec.device),
            },
        }
    }

    /// Tries `passphrase` on every volume that takes one, except `skip`; returns those
    /// it opened. Not counted as wrong attempts.
    pub(super) async fn reuse(
        self: &Arc<Self>,
        passphrase: &Passphrase,
        skip: &[usize],
    ) -> Vec<String> {
        let mut opened = Vec::new();
        let candidates: Vec<usize> = {
            let st = self.lock();
            (0..st.volumes.len())
                .filter(|i| !skip.contains(i))
                .filter(|&i| {
                    let v = &st.volumes[i];
                    v.takes_passphrase() && v.key != KeyPhase::Waiting
                })
                .collect()
        };
        for i in candidates {
            if let Attempt::Opened = self.attempt(i, passphrase, false).await {
                let name = self.lock().volumes[i].name().to_string();
                log::info!("LUKS: {name} opened with the same passphrase");
                opened.push(name);
            }
        }
        opened
    }

    /// One attempt on volume `i`, waiting for the attempts before it.
    pub(super) async fn attempt(
        self: &Arc<Self>,
        i: usize,
        passphrase: &Passphrase,
        count: bool,
    ) -> Attempt {
        let lock = self.lock().volumes[i].lock.clone();
        let _held = lock.lock().await;
        self.attempt_held(i, passphrase, count).await
    }

    /// One attempt on volume `i`; the caller holds the volume's lock.
    pub(super) async fn attempt_held(
        self: &Arc<Self>,
        i: usize,
        key: &Passphrase,
        count: bool,
    ) -> Attempt {
        let (path, name, options) = {
            let mut st = self.lock();
            let v = &mut st.volumes[i];
            match &v.state {
                VolumeState::Open => return Attempt::AlreadyOpen,
                VolumeState::Failed { .. } | VolumeState::WaitingForDevice => {
                    return Attempt::NotReady(v.state.clone())
                }
                VolumeState::Locked | VolumeState::Unlocking => {}
            }
            let Some(path) = v.path.clone() else {
                return Attempt::NotReady(VolumeState::WaitingForDevice);
            };
            v.state = VolumeState::Unlocking;
            (path, v.name().to_string(), v.open_options())
        };
        self.publish();
        let result = self.open_blocking(path, name, key.clone(), options).await;
        let outcome = {
            let mut st = self.lock();
            match result {
                Ok(()) => {
                    let ready = st.opened(i);
                    drop(st);
                    for j in ready {
                        self.start_auto(j);
                    }
                    Attempt::Opened
                }
                Err(OpenError::WrongKey) => {
                    let v = &mut st.volumes[i];
                    v.state = v.idle_state();
                    if count {
                        drop(st);
                        self.count_wrong(i)
                    } else {
                        Attempt::Wrong {
                            attempts: v.attempts,
                        }
                    }
                }
                Err(OpenError::Other(message)) => {
                    let v = &mut st.volumes[i];
                    v.state = v.idle_state();
                    Attempt::Error(message)
                }
            }
        };
        self.publish();
        // A volume that opened may hold a key file; one that failed may have been what
        // another volume's key file waited for.
        self.reconsider();
        outcome
    }

    /// Counts a wrong passphrase for volume `i`; past `tries=`, the volume fails.
    pub(super) fn count_wrong(&self, i: usize) -> Attempt {
        let outcome = {
            let mut st = self.lock();
            let v = &mut st.volumes[i];
            match v.state {
                VolumeState::Open => Attempt::AlreadyOpen,
                VolumeState::Failed { .. } => Attempt::NotReady(v.state.clone()),
                _ => {
                    v.attempts += 1;
                    match v.spec.options.tries {
                        Some(tries) if v.attempts >= tries => {
                            v.gave_up = true;
                            v.state = VolumeState::Failed {
                                reason: format!(
                                    "{} wrong passphrase{} (tries={tries})",
                                    v.attempts,
                                    if v.attempts == 1 { "" } else { "s" }
                                ),
                            };
                            Attempt::GaveUp
                        }
                        _ => Attempt::Wrong {
                            attempts: v.attempts,
                        },
                    }
                }
            }
        };
        self.publish();
        outcome
    }

    /// Runs the opener on the blocking pool.
    pub(super) async fn open_blocking(
        &self,
        path: PathBuf,
        name: String,
        key: Passphrase,
        options: crate::spec::VolumeOptions,
    ) -> Result<(), OpenError> {
        let opener = self.opener.clone();
        tokio::task::spawn_blocking(move || opener.open(&path, &name, key.as_bytes(), &options))
            .await
            .unwrap_or_else(|e| Err(OpenError::Other(format!("the opening thread failed: {e}"))))
    }
}
