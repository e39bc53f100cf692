//! `ssh root@host` with no command: the banner, a prompt per locked volume, and when
//! nothing waits for a passphrase (rd.break, an emergency, all open) the `sesame>` prompt
//! where the same commands can be typed.

use zeroize::Zeroizing;

use crate::channel_io::{ChannelIo, Event, Gone};
use crate::command::{self, Command, MAX_LINE};
use crate::exit_code;
use crate::line_editor::{Echo, Input, LineEditor, Outcome};
use crate::render;
use crate::session::{self, Ctx};
use crate::unlock::{self, UnlockEnd};

/// The interactive session.
pub async fn shell(io: &mut ChannelIo, ctx: &Ctx) -> Result<u32, Gone> {
    let view = ctx.shared.view.borrow().clone();
    io.out(&render::banner(&view, &ctx.shared.hostname)).await?;
    if !io.has_pty() {
        io.err("sesame: no terminal (ssh -t gives one): input is read as lines and your terminal may show it.\n")
            .await?;
    }
    match unlock::interactive(io, ctx, None).await? {
        UnlockEnd::Done => {
            let view = ctx.shared.view.borrow().clone();
            io.out(unlock::after_done(&view).unwrap_or("The boot continues.\n"))
                .await?;
            if unlock::boot_goes_on(&view) {
                return Ok(exit_code::OK);
            }
            prompt(io, ctx).await
        }
        UnlockEnd::NothingLocked => prompt(io, ctx).await,
        UnlockEnd::Exit(code) => Ok(code),
    }
}

/// The `sesame>` prompt.
async fn prompt(io: &mut ChannelIo, ctx: &Ctx) -> Result<u32, Gone> {
    io.out("Type `help` for the commands, `exit` to leave.\n")
        .await?;
    let (echo, input) = if io.has_pty() {
        (Echo::Visible, Input::Terminal)
    } else {
        (Echo::Hidden, Input::Lines)
    };
    let mut editor = LineEditor::new(echo, input, MAX_LINE);
    loop {
        io.out("sesame> ").await?;
        let line = loop {
            match io.next_event().await {
                Event::Data(bytes) => {
                    let mut out = Vec::new();
                    let mut done = None;
                    for (i, &b) in bytes.iter().enumerate() {
                        match editor.feed(b, &mut out) {
                            Outcome::Pending => {}
                            other => {
                                done = Some(other);
                                // Commands typed ahead wait for the next prompt.
                                let rest = bytes.get(i + 1..).unwrap_or_default();
                                if !rest.is_empty() {
                                    io.unread(vec![Event::Data(Zeroizing::new(rest.to_vec()))]);
                                }
                                break;
                            }
                        }
                    }
                    if !out.is_empty() {
                        io.raw(&out).await?;
                    }
                    match done {
                        None => {}
                        Some(Outcome::Submit) => {
                            if io.has_pty() {
                                io.out("\n").await?;
                            }
                            break Some(String::from_utf8_lossy(&editor.take()).into_owned());
                        }
                        Some(Outcome::Abort) => {
                            editor.clear();
                            io.out("^C\n").await?;
                            break None;
                        }
                        Some(_) => {
                            io.out("\n").await?;
                            return Ok(exit_code::OK);
                        }
                    }
                }
                Event::Eof if !io.has_pty() => return Ok(exit_code::OK),
                Event::Eof => {}
                Event::Interrupt => return Ok(exit_code::INTERRUPTED),
                Event::Closed => return Err(Gone),
                Event::Closing(c) => {
                    return session::closing(io, c, ctx.shared.limits.idle_timeout).await
                }
            }
        };
        let Some(line) = line else { continue };
        match command::parse(&line) {
            Ok(Command::Shell) => {}
            Ok(Command::Exit) => return Ok(exit_code::OK),
            Ok(cmd) => {
                let shown = session::describe(&cmd, &ctx.shared.view.borrow());
                log::info!(
                    "ssh: {} ({}) runs `{shown}` at the prompt",
                    ctx.peer,
                    ctx.who
                );
                let code = Box::pin(session::run_command(&cmd, io, ctx, false)).await?;
                if matches!(cmd, Command::Unlock { .. }) && code == exit_code::OK {
                    let view = ctx.shared.view.borrow().clone();
                    if view.locked().next().is_none() && unlock::boot_goes_on(&view) {
                        return Ok(exit_code::OK);
                    }
                }
                if code != exit_code::OK {
                    io.out(&format!("(exit status {code})\n")).await?;
                }
            }
            Err(e) => io.out(&format!("{e}\n")).await?,
        }
    }
}
