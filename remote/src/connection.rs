//! One TCP connection from accept to close: russh runs the protocol, this task enforces the
//! deadlines (handshake, login), the idle timeout and the server's shutdown (sessions are
//! told why, then the connection is closed, by force if the client does not go), and
//! counts a connection that left without logging in towards its source's back-off.

use std::sync::Arc;
use std::time::Duration;

use russh::Disconnect;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout};

use crate::backoff::Source;
use crate::handler::ConnHandler;
use crate::registry::{Closing, Conn, Phase};
use crate::server::{wait_true, Shared};

/// How long sessions get to say goodbye, then the client to close after the disconnect.
const GOODBYE: Duration = Duration::from_millis(1000);

pub async fn run(shared: Arc<Shared>, conn: Arc<Conn>, stream: TcpStream) {
    let limits = shared.limits.clone();
    let handshake_deadline = conn.accepted + limits.handshake_timeout;
    let auth_deadline = conn.accepted + limits.auth_timeout;
    let mut shutdown = shared.shutdown.clone();
    let handler = ConnHandler::new(shared.clone(), conn.clone());

    // The version exchange: a silent client never gets further.
    let running = tokio::select! {
        r = russh::server::run_stream(shared.russh.clone(), stream, handler) => match r {
            Ok(s) => Some(s),
            Err(e) => {
                log::debug!("ssh: {}: {e}", conn.peer);
                None
            }
        },
        _ = sleep_until(handshake_deadline) => {
            log::debug!("ssh: {}: no SSH version within {:?}; closed", conn.peer, limits.handshake_timeout);
            None
        }
        _ = wait_true(&mut shutdown) => None,
    };
    let Some(mut running) = running else {
        finish(&shared, &conn);
        return;
    };

    let handle = running.handle();
    let mut phase = conn.subscribe_phase();
    let check_every =
        (limits.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut idle_check = tokio::time::interval(check_every);
    loop {
        let p = *phase.borrow_and_update();
        tokio::select! {
            r = &mut running => {
                if let Err(e) = r {
                    log::debug!("ssh: {}: {e}", conn.peer);
                }
                break;
            }
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = sleep_until(handshake_deadline), if p == Phase::Handshake => {
                log::info!("ssh: {}: key exchange not done within {:?}; closed", conn.peer, limits.handshake_timeout);
                kill(&conn, &mut running).await;
                break;
            }
            _ = sleep_until(auth_deadline), if p != Phase::Authenticated => {
                log::warn!("ssh: {}: not logged in within {:?}; closed", conn.peer, limits.auth_timeout);
                kill(&conn, &mut running).await;
                break;
            }
            _ = idle_check.tick(), if p == Phase::Authenticated => {
                if conn.idle_for() >= limits.idle_timeout {
                    log::info!("ssh: {}: idle for {:?}; closing", conn.peer, limits.idle_timeout);
                    goodbye(&conn, &handle, &mut running, Closing::Idle).await;
                    break;
                }
            }
            _ = wait_true(&mut shutdown) => {
                if p == Phase::Authenticated {
                    goodbye(&conn, &handle, &mut running, Closing::Shutdown).await;
                } else {
                    kill(&conn, &mut running).await;
                }
                break;
            }
        }
    }
    finish(&shared, &conn);
}

/// Tells the sessions why they close, disconnects, and closes the socket if the client
/// lingers.
async fn goodbye(
    conn: &Conn,
    handle: &russh::server::Handle,
    running: &mut russh::server::RunningSession<ConnHandler>,
    why: Closing,
) {
    conn.close_sessions(why);
    let mut channels = conn.subscribe_channels();
    let _ = timeout(GOODBYE, channels.wait_for(|n| *n == 0)).await;
    // A client whose last session closed goes by itself — also one whose command (say
    // `continue`) finished just before the shutdown. A disconnect sent at once could
    // overtake the session's exit status in the client (OpenSSH then exits 255).
    if timeout(GOODBYE, &mut *running).await.is_ok() {
        return;
    }
    let text = match why {
        Closing::Shutdown => "sesame: the boot continues",
        Closing::Idle => "sesame: idle timeout",
    };
    let _ = timeout(
        GOODBYE,
        handle.disconnect(Disconnect::ByApplication, text.into(), String::new()),
    )
    .await;
    if timeout(GOODBYE / 2, &mut *running).await.is_err() {
        kill(conn, running).await;
    }
}

/// Closes the socket and waits (briefly) for russh to notice.
async fn kill(conn: &Conn, running: &mut russh::server::RunningSession<ConnHandler>) {
    conn.kill();
    let _ = timeout(GOODBYE, running).await;
}

/// Forgets the connection; a source that failed to log in moves towards back-off.
fn finish(shared: &Shared, conn: &Conn) {
    shared.registry.remove(conn.id);
    let refusals = conn.refusals();
    if conn.phase() == Phase::Authenticated {
        log::info!(
            "ssh: {}: logged out after {}s",
            conn.peer,
            conn.accepted.elapsed().as_secs()
        );
        return;
    }
    if refusals == 0 {
        return;
    }
    let source = Source::of(conn.peer.ip());
    let Ok(mut backoff) = shared.backoff.lock() else {
        return;
    };
    let (failures, blocked) = backoff.failed(source, std::time::Instant::now());
    drop(backoff);
    log::warn!(
        "ssh: {}: left without logging in ({refusals} refused attempt{})",
        conn.peer,
        if refusals == 1 { "" } else { "s" }
    );
    if let Some(until) = blocked {
        log::warn!(
            "ssh: {source}: {failures} failed logins; its connections are refused for {}s",
            until
                .saturating_duration_since(std::time::Instant::now())
                .as_secs()
                .max(1)
        );
    }
}
