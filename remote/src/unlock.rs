//! Unlocking from a session. Interactive: a hidden prompt per locked volume (following the
//! boot's view, so a volume opened elsewhere closes its prompt — the first answer wins),
//! wrong passphrases asked again, Ctrl-C or a dropped connection leaving the boot waiting
//! with nothing sent. From stdin: everything until EOF, one trailing newline removed. The
//! passphrase lives only in `Zeroizing` buffers and goes to the boot in a
//! [`Request::Unlock`]; it is never echoed, logged or put in a message.

use tokio::sync::{oneshot, watch};
use zeroize::Zeroizing;

use crate::boot::{BootView, Request, Stage, UnlockReply, VolumeView};
use crate::channel_io::{ChannelIo, Event, Gone};
use crate::exit_code;
use crate::line_editor::{Echo, Input, LineEditor, Outcome};
use crate::render::{self, clean};
use crate::session::{self, Ctx};

/// Longest passphrase typed at a prompt.
pub const MAX_TYPED: usize = 1024;
/// Longest passphrase (or key file) read from stdin.
pub const MAX_STDIN: usize = 64 * 1024;

/// `unlock [name]` without a pty: the passphrase is stdin.
pub async fn from_stdin(
    io: &mut ChannelIo,
    ctx: &Ctx,
    volume: Option<String>,
) -> Result<u32, Gone> {
    let mut secret = Zeroizing::new(Vec::with_capacity(MAX_STDIN));
    loop {
        match io.next_event().await {
            Event::Data(d) => {
                if secret.len() + d.len() > MAX_STDIN {
                    io.err(&format!(
                        "sesame: more than {} KiB on stdin; a passphrase or key file is smaller. Nothing was sent.\n",
                        MAX_STDIN / 1024
                    ))
                    .await?;
                    return Ok(exit_code::USAGE);
                }
                secret.extend_from_slice(&d);
            }
            Event::Eof => break,
            Event::Interrupt => return Ok(exit_code::INTERRUPTED),
            Event::Closed => return Err(Gone),
            Event::Closing(c) => {
                return session::closing(io, c, ctx.shared.limits.idle_timeout).await
            }
        }
    }
    strip_newline(&mut secret);
    if secret.is_empty() {
        io.err(
            "sesame: no passphrase on stdin (ssh root@host unlock < passfile). Nothing was sent.\n",
        )
        .await?;
        return Ok(exit_code::USAGE);
    }
    let reply = match submit(io, ctx, volume, secret).await? {
        Answer::Reply(r) => r,
        Answer::Exit(code) => return Ok(code),
    };
    let text = render::unlock_reply(&reply);
    let code = exit_code::for_unlock(&reply);
    match &reply {
        UnlockReply::Opened(_) => io.out(&format!("{text} The boot continues.\n")).await?,
        UnlockReply::AlreadyOpen(_) => io.out(&format!("{text}\n")).await?,
        _ => io.err(&format!("sesame: {text}\n")).await?,
    }
    Ok(code)
}

/// Removes one trailing newline (`\n` or `\r\n`), wiping it.
pub fn strip_newline(secret: &mut Zeroizing<Vec<u8>>) {
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
        // `pop` leaves the bytes in the spare capacity; Zeroizing wipes it all on drop.
    }
}

/// How waiting for the boot's answer ended.
enum Answer {
    Reply(UnlockReply),
    /// The session ends with this status (Ctrl-C, the server closing); the boot still
    /// uses the passphrase.
    Exit(u32),
}

/// Sends a passphrase to the boot and waits for its answer, still watching the session:
/// the client leaving does not cancel the attempt (the boot finishes it), it only stops
/// waiting. Input typed meanwhile is dropped.
async fn submit(
    io: &mut ChannelIo,
    ctx: &Ctx,
    volume: Option<String>,
    passphrase: Zeroizing<Vec<u8>>,
) -> Result<Answer, Gone> {
    let (tx, mut rx) = oneshot::channel();
    let req = Request::Unlock {
        volume,
        passphrase,
        source: ctx.source(),
        reply: tx,
    };
    if ctx.shared.requests.send(req).await.is_err() {
        return Ok(Answer::Reply(UnlockReply::Error(
            "the boot is not taking passphrases now".into(),
        )));
    }
    // What arrives meanwhile: on a pty, keys typed while the boot checks are dropped
    // (not a passphrase for the next prompt); piped input is kept for the next prompt.
    let mut kept = Vec::new();
    let answer = loop {
        tokio::select! {
            r = &mut rx => {
                break Answer::Reply(r.unwrap_or_else(|_| UnlockReply::Error("the boot did not answer".into())));
            }
            ev = io.next_event() => match ev {
                Event::Data(d) if io.has_pty() && d.contains(&0x03) => {
                    io.out("^C\nThe boot still checks the passphrase; leaving.\n").await?;
                    break Answer::Exit(exit_code::INTERRUPTED);
                }
                Event::Data(_) if io.has_pty() => {}
                e @ (Event::Data(_) | Event::Eof) => kept.push(e),
                Event::Interrupt => break Answer::Exit(exit_code::INTERRUPTED),
                Event::Closed => return Err(Gone),
                Event::Closing(c) => {
                    break Answer::Exit(session::closing(io, c, ctx.shared.limits.idle_timeout).await?)
                }
            }
        }
    };
    io.unread(kept);
    Ok(answer)
}

/// How the interactive unlock ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockEnd {
    /// What was asked is open (by this session or elsewhere while it prompted).
    Done,
    /// Nothing was locked nor about to be, from the start.
    NothingLocked,
    /// The session ends with this status.
    Exit(u32),
}

/// How one prompt ended.
enum PromptEnd {
    Opened(Vec<String>),
    /// The volume was opened elsewhere while prompting.
    Elsewhere,
    /// Look at the volumes again (wrong passphrase, unlocked elsewhere…).
    Again,
    /// The boot gave up on the volume.
    GaveUp,
    Exit(u32),
}

/// Prompts for `target`, or for each locked volume in turn (waiting for devices still to
/// appear). Says nothing when all is done: the caller says what comes next.
pub async fn interactive(
    io: &mut ChannelIo,
    ctx: &Ctx,
    target: Option<String>,
) -> Result<UnlockEnd, Gone> {
    let mut view = ctx.shared.view.clone();
    let input = if io.has_pty() {
        Input::Terminal
    } else {
        Input::Lines
    };
    let mut editor = LineEditor::new(Echo::Hidden, input, MAX_TYPED);
    let mut opened_any = false;
    let mut waiting_said = false;
    loop {
        let snapshot = view.borrow_and_update().clone();
        if snapshot.stage == Stage::SwitchingRoot {
            return Ok(UnlockEnd::Done);
        }
        let next = match &target {
            Some(name) => match snapshot.volume(name) {
                None => {
                    let names: Vec<String> =
                        snapshot.volumes.iter().map(|v| clean(&v.name)).collect();
                    io.err(&format!(
                        "sesame: there is no volume called {} (volumes: {}).\n",
                        clean(name),
                        if names.is_empty() {
                            "none".into()
                        } else {
                            names.join(", ")
                        }
                    ))
                    .await?;
                    return Ok(UnlockEnd::Exit(exit_code::NO_SUCH_VOLUME));
                }
                Some(v) if v.is_open() => {
                    if !opened_any {
                        io.out(&format!("{} is open.\n", clean(name))).await?;
                    }
                    return Ok(UnlockEnd::Done);
                }
                Some(v) if v.is_locked() => Some(v.clone()),
                Some(v) if v.state == VolumeView::FAILED => {
                    io.err(&format!(
                        "sesame: {} failed{}; try `retry`.\n",
                        clean(name),
                        v.detail
                            .as_deref()
                            .map(|d| format!(": {}", clean(d)))
                            .unwrap_or_default()
                    ))
                    .await?;
                    return Ok(UnlockEnd::Exit(exit_code::FAILED));
                }
                Some(_) => None,
            },
            None => match snapshot.locked().next() {
                Some(v) => Some(v.clone()),
                None if pending(&snapshot) => None,
                None if opened_any => return Ok(UnlockEnd::Done),
                None => return Ok(UnlockEnd::NothingLocked),
            },
        };
        let Some(volume) = next else {
            if !waiting_said {
                waiting_said = true;
                let waiting: Vec<String> = snapshot
                    .volumes
                    .iter()
                    .filter(|v| v.state == VolumeView::WAITING || v.state == VolumeView::UNLOCKING)
                    .map(|v| {
                        format!(
                            "{} ({}, {})",
                            clean(&v.name),
                            clean(&v.device),
                            clean(&v.state)
                        )
                    })
                    .collect();
                io.out(&format!(
                    "Waiting for {}… (Ctrl-C to leave)\n",
                    waiting.join(", ")
                ))
                .await?;
            }
            if let Some(code) = wait_for_change(io, ctx, &mut view).await? {
                return Ok(UnlockEnd::Exit(code));
            }
            continue;
        };
        waiting_said = false;
        match prompt(io, ctx, &mut view, &mut editor, &volume).await? {
            PromptEnd::Opened(names) => {
                opened_any = true;
                let names: Vec<String> = names.iter().map(|n| clean(n)).collect();
                io.out(&format!("Opened {}.\n", names.join(", "))).await?;
            }
            PromptEnd::Elsewhere => opened_any = true,
            PromptEnd::Again => {}
            PromptEnd::GaveUp if target.is_some() => {
                return Ok(UnlockEnd::Exit(exit_code::GAVE_UP))
            }
            PromptEnd::GaveUp => {}
            PromptEnd::Exit(code) => return Ok(UnlockEnd::Exit(code)),
        }
    }
}

/// Whether the boot goes on by itself once the volumes are open (not stopped by
/// `rd.break` nor by an emergency).
pub fn boot_goes_on(view: &BootView) -> bool {
    !matches!(view.stage, Stage::Break | Stage::Emergency { .. })
}

/// What to say when the prompts are done: None while some volume is not open yet.
pub fn after_done(view: &BootView) -> Option<&'static str> {
    if view.volumes.iter().any(|v| !v.is_open()) {
        return None;
    }
    Some(match view.stage {
        Stage::Break => "All volumes are open. rd.break stopped the boot: `continue` goes on.\n",
        Stage::Emergency { .. } => "All volumes are open.\n",
        _ => "All volumes are open; the boot continues.\n",
    })
}

/// Volumes that may soon need a passphrase.
fn pending(view: &BootView) -> bool {
    view.volumes
        .iter()
        .any(|v| v.state == VolumeView::WAITING || v.state == VolumeView::UNLOCKING)
}

/// Waits for the view to change; Some(code) if the session must end. Piped input that
/// arrives meanwhile is kept for the prompt that follows.
async fn wait_for_change(
    io: &mut ChannelIo,
    ctx: &Ctx,
    view: &mut watch::Receiver<BootView>,
) -> Result<Option<u32>, Gone> {
    let mut kept = Vec::new();
    let result = loop {
        tokio::select! {
            changed = view.changed() => {
                if changed.is_err() {
                    io.err("sesame: the boot stopped publishing its state.\n").await?;
                    break Some(exit_code::FAILED);
                }
                break None;
            }
            ev = io.next_event() => match ev {
                Event::Data(d) if io.has_pty() && d.contains(&0x03) => {
                    io.out("^C\n").await?;
                    break Some(exit_code::INTERRUPTED);
                }
                Event::Data(d) if !io.has_pty() => kept.push(Event::Data(d)),
                Event::Data(_) => {}
                Event::Eof if !io.has_pty() && kept.is_empty() => break Some(exit_code::INTERRUPTED),
                Event::Eof if !io.has_pty() => kept.push(Event::Eof),
                Event::Eof => {}
                Event::Interrupt => break Some(exit_code::INTERRUPTED),
                Event::Closed => return Err(Gone),
                Event::Closing(c) => {
                    break Some(session::closing(io, c, ctx.shared.limits.idle_timeout).await?)
                }
            }
        }
    };
    io.unread(kept);
    Ok(result)
}

/// One prompt for `volume`, then the boot's answer.
async fn prompt(
    io: &mut ChannelIo,
    ctx: &Ctx,
    view: &mut watch::Receiver<BootView>,
    editor: &mut LineEditor,
    volume: &VolumeView,
) -> Result<PromptEnd, Gone> {
    let name = volume.name.clone();
    editor.clear();
    io.out(&format!(
        "Passphrase for {} ({}): ",
        clean(&name),
        clean(&volume.device)
    ))
    .await?;
    let pty = io.has_pty();
    'typing: loop {
        tokio::select! {
            ev = io.next_event() => match ev {
                Event::Data(bytes) => {
                    let mut echo = Vec::new();
                    let mut submitted = false;
                    for (i, &b) in bytes.iter().enumerate() {
                        match editor.feed(b, &mut echo) {
                            Outcome::Pending => {}
                            Outcome::Submit => {
                                submitted = true;
                                // Piped lines after this one are for the next prompts; on
                                // a pty, keys typed ahead are dropped.
                                let rest = bytes.get(i + 1..).unwrap_or_default();
                                if !pty && !rest.is_empty() {
                                    io.unread(vec![Event::Data(Zeroizing::new(rest.to_vec()))]);
                                }
                                break;
                            }
                            Outcome::Abort => {
                                editor.clear();
                                return interrupted(io, "^C").await;
                            }
                            Outcome::Eof => {
                                editor.clear();
                                return interrupted(io, "").await;
                            }
                        }
                    }
                    if !echo.is_empty() {
                        io.raw(&echo).await?;
                    }
                    if submitted {
                        break 'typing;
                    }
                }
                // `echo -n pw | ssh root@host` (no pty): end of input ends the line.
                Event::Eof if !pty && !editor.is_empty() => break 'typing,
                Event::Eof => {
                    editor.clear();
                    return interrupted(io, "").await;
                }
                Event::Interrupt => {
                    editor.clear();
                    return interrupted(io, "").await;
                }
                Event::Closed => {
                    editor.clear();
                    log::info!("ssh: {} left at the prompt for {}; nothing was sent", ctx.peer, clean(&name));
                    return Err(Gone);
                }
                Event::Closing(c) => {
                    editor.clear();
                    return session::closing(io, c, ctx.shared.limits.idle_timeout).await.map(PromptEnd::Exit);
                }
            },
            changed = view.changed() => {
                if changed.is_err() {
                    editor.clear();
                    io.err("\nsesame: the boot stopped publishing its state.\n").await?;
                    return Ok(PromptEnd::Exit(exit_code::FAILED));
                }
                let state = view.borrow().volume(&name).map(|v| v.state.clone());
                match state.as_deref() {
                    // Another attempt under way: keep prompting; if it fails the volume
                    // is locked again, if it succeeds the prompt closes.
                    Some(VolumeView::LOCKED | VolumeView::UNLOCKING) => {}
                    Some(VolumeView::OPEN) => {
                        editor.clear();
                        io.out(&format!("\n{} was unlocked elsewhere (the first answer wins).\n", clean(&name)))
                            .await?;
                        return Ok(PromptEnd::Elsewhere);
                    }
                    other => {
                        editor.clear();
                        let text = match other {
                            Some(s) => format!("\n{} is now {}.\n", clean(&name), clean(s)),
                            None => format!("\n{} is gone.\n", clean(&name)),
                        };
                        io.out(&text).await?;
                        return Ok(PromptEnd::Again);
                    }
                }
            }
        }
    }
    if pty {
        io.out("\n").await?;
    }
    let secret = editor.take();
    if secret.is_empty() {
        io.out("Empty passphrase; nothing was sent.\n").await?;
        return Ok(PromptEnd::Again);
    }
    io.out(&format!("Unlocking {}…\n", clean(&name))).await?;
    let reply = match submit(io, ctx, Some(name.clone()), secret).await? {
        Answer::Reply(r) => r,
        Answer::Exit(code) => return Ok(PromptEnd::Exit(code)),
    };
    if pty {
        // Keys typed while the boot checked are not a passphrase for the next prompt.
        io.discard_input();
    }
    Ok(match reply {
        UnlockReply::Opened(names) => PromptEnd::Opened(names),
        UnlockReply::Wrong { volume } => {
            io.out(&format!(
                "Wrong passphrase for {}; try again.\n",
                clean(&volume)
            ))
            .await?;
            PromptEnd::Again
        }
        r @ (UnlockReply::AlreadyOpen(_) | UnlockReply::NothingLocked | UnlockReply::Error(_)) => {
            io.out(&format!("{}\n", render::unlock_reply(&r))).await?;
            PromptEnd::Again
        }
        r @ UnlockReply::NoSuchVolume(_) => {
            io.err(&format!("sesame: {}\n", render::unlock_reply(&r)))
                .await?;
            PromptEnd::Exit(exit_code::NO_SUCH_VOLUME)
        }
        r @ UnlockReply::GaveUp { .. } => {
            io.out(&format!("{}\n", render::unlock_reply(&r))).await?;
            PromptEnd::GaveUp
        }
    })
}

/// Ctrl-C, Ctrl-D or a signal at the prompt.
async fn interrupted(io: &ChannelIo, shown: &str) -> Result<PromptEnd, Gone> {
    io.out(&format!(
        "{shown}\nNothing was sent; the boot keeps waiting.\n"
    ))
    .await?;
    Ok(PromptEnd::Exit(exit_code::INTERRUPTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_newline_is_stripped() {
        let s = |b: &[u8]| {
            let mut v = Zeroizing::new(b.to_vec());
            strip_newline(&mut v);
            v.to_vec()
        };
        assert_eq!(s(b"pw\n"), b"pw");
        assert_eq!(s(b"pw\r\n"), b"pw");
        assert_eq!(s(b"pw\n\n"), b"pw\n");
        assert_eq!(s(b"pw"), b"pw");
        assert_eq!(s(b"\n"), b"");
        assert_eq!(s(b"p w \r"), b"p w \r");
    }
}
