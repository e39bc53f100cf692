//! A started session channel: what it runs (the requested command, the key's forced
//! command, or a refusal — decided by a pure function), the commands that need no
//! dialogue (`status`, `help`, `continue`, `retry`, `reboot`, `poweroff`) and how a
//! session ends (exit status, or the server's closing message).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::boot::Request;
use crate::channel_io::{ChannelIo, Gone};
use crate::command::{self, Command, CommandError};
use crate::exit_code;
use crate::registry::Closing;
use crate::server::Shared;
use crate::unlock::UnlockEnd;
use crate::{logs, render, repl, unlock};

/// Who runs the session, for the programs and the boot's log.
#[derive(Clone)]
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    /// `key SHA256:… (line 3)`.
    pub who: String,
}

impl Ctx {
    /// The `source` of an unlock request.
    pub fn source(&self) -> String {
        format!("ssh {} {}", self.peer, self.who)
    }
}

/// What a session channel runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Run(Command),
    /// Print the message on stderr and exit with the code.
    Refuse {
        message: String,
        code: u32,
    },
}

/// Decides what runs: `requested` is the exec string (None for a shell), `forced` the
/// key's `command=`. A forced command runs instead of a shell or of a request for the same
/// program (its arguments win, as in OpenSSH); any other request is refused, loudly.
pub fn decide(requested: Option<&[u8]>, forced: Option<&Command>) -> Start {
    let parsed = match requested {
        None => Ok(Command::Shell),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => command::parse(s),
            Err(_) => Err(CommandError::Usage {
                command: "sesame".into(),
                message: "the command line is not UTF-8".into(),
            }),
        },
    };
    match (forced, parsed) {
        (Some(f), Ok(Command::Shell)) => Start::Run(f.clone()),
        (Some(f), Ok(c)) if c.same_program(f) => Start::Run(f.clone()),
        (Some(f), Ok(c)) => Start::Refuse {
            message: format!(
                "this key may only run `{f}` (command= in authorized_keys); `{c}` refused"
            ),
            code: exit_code::NOT_PERMITTED,
        },
        (Some(f), Err(_)) => Start::Refuse {
            message: format!("this key may only run `{f}` (command= in authorized_keys)"),
            code: exit_code::NOT_PERMITTED,
        },
        (None, Ok(c)) => Start::Run(c),
        (None, Err(e)) => Start::Refuse {
            message: e.to_string(),
            code: exit_code::for_command_error(&e),
        },
    }
}

/// The command as the log shows it: arguments the boot does not know (a volume name that
/// is no volume — perhaps a passphrase typed in the wrong place) are left out.
pub fn describe(cmd: &Command, view: &crate::BootView) -> String {
    match cmd {
        Command::Unlock { volume: Some(v) } if view.volume(v).is_none() => {
            "unlock <not a volume>".into()
        }
        other => other.to_string(),
    }
}

/// Runs a session channel to its end.
pub async fn run(mut io: ChannelIo, ctx: Ctx, start: Start) {
    let result = match start {
        Start::Refuse { message, code } => {
            io.err(&format!("sesame: {message}\n")).await.map(|_| code)
        }
        // A command given without a pty reads its passphrase from stdin until EOF.
        Start::Run(cmd) => {
            let stdin_secret = !io.has_pty();
            run_command(&cmd, &mut io, &ctx, stdin_secret).await
        }
    };
    if let Ok(code) = result {
        io.finish(code).await;
    }
}

/// Runs one command. `stdin_secret`: `unlock` reads its passphrase from stdin until EOF
/// (a command given on the ssh command line without a pty); else it prompts.
pub async fn run_command(
    cmd: &Command,
    io: &mut ChannelIo,
    ctx: &Ctx,
    stdin_secret: bool,
) -> Result<u32, Gone> {
    let shared = &ctx.shared;
    match cmd {
        Command::Shell => repl::shell(io, ctx).await,
        Command::Unlock { volume } if stdin_secret => {
            unlock::from_stdin(io, ctx, volume.clone()).await
        }
        Command::Unlock { volume } => match unlock::interactive(io, ctx, volume.clone()).await? {
            UnlockEnd::Done => {
                let text = unlock::after_done(&shared.view.borrow());
                if let Some(text) = text {
                    io.out(text).await?;
                }
                Ok(exit_code::OK)
            }
            UnlockEnd::NothingLocked => {
                io.err(&format!(
                    "{}\n",
                    render::unlock_reply(&crate::UnlockReply::NothingLocked)
                ))
                .await?;
                Ok(exit_code::NOTHING_LOCKED)
            }
            UnlockEnd::Exit(code) => Ok(code),
        },
        Command::Status { json } => {
            let view = shared.view.borrow().clone();
            let text = if *json {
                render::status_json(&view)
            } else {
                render::status(&view, &shared.hostname)
            };
            io.out(&text).await?;
            Ok(exit_code::OK)
        }
        Command::Log { follow } => logs::log(io, ctx, *follow).await,
        Command::Dmesg => logs::dmesg(io).await,
        Command::Continue => {
            control(io, ctx, "continue", |reply| Request::Continue { reply }).await
        }
        Command::Retry => control(io, ctx, "retry", |reply| Request::Retry { reply }).await,
        Command::Reboot | Command::Poweroff => {
            let (req, what) = match cmd {
                Command::Reboot => (Request::Reboot, "Rebooting"),
                _ => (Request::Poweroff, "Powering off"),
            };
            log::warn!("ssh: {} ({}) asks: {}", ctx.peer, ctx.who, cmd);
            if shared.requests.send(req).await.is_err() {
                io.err("sesame: the boot is not listening.\n").await?;
                return Ok(exit_code::FAILED);
            }
            io.out(&format!("{what}.\n")).await?;
            Ok(exit_code::OK)
        }
        Command::Help => {
            io.out(&render::help()).await?;
            Ok(exit_code::OK)
        }
        Command::Exit => Ok(exit_code::OK),
    }
}

/// `continue` and `retry`: ask the boot, say its answer.
async fn control(
    io: &mut ChannelIo,
    ctx: &Ctx,
    name: &str,
    make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Request,
) -> Result<u32, Gone> {
    log::info!("ssh: {} ({}) asks: {name}", ctx.peer, ctx.who);
    let (tx, rx) = oneshot::channel();
    if ctx.shared.requests.send(make(tx)).await.is_err() {
        io.err("sesame: the boot is not listening.\n").await?;
        return Ok(exit_code::FAILED);
    }
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(Ok(()))) => {
            io.out("The boot continues.\n").await?;
            Ok(exit_code::OK)
        }
        Ok(Ok(Err(m))) => {
            io.err(&format!("sesame: {name}: {}\n", render::clean(&m)))
                .await?;
            Ok(exit_code::FAILED)
        }
        _ => {
            io.err(&format!("sesame: {name}: the boot did not answer.\n"))
                .await?;
            Ok(exit_code::FAILED)
        }
    }
}

/// The server closes the session: say why.
pub async fn closing(io: &ChannelIo, why: Closing, idle: Duration) -> Result<u32, Gone> {
    match why {
        Closing::Shutdown => {
            io.err("\nsesame: the boot continues; this session closes.\n")
                .await?;
            Ok(exit_code::OK)
        }
        Closing::Idle => {
            let idle = match idle.as_secs() {
                s if s >= 120 => format!("{} min", s / 60),
                s => format!("{s} s"),
            };
            io.err(&format!(
                "\nsesame: no activity for {idle}; this session closes.\n"
            ))
            .await?;
            Ok(exit_code::FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_forced_command() {
        assert_eq!(decide(None, None), Start::Run(Command::Shell));
        assert_eq!(
            decide(Some(b"status --json"), None),
            Start::Run(Command::Status { json: true })
        );
        match decide(Some(b"ls"), None) {
            Start::Refuse { code, message } => {
                assert_eq!(code, 127);
                assert!(message.contains("unknown command"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(Some(b"status -x"), None),
            Start::Refuse { code: 2, .. }
        ));
        assert!(matches!(
            decide(Some(b"\xff"), None),
            Start::Refuse { code: 2, .. }
        ));
    }

    #[test]
    fn unknown_volume_names_stay_out_of_the_log() {
        let view = crate::BootView {
            volumes: vec![crate::VolumeView {
                name: "root".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let known = Command::Unlock {
            volume: Some("root".into()),
        };
        let typo = Command::Unlock {
            volume: Some("hunter2".into()),
        };
        assert_eq!(describe(&known, &view), "unlock root");
        assert_eq!(describe(&typo, &view), "unlock <not a volume>");
    }

    #[test]
    fn forced_command() {
        let unlock = Command::Unlock { volume: None };
        assert_eq!(decide(None, Some(&unlock)), Start::Run(unlock.clone()));
        assert_eq!(decide(Some(b""), Some(&unlock)), Start::Run(unlock.clone()));
        assert_eq!(
            decide(Some(b"unlock"), Some(&unlock)),
            Start::Run(unlock.clone())
        );
        assert_eq!(
            decide(Some(b"cryptroot-unlock root"), Some(&unlock)),
            Start::Run(unlock.clone()),
            "the forced arguments win"
        );
        match decide(Some(b"status"), Some(&unlock)) {
            Start::Refuse { code, message } => {
                assert_eq!(code, exit_code::NOT_PERMITTED);
                assert!(message.contains("may only run `unlock`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(Some(b"rm -rf /"), Some(&unlock)),
            Start::Refuse { code: 7, .. }
        ));
    }
}
