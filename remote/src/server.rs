//! The server: [`bind`] (prepare the keys, build the russh configuration, listen — so the
//! caller learns the address before serving), [`Bound::run`] (accept until shutdown:
//! back-off, admission, one task per connection; then close every session, saying why)
//! and [`serve`], the two in one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::access::{self, Entry, Note};
use crate::backoff::{Backoff, Source};
use crate::boot::{BootView, LogFeed, Request};
use crate::config::{Limits, RemoteError, ServerConfig};
use crate::registry::{Admission, Registry};
use crate::{algorithms, connection, listener};

/// What every connection shares.
pub struct Shared {
    pub russh: Arc<russh::server::Config>,
    pub entries: Vec<Entry>,
    pub hostname: String,
    pub limits: Limits,
    pub view: watch::Receiver<BootView>,
    pub requests: mpsc::Sender<Request>,
    pub logs: Arc<dyn LogFeed>,
    pub shutdown: watch::Receiver<bool>,
    pub registry: Registry,
    pub backoff: Mutex<Backoff>,
}

/// A server listening but not serving yet.
pub struct Bound {
    listener: TcpListener,
    local: SocketAddr,
    russh: Arc<russh::server::Config>,
    entries: Vec<Entry>,
    hostname: String,
    limits: Limits,
    fingerprint: String,
}

/// Prepares the authorized keys (logging refused lines), checks the host key and listens
/// on `[::]:port` (IPv4 and IPv6). Must run inside a tokio runtime.
pub async fn bind(cfg: ServerConfig) -> Result<Bound, RemoteError> {
    let russh = algorithms::russh_config(&cfg.host_key, &cfg.limits)?;
    let (entries, notes) = access::prepare(&cfg.authorized_keys);
    for n in notes {
        match n {
            Note::Refused(m) => log::warn!("ssh: {m}"),
            Note::Caveat(m) => log::info!("ssh: {m}"),
        }
    }
    if entries.is_empty() {
        log::warn!("ssh: no usable authorized key: nobody can log in");
    }
    let listener = listener::bind(cfg.port).map_err(|source| RemoteError::Bind {
        port: cfg.port,
        source,
    })?;
    let local = listener.local_addr().map_err(|source| RemoteError::Bind {
        port: cfg.port,
        source,
    })?;
    Ok(Bound {
        listener,
        local,
        russh,
        entries,
        hostname: cfg.hostname,
        limits: cfg.limits,
        fingerprint: cfg.host_key.fingerprint(),
    })
}

/// Listens on `[::]:port` and serves until `shutdown` turns true; then stops accepting,
/// tells open sessions "the boot continues" and closes them. Returns once closed (within
/// about 3 s). [`bind`] + [`Bound::run`], for a caller that needs no address.
pub async fn serve(
    cfg: ServerConfig,
    view: watch::Receiver<BootView>,
    requests: mpsc::Sender<Request>,
    logs: Arc<dyn LogFeed>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RemoteError> {
    bind(cfg).await?.run(view, requests, logs, shutdown).await
}

impl Bound {
    /// The address listened on: `[::]:22`, or the port the kernel chose for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The host key's fingerprint, `SHA256:…`.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Serves until `shutdown` turns true (see [`serve`]).
    pub async fn run(
        self,
        view: watch::Receiver<BootView>,
        requests: mpsc::Sender<Request>,
        logs: Arc<dyn LogFeed>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), RemoteError> {
        let limits = self.limits.clone();
        let shared = Arc::new(Shared {
            russh: self.russh,
            entries: self.entries,
            hostname: self.hostname,
            registry: Registry::new(limits.max_unauthenticated, limits.max_sessions),
            backoff: Mutex::new(Backoff::new(
                limits.auth_failures_before_backoff,
                limits.backoff,
            )),
            limits,
            view,
            requests,
            logs,
            shutdown: shutdown.clone(),
        });
        log::info!(
            "ssh: listening on {} (every address, IPv4 and IPv6), host key {}",
            self.local,
            self.fingerprint
        );
        let listener = self.listener;
        let mut tasks = JoinSet::new();
        let mut shutdown = shutdown;
        let mut quiet = Quiet::default();
        loop {
            tokio::select! {
                _ = wait_true(&mut shutdown) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => accept(&shared, &mut tasks, &mut quiet, stream, peer),
                    Err(e) => {
                        // Out of descriptors or memory, a connection reset before accept:
                        // wait a little, never stop serving.
                        if allow(&mut quiet.accept_errors) {
                            log::warn!("ssh: accept failed: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        log::info!("ssh: stopping: closing {} connection(s)", tasks.len());
        let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {}
        if !tasks.is_empty() {
            for c in shared.registry.all() {
                c.kill();
            }
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        log::info!("ssh: stopped");
        Ok(())
    }
}

/// Rate limits for the log lines a flood would repeat.
#[derive(Default)]
struct Quiet {
    accept_errors: Option<tokio::time::Instant>,
    backoff: Option<tokio::time::Instant>,
    full: Option<tokio::time::Instant>,
    evicted: Option<tokio::time::Instant>,
}

/// At most one line per 10 s for each kind.
fn allow(last: &mut Option<tokio::time::Instant>) -> bool {
    let now = tokio::time::Instant::now();
    match last {
        Some(t) if now.duration_since(*t) < Duration::from_secs(10) => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}

fn accept(
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    quiet: &mut Quiet,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let source = Source::of(peer.ip());
    let blocked = shared
        .backoff
        .lock()
        .ok()
        .and_then(|b| b.blocked_until(source, std::time::Instant::now()));
    if let Some(until) = blocked {
        if allow(&mut quiet.backoff) {
            log::warn!(
                "ssh: {peer}: refused, {source} is backing off after failed logins ({}s left)",
                until
                    .saturating_duration_since(std::time::Instant::now())
                    .as_secs()
                    .max(1)
            );
        }
        return;
    }
    // A second descriptor on the socket, to close it from outside whatever russh is doing.
    let (stream, killer) = match split_killer(stream) {
        Ok(pair) => pair,
        Err(e) => {
            log::warn!("ssh: {peer}: {e}");
            return;
        }
    };
    match shared.registry.admit(peer, Some(killer)) {
        Admission::Admitted { conn, evicted } => {
            if let Some(old) = evicted {
                old.kill();
                if allow(&mut quiet.evicted) {
                    log::info!(
                        "ssh: {} connections not logged in: closed {} (silent for {}s) to admit {peer}",
                        shared.limits.max_unauthenticated,
                        old.peer,
                        old.accepted.elapsed().as_secs()
                    );
                }
            }
            tasks.spawn(connection::run(shared.clone(), conn, stream));
        }
        Admission::Full => {
            if allow(&mut quiet.full) {
                log::warn!(
                    "ssh: {peer}: refused, {} connections are logging in already",
                    shared.limits.max_unauthenticated
                );
            }
        }
    }
}

fn split_killer(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std = stream.into_std()?;
    let killer = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, killer))
}

/// Returns once the flag is true; never if its sender is gone without setting it.
pub async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
