//! The console, as the operator in front of the machine sees it: while volumes are
//! locked, a passphrase prompt (no echo) per locked volume, withdrawn when the volume is
//! opened elsewhere (SSH, a keyfile); while the boot waits (emergency, `rd.break`),
//! commands. One task owns the console's input for the whole boot.

use std::sync::Arc;

use sesame_crypt::{Passphrase, VolumeState, VolumeStatus};
use tokio::sync::{mpsc, watch};

use crate::console::Line;
use crate::control::{self, ControlMsg, Typed};
use crate::logger::console_write;
use crate::unlock::{describe_outcome, Unlock};

/// What the console is for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Booting: input is ignored.
    Idle,
    /// Volumes are locked: ask for passphrases.
    Unlock,
    /// The boot waits for an operator.
    Commands { can_continue: bool },
}

/// Changes what the console does.
#[derive(Clone)]
pub struct Console {
    mode: Arc<watch::Sender<Mode>>,
    unlock: Arc<watch::Sender<Option<Arc<Unlock>>>>,
}

impl Console {
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The volumes to ask for (known once the boot is prepared); None: no prompt
    /// (`rd.sesame.console=0`, or LUKS disabled).
    pub fn set_unlock(&self, unlock: Option<Arc<Unlock>>) {
        self.unlock.send_replace(unlock);
    }
}

/// Starts the console task; it can take commands before the volumes are known.
pub fn start(
    input: Option<mpsc::UnboundedReceiver<Line>>,
    controls: mpsc::Sender<ControlMsg>,
) -> Console {
    let (tx, rx) = watch::channel(Mode::Idle);
    let (unlock_tx, unlock_rx) = watch::channel(None);
    if let Some(input) = input {
        tokio::spawn(run(input, rx, unlock_rx, controls));
    }
    Console {
        mode: Arc::new(tx),
        unlock: Arc::new(unlock_tx),
    }
}

async fn run(
    mut input: mpsc::UnboundedReceiver<Line>,
    mut mode: watch::Receiver<Mode>,
    unlock: watch::Receiver<Option<Arc<Unlock>>>,
    controls: mpsc::Sender<ControlMsg>,
) {
    // Echo stays off for as long as passphrases are asked for, so nothing typed early
    // or between two prompts is shown (or reaches a serial console's log).
    let mut echo: Option<EchoOff> = None;
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Unlock {
            echo.get_or_insert_with(EchoOff::new);
        } else {
            echo = None;
        }
        crate::console::discard_pending(&mut input);
        let unlock = unlock.borrow().clone();
        let keep_going = match (current, &unlock) {
            (Mode::Unlock, Some(u)) => prompt_once(&mut input, &mut mode, u).await,
            (Mode::Commands { can_continue }, _) => {
                commands(&mut input, &mut mode, can_continue, &controls).await
            }
            _ => mode.changed().await.is_ok(),
        };
        if !keep_going {
            return;
        }
    }
}

/// The first volume that waits for a passphrase.
fn first_locked(status: &[VolumeStatus]) -> Option<VolumeStatus> {
    status
        .iter()
        .find(|v| v.state == VolumeState::Locked)
        .cloned()
}

/// Asks for one passphrase, or waits until a volume is locked. Returns false when the
/// console is gone.
async fn prompt_once(
    input: &mut mpsc::UnboundedReceiver<Line>,
    mode: &mut watch::Receiver<Mode>,
    unlock: &Unlock,
) -> bool {
    let mut status = unlock.broker.status();
    let Some(volume) = first_locked(&status.borrow_and_update()) else {
        tokio::select! {
            r = status.changed() => return r.is_ok() || mode.changed().await.is_ok(),
            r = mode.changed() => return r.is_ok(),
        }
    };
    console_write(&format!(
        "\r\nPassphrase for {} ({}): ",
        volume.name, volume.device
    ));
    let line = loop {
        tokio::select! {
            line = input.recv() => break line,
            r = mode.changed() => {
                console_write("\r\n");
                return r.is_ok();
            }
            r = status.changed() => {
                if r.is_err() { continue; }
                // Withdraw only once it is open or failed: `Unlocking` means another source is
                // trying a passphrase that may turn out wrong.
                let now = status
                    .borrow_and_update()
                    .iter()
                    .find(|v| v.name == volume.name)
                    .map(|v| v.state.clone());
                let said = match now {
                    Some(VolumeState::Open) => format!("{} was unlocked elsewhere", volume.name),
                    Some(VolumeState::Failed { reason }) => format!("{}: {reason}", volume.name),
                    _ => continue,
                };
                console_write(&format!("\r\n{said}\r\n"));
                return true;
            }
        }
    };
    console_write("\r\n");
    let Some(line) = line else { return false };
    if line.is_empty() {
        return true;
    }
    let passphrase = Passphrase::from_bytes(line.as_bytes().to_vec());
    drop(line);
    let outcome = unlock
        .submit(Some(&volume.name), passphrase, "console")
        .await;
    console_write(&format!("sesame: {}\r\n", describe_outcome(&outcome)));
    true
}

/// Reads commands until the mode changes. Returns false when the console is gone.
async fn commands(
    input: &mut mpsc::UnboundedReceiver<Line>,
    mode: &mut watch::Receiver<Mode>,
    can_continue: bool,
    controls: &mpsc::Sender<ControlMsg>,
) -> bool {
    console_write(&format!("sesame: {}\r\n", control::help(can_continue)));
    loop {
        let line = tokio::select! {
            line = input.recv() => line,
            r = mode.changed() => return r.is_ok(),
        };
        let Some(line) = line else { return false };
        match control::parse_line(&line) {
            Typed::Control(c) => {
                let _ = controls
                    .send(ControlMsg {
                        control: c,
                        reply: None,
                    })
                    .await;
            }
            Typed::Help => console_write(&format!("sesame: {}\r\n", control::help(can_continue))),
            Typed::Empty => {}
            Typed::Unknown(w) => console_write(&format!(
                "sesame: unknown command `{w}`; {}\r\n",
                control::help(can_continue)
            )),
        }
    }
}

/// Turns the console's echo off while it lives (passphrases must not be shown, nor
/// reach the serial log).
struct EchoOff {
    saved: Option<nix::sys::termios::Termios>,
}

impl EchoOff {
    fn new() -> Self {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
        }
        EchoOff { saved }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Turns echo back on, whatever the console task is doing: before switch_root, so the
/// real system never inherits a console that hides what is typed.
pub fn echo_on() {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if let Ok(mut t) = tcgetattr(&stdin) {
        t.local_flags.insert(LocalFlags::ECHO);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &t);
    }
}
