//! The open connections: each one's phase (handshake, authentication, logged in), last
//! activity, open session channels and a way to close it from outside (a duplicate of its
//! socket, shut down to kill it wherever russh is blocked). The admission policy — who gets
//! a slot when unauthenticated connections are at their cap — is a pure function.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;

/// How far a connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP accepted; SSH version and key exchange under way.
    Handshake,
    /// Key exchange done, not logged in yet.
    Auth,
    /// Logged in.
    Authenticated,
}

/// Why the server closes a logged-in connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The boot continues (switch_root): the server stops.
    Shutdown,
    /// No traffic for the idle timeout.
    Idle,
}

/// One connection.
#[derive(Debug)]
pub struct Conn {
    pub id: u64,
    pub peer: SocketAddr,
    pub accepted: Instant,
    phase: watch::Sender<Phase>,
    closing: watch::Sender<Option<Closing>>,
    channels: watch::Sender<usize>,
    last_activity: Mutex<Instant>,
    refused: AtomicU32,
    killer: Option<TcpStream>,
}

impl Conn {
    fn new(id: u64, peer: SocketAddr, killer: Option<TcpStream>) -> Self {
        let now = Instant::now();
        Conn {
            id,
            peer,
            accepted: now,
            phase: watch::channel(Phase::Handshake).0,
            closing: watch::channel(None).0,
            channels: watch::channel(0).0,
            last_activity: Mutex::new(now),
            refused: AtomicU32::new(0),
            killer,
        }
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub fn subscribe_phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// The key exchange is done.
    pub fn handshake_done(&self) {
        self.phase.send_if_modified(|p| {
            let changed = *p == Phase::Handshake;
            if changed {
                *p = Phase::Auth;
            }
            changed
        });
    }

    /// Closes the TCP connection under russh's feet.
    pub fn kill(&self) {
        if let Some(k) = &self.killer {
            let _ = k.shutdown(Shutdown::Both);
        }
    }

    /// Asks the sessions to say why they close.
    pub fn close_sessions(&self, why: Closing) {
        self.closing.send_if_modified(|c| {
            let changed = c.is_none();
            if changed {
                *c = Some(why);
            }
            changed
        });
    }

    pub fn subscribe_closing(&self) -> watch::Receiver<Option<Closing>> {
        self.closing.subscribe()
    }

    /// Something happened on a session: the connection is not idle.
    pub fn touch(&self) {
        if let Ok(mut t) = self.last_activity.lock() {
            *t = Instant::now();
        }
    }

    pub fn idle_for(&self) -> std::time::Duration {
        self.last_activity
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// A refused authentication attempt (counted towards the source's back-off).
    pub fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refusals(&self) -> u32 {
        self.refused.load(Ordering::Relaxed)
    }

    /// A session channel started; it counts until the guard is dropped.
    pub fn channel_started(self: &Arc<Self>) -> ChannelGuard {
        self.channels.send_modify(|n| *n += 1);
        ChannelGuard(self.clone())
    }

    pub fn subscribe_channels(&self) -> watch::Receiver<usize> {
        self.channels.subscribe()
    }
}

/// Counts a running session channel.
#[derive(Debug)]
pub struct ChannelGuard(Arc<Conn>);

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        self.0.channels.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// What to do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Admit,
    /// Admit it and close this one (the oldest still in its handshake).
    Evict(u64),
    Refuse,
}

/// The admission policy. `conns` are the open connections (id, phase, accepted).
pub fn decide(conns: &[(u64, Phase, Instant)], max_unauthenticated: usize) -> Decision {
    let unauthenticated = conns
        .iter()
        .filter(|(_, p, _)| *p != Phase::Authenticated)
        .count();
    if unauthenticated < max_unauthenticated.max(1) {
        return Decision::Admit;
    }
    conns
        .iter()
        .filter(|(_, p, _)| *p == Phase::Handshake)
        .min_by_key(|(id, _, at)| (*at, *id))
        .map_or(Decision::Refuse, |(id, _, _)| Decision::Evict(*id))
}

/// The outcome of [`Registry::admit`].
pub enum Admission {
    Admitted {
        conn: Arc<Conn>,
        evicted: Option<Arc<Conn>>,
    },
    Full,
}

/// Logged in already at the cap.
#[derive(Debug)]
pub struct TooMany(pub usize);

#[derive(Debug)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    max_unauthenticated: usize,
    max_sessions: usize,
}

impl Registry {
    pub fn new(max_unauthenticated: usize, max_sessions: usize) -> Self {
        Registry {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            max_unauthenticated,
            max_sessions: max_sessions.max(1),
        }
    }

    /// Makes room for a new connection, or not.
    pub fn admit(&self, peer: SocketAddr, killer: Option<TcpStream>) -> Admission {
        let Ok(mut conns) = self.conns.lock() else {
            return Admission::Full;
        };
        let view: Vec<(u64, Phase, Instant)> = conns
            .values()
            .map(|c| (c.id, c.phase(), c.accepted))
            .collect();
        let evicted = match decide(&view, self.max_unauthenticated) {
            Decision::Admit => None,
            Decision::Evict(id) => conns.remove(&id),
            Decision::Refuse => return Admission::Full,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(id, peer, killer));
        conns.insert(id, conn.clone());
        Admission::Admitted { conn, evicted }
    }

    /// Marks `conn` logged in, unless that would exceed the session cap.
    pub fn promote(&self, conn: &Conn) -> Result<(), TooMany> {
        let Ok(conns) = self.conns.lock() else {
            return Err(TooMany(0));
        };
        let logged_in = conns
            .values()
            .filter(|c| c.id != conn.id && c.phase() == Phase::Authenticated)
            .count();
        if logged_in >= self.max_sessions {
            return Err(TooMany(logged_in));
        }
        conn.phase.send_replace(Phase::Authenticated);
        Ok(())
    }

    pub fn remove(&self, id: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&id);
        }
    }

    pub fn all(&self) -> Vec<Arc<Conn>> {
        self.conns
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn policy() {
        let t = Instant::now();
        let s = |n: u64| t + Duration::from_secs(n);
        assert_eq!(decide(&[], 2), Decision::Admit);
        let conns = [(1, Phase::Handshake, s(0)), (2, Phase::Auth, s(1))];
        assert_eq!(decide(&conns, 3), Decision::Admit);
        assert_eq!(decide(&conns, 2), Decision::Evict(1));
        let conns = [
            (1, Phase::Auth, s(0)),
            (2, Phase::Handshake, s(5)),
            (3, Phase::Handshake, s(2)),
        ];
        assert_eq!(
            decide(&conns, 3),
            Decision::Evict(3),
            "the oldest handshake goes"
        );
        let conns = [(1, Phase::Auth, s(0)), (2, Phase::Auth, s(1))];
        assert_eq!(
            decide(&conns, 2),
            Decision::Refuse,
            "connections past their handshake stay"
        );
        let conns = [
            (1, Phase::Authenticated, s(0)),
            (2, Phase::Authenticated, s(1)),
        ];
        assert_eq!(
            decide(&conns, 1),
            Decision::Admit,
            "logged-in sessions do not count"
        );
    }

    #[tokio::test]
    async fn admit_evicts_and_promote_caps() {
        let r = Registry::new(2, 1);
        let a = match r.admit(addr(), None) {
            Admission::Admitted {
                conn,
                evicted: None,
            } => conn,
            _ => panic!(),
        };
        let b = match r.admit(addr(), None) {
            Admission::Admitted {
                conn,
                evicted: None,
            } => conn,
            _ => panic!(),
        };
        b.handshake_done();
        let c = match r.admit(addr(), None) {
            Admission::Admitted {
                conn,
                evicted: Some(v),
            } => {
                assert_eq!(v.id, a.id);
                conn
            }
            _ => panic!(),
        };
        c.handshake_done();
        assert!(matches!(r.admit(addr(), None), Admission::Full));
        r.promote(&b).unwrap();
        assert!(r.promote(&c).is_err(), "one session at most");
        r.remove(b.id);
        r.promote(&c).unwrap();
        assert_eq!(r.all().len(), 1);
    }

    #[tokio::test]
    async fn channel_guards_count() {
        let r = Registry::new(2, 1);
        let Admission::Admitted { conn, .. } = r.admit(addr(), None) else {
            panic!()
        };
        let rx = conn.subscribe_channels();
        let g1 = conn.channel_started();
        let g2 = conn.channel_started();
        assert_eq!(*rx.borrow(), 2);
        drop((g1, g2));
        assert_eq!(*rx.borrow(), 0);
    }
}
