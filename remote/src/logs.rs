//! `log` (the init's log, `-f` to follow it until Ctrl-C) and `dmesg` (the kernel's).

use std::path::Path;

use tokio::sync::broadcast::error::RecvError;

use crate::channel_io::{ChannelIo, Event, Gone};
use crate::exit_code;
use crate::kmsg;
use crate::render::clean;
use crate::session::{self, Ctx};

/// `log` and `log -f`.
pub async fn log(io: &mut ChannelIo, ctx: &Ctx, follow: bool) -> Result<u32, Gone> {
    // Subscribe first: a line logged between the two is shown twice rather than lost.
    let mut rx = follow.then(|| ctx.shared.logs.follow());
    let mut text = String::new();
    for line in ctx.shared.logs.recent() {
        text.push_str(&clean(&line));
        text.push('\n');
    }
    io.out(&text).await?;
    let Some(rx) = rx.as_mut() else {
        return Ok(exit_code::OK);
    };
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(line) => io.out(&format!("{}\n", clean(&line))).await?,
                Err(RecvError::Lagged(n)) => io.out(&format!("[… {n} lines skipped]\n")).await?,
                Err(RecvError::Closed) => return Ok(exit_code::OK),
            },
            ev = io.next_event() => match ev {
                Event::Data(d) if d.contains(&0x03) => {
                    io.out("\n").await?;
                    return Ok(exit_code::OK);
                }
                // Input and end of input do not stop following; Ctrl-C does.
                Event::Data(_) | Event::Eof => {}
                Event::Interrupt => return Ok(exit_code::OK),
                Event::Closed => return Err(Gone),
                Event::Closing(c) => {
                    return session::closing(io, c, ctx.shared.limits.idle_timeout).await
                }
            }
        }
    }
}

/// `dmesg`.
pub async fn dmesg(io: &mut ChannelIo) -> Result<u32, Gone> {
    let lines = tokio::task::spawn_blocking(|| kmsg::read_all(Path::new("/dev/kmsg"))).await;
    match lines {
        Ok(Ok(lines)) => {
            let mut text = lines.join("\n");
            text.push('\n');
            io.out(&text).await?;
            Ok(exit_code::OK)
        }
        Ok(Err(e)) => {
            io.err(&format!("sesame: dmesg: /dev/kmsg: {e}\n")).await?;
            Ok(exit_code::FAILED)
        }
        Err(e) => {
            io.err(&format!("sesame: dmesg: {e}\n")).await?;
            Ok(exit_code::FAILED)
        }
    }
}
