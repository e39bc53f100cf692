//! One session channel as the programs see it: the client's input as [`Event`]s (bytes in
//! `Zeroizing` buffers, end of input, Ctrl-C as a signal, the channel closing, the server
//! closing the session) and output to stdout/stderr through russh's session handle (`\n`
//! becomes `\r\n` on a pty, where nothing else would return the carriage).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use russh::server::Handle;
use russh::ChannelId;
use tokio::sync::{mpsc, watch};
use zeroize::Zeroizing;

use crate::registry::{ChannelGuard, Closing, Conn};

/// Input not yet read by the program, at most (the rest is dropped): a passphrase or a
/// key file is far smaller, and a client cannot make the server buffer without bound.
pub const MAX_QUEUED_INPUT: usize = 256 * 1024;

/// Output is sent in pieces of this size, so a slow client slows the writer.
const CHUNK: usize = 32 * 1024;

/// What happened on the channel.
#[derive(Debug)]
pub enum Event {
    Data(Zeroizing<Vec<u8>>),
    /// The client will send no more input.
    Eof,
    /// A signal (INT, TERM, HUP…) from the client.
    Interrupt,
    /// The client closed the channel or the connection is gone.
    Closed,
    /// The server closes the session.
    Closing(Closing),
}

/// The client went away: nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// The handler's side: where it puts the client's input.
#[derive(Debug, Clone)]
pub struct InputSender {
    tx: mpsc::UnboundedSender<Event>,
    queued: Arc<AtomicUsize>,
}

impl InputSender {
    /// Queues bytes; false if dropped because too much is queued.
    pub fn data(&self, bytes: &[u8]) -> bool {
        let queued = self.queued.load(Ordering::Relaxed);
        if queued.saturating_add(bytes.len()) > MAX_QUEUED_INPUT {
            return false;
        }
        self.queued.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = self.tx.send(Event::Data(Zeroizing::new(bytes.to_vec())));
        true
    }

    pub fn send(&self, event: Event) {
        let _ = self.tx.send(event);
    }
}

pub struct ChannelIo {
    handle: Handle,
    id: ChannelId,
    pty: bool,
    events: mpsc::UnboundedReceiver<Event>,
    queued: Arc<AtomicUsize>,
    conn: Arc<Conn>,
    closing: watch::Receiver<Option<Closing>>,
    /// Events read but given back (input for the next prompt), returned first.
    pending: VecDeque<Event>,
    closed: bool,
    _guard: ChannelGuard,
}

impl ChannelIo {
    /// A channel and the sender its handler feeds.
    pub fn new(
        handle: Handle,
        id: ChannelId,
        pty: bool,
        conn: Arc<Conn>,
    ) -> (ChannelIo, InputSender) {
        let (tx, events) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let io = ChannelIo {
            handle,
            id,
            pty,
            events,
            queued: queued.clone(),
            closing: conn.subscribe_closing(),
            _guard: conn.channel_started(),
            conn,
            pending: VecDeque::new(),
            closed: false,
        };
        (io, InputSender { tx, queued })
    }

    pub fn has_pty(&self) -> bool {
        self.pty
    }

    /// The next event. Cancel-safe (usable in `select!`).
    pub async fn next_event(&mut self) -> Event {
        if let Some(c) = *self.closing.borrow() {
            return Event::Closing(c);
        }
        if let Some(ev) = self.pending.pop_front() {
            return ev;
        }
        if self.closed {
            return Event::Closed;
        }
        loop {
            tokio::select! {
                ev = self.events.recv() => {
                    return match ev {
                        Some(Event::Data(d)) => {
                            self.queued.fetch_sub(d.len(), Ordering::Relaxed);
                            Event::Data(d)
                        }
                        Some(Event::Closed) | None => {
                            self.closed = true;
                            Event::Closed
                        }
                        Some(e) => e,
                    };
                }
                changed = self.closing.changed() => {
                    if changed.is_err() {
                        self.closed = true;
                        return Event::Closed;
                    }
                    if let Some(c) = *self.closing.borrow() {
                        return Event::Closing(c);
                    }
                }
            }
        }
    }

    /// Gives events back, to be returned (in this order) before anything else.
    pub fn unread(&mut self, events: Vec<Event>) {
        for ev in events.into_iter().rev() {
            self.pending.push_front(ev);
        }
    }

    /// Drops the bytes queued (typed ahead while the boot checked a passphrase); the end
    /// of input, signals and a close stay.
    pub fn discard_input(&mut self) {
        let mut kept: VecDeque<Event> = self
            .pending
            .drain(..)
            .filter(|e| !matches!(e, Event::Data(_)))
            .collect();
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                Event::Data(d) => {
                    self.queued.fetch_sub(d.len(), Ordering::Relaxed);
                }
                other => kept.push_back(other),
            }
        }
        self.pending = kept;
    }

    /// Text to stdout.
    pub async fn out(&self, text: &str) -> Result<(), Gone> {
        self.send(None, &self.terminal_text(text)).await
    }

    /// Text to stderr (stdout on a pty, where both are the same terminal).
    pub async fn err(&self, text: &str) -> Result<(), Gone> {
        if self.pty {
            self.out(text).await
        } else {
            self.send(Some(1), text.as_bytes()).await
        }
    }

    /// Bytes to stdout as they are (echo).
    pub async fn raw(&self, bytes: &[u8]) -> Result<(), Gone> {
        self.send(None, bytes).await
    }

    fn terminal_text(&self, text: &str) -> Vec<u8> {
        if !self.pty {
            return text.as_bytes().to_vec();
        }
        let mut out = Vec::with_capacity(text.len() + 16);
        let mut prev = 0u8;
        for &b in text.as_bytes() {
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            prev = b;
        }
        out
    }

    async fn send(&self, ext: Option<u32>, bytes: &[u8]) -> Result<(), Gone> {
        for chunk in bytes.chunks(CHUNK) {
            let data = chunk.to_vec();
            let r = match ext {
                None => self.handle.data(self.id, data).await,
                Some(code) => self.handle.extended_data(self.id, code, data).await,
            };
            r.map_err(|_| Gone)?;
        }
        self.conn.touch();
        Ok(())
    }

    /// Ends the session with an exit status.
    pub async fn finish(self, code: u32) {
        let _ = self.handle.exit_status_request(self.id, code).await;
        let _ = self.handle.eof(self.id).await;
        let _ = self.handle.close(self.id).await;
    }
}
