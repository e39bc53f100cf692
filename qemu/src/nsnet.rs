//! TCP from inside a test's network namespace without a shell: a thread enters the
//! namespace (`setns`, which moves only the calling thread) and the sockets it opens stay
//! there. For crowds of connections and for a slowloris client that never finishes its
//! SSH handshake.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::sched::{setns, CloneFlags};

/// Runs `f` on a new thread inside network namespace `netns` and returns its result.
pub fn in_netns<T, F>(netns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let path = format!("/run/netns/{netns}");
    let handle = std::thread::spawn(move || -> Result<T> {
        enter(&path)?;
        f()
    });
    handle
        .join()
        .map_err(|_| anyhow!("the thread in namespace {netns} panicked"))?
}

fn enter(path: &str) -> Result<()> {
    let ns = File::open(path).with_context(|| format!("opening {path}"))?;
    setns(ns, CloneFlags::CLONE_NEWNET).with_context(|| format!("entering {path}"))
}

/// Opens `count` TCP connections to `addr` from inside `netns`, all at once (one burst,
/// each sending `hello` first if it is not empty), and hands them back open.
pub fn connect_crowd(
    netns: &str,
    addr: SocketAddr,
    count: usize,
    hello: &'static [u8],
) -> Result<Vec<TcpStream>> {
    in_netns(netns, move || {
        let mut conns = Vec::with_capacity(count);
        for i in 0..count {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
                .with_context(|| format!("crowd connection {i} to {addr}"))?;
            if !hello.is_empty() {
                // A server that already dropped us is part of the test, not an error.
                let _ = s.write_all(hello);
            }
            conns.push(s);
        }
        Ok(conns)
    })
}

/// What a [`Slowloris`] saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SlowlorisStats {
    /// Connections opened.
    pub opened: usize,
    /// Connections the server closed (a handshake deadline).
    pub closed_by_server: usize,
    /// The longest a connection stayed open.
    pub longest: Duration,
}

/// `conns` connections that send an SSH version line, then one byte every `every`, never
/// finishing the key exchange; each one closed by the server is opened again. Runs in
/// `netns` until dropped.
pub struct Slowloris {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    longest_ms: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

struct Loris {
    stream: TcpStream,
    opened: Instant,
    next: Instant,
}

impl Slowloris {
    pub fn start(netns: &str, addr: SocketAddr, conns: usize, every: Duration) -> Result<Self> {
        let path = format!("/run/netns/{netns}");
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let longest_ms = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let (s, o, c, l) = (
            stop.clone(),
            opened.clone(),
            closed.clone(),
            longest_ms.clone(),
        );
        let thread = std::thread::spawn(move || {
            if let Err(e) = enter(&path) {
                let _ = ready_tx.send(Err(e));
                return;
            }
            let _ = ready_tx.send(Ok(()));
            run_loris(addr, conns, every, &s, &o, &c, &l);
        });
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the slowloris thread died"))??;
        Ok(Slowloris {
            stop,
            opened,
            closed,
            longest_ms,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> SlowlorisStats {
        SlowlorisStats {
            opened: self.opened.load(Ordering::Relaxed),
            closed_by_server: self.closed.load(Ordering::Relaxed),
            longest: Duration::from_millis(self.longest_ms.load(Ordering::Relaxed) as u64),
        }
    }
}

impl Drop for Slowloris {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The client's bytes after its version line: the start of a binary packet that claims
/// to be long, so the server keeps waiting for the rest.
const TRICKLE: &[u8] = b"\x00\x00\x01\x00\x0a\x14slowly, slowly, never done";

#[allow(clippy::too_many_arguments)]
fn run_loris(
    addr: SocketAddr,
    conns: usize,
    every: Duration,
    stop: &AtomicBool,
    opened: &AtomicUsize,
    closed: &AtomicUsize,
    longest_ms: &AtomicUsize,
) {
    let mut live: Vec<(Loris, usize)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        while live.len() < conns {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(mut stream) => {
                    let _ = stream.set_nonblocking(true);
                    let _ = stream.write_all(b"SSH-2.0-slowloris_0.1\r\n");
                    opened.fetch_add(1, Ordering::Relaxed);
                    let now = Instant::now();
                    live.push((
                        Loris {
                            stream,
                            opened: now,
                            next: now + every,
                        },
                        0,
                    ));
                }
                Err(_) => break,
            }
        }
        let now = Instant::now();
        live.retain_mut(|(l, sent)| {
            let mut buf = [0u8; 512];
            let gone = loop {
                match l.stream.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            let gone = gone || {
                if now >= l.next {
                    l.next = now + every;
                    let b = TRICKLE[*sent % TRICKLE.len()];
                    *sent += 1;
                    matches!(l.stream.write(&[b]), Err(e) if e.kind() != ErrorKind::WouldBlock)
                } else {
                    false
                }
            };
            if gone {
                closed.fetch_add(1, Ordering::Relaxed);
                let ms = usize::try_from(l.opened.elapsed().as_millis()).unwrap_or(usize::MAX);
                longest_ms.fetch_max(ms, Ordering::Relaxed);
            }
            !gone
        });
        for (l, _) in &live {
            let ms = usize::try_from(l.opened.elapsed().as_millis()).unwrap_or(usize::MAX);
            longest_ms.fetch_max(ms, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
