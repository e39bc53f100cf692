//! Where the boot waits for an operator, and what it does with their controls (from the
//! console or SSH): during the boot only reboot/poweroff act; in the emergency state
//! `retry`; at `rd.break` `continue`. Also the two ways out: rebooting, and — when
//! nothing else works — stopping without ever exiting PID 1.

use tokio::sync::mpsc;

use crate::control::{Control, ControlMsg};
use crate::{kernelfs, logger};

/// What the boot is doing, for the answer to a control that does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Booting (waiting for devices or passphrases): nothing to continue or retry.
    Booting,
    /// Emergency: `retry` runs the boot again.
    Emergency,
    /// `rd.break`: `continue` goes on to switch_root; `retry` runs the boot again.
    Break,
}

/// Takes controls until one applies to `state`. Reboot and poweroff never return.
pub async fn next_control(controls: &mut mpsc::Receiver<ControlMsg>, state: Waiting) -> Control {
    loop {
        let Some(msg) = controls.recv().await else {
            // Nobody can send anything any more: stay here (PID 1 must not exit).
            std::future::pending::<()>().await;
            continue;
        };
        match (msg.control, state) {
            (c @ (Control::Reboot | Control::Poweroff), _) => {
                msg.answer(Ok(()));
                shutdown(c);
            }
            (Control::Continue, Waiting::Break)
            | (Control::Retry, Waiting::Emergency | Waiting::Break) => {
                let c = msg.control;
                msg.answer(Ok(()));
                return c;
            }
            (Control::Continue, _) => msg.answer(Err(match state {
                Waiting::Booting => "nothing to continue: the boot is still running".into(),
                _ => "nothing to continue: the boot failed; fix the cause and `retry`".into(),
            })),
            (Control::Retry, _) => {
                msg.answer(Err("nothing to retry: the boot is still running".into()))
            }
        }
    }
}

/// Reboots or powers off after syncing. Does not return.
pub fn shutdown(how: Control) -> ! {
    log::info!("{how} requested");
    nix::unistd::sync();
    let mode = if how == Control::Poweroff {
        nix::sys::reboot::RebootMode::RB_POWER_OFF
    } else {
        nix::sys::reboot::RebootMode::RB_AUTOBOOT
    };
    let err = nix::sys::reboot::reboot(mode).err();
    last_resort(&format!("{how} failed: {err:?}"))
}

/// When nothing else works: say so and keep PID 1 alive (its exit would panic the
/// kernel), reaping children.
pub fn last_resort(why: &str) -> ! {
    logger::console_write(&format!(
        "sesame: FATAL: {why}. The machine is stopped; power-cycle it.\r\n"
    ));
    log::error!("{why}; stopped");
    loop {
        kernelfs::reap_zombies();
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}
