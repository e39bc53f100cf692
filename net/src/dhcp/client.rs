//! The DHCPv4 client as a pure state machine (RFC 2131 §4.4): inputs are carrier
//! changes, received packets and timer expiry, each with the time (`now`, a `Duration`
//! on the caller's monotonic clock); outputs are [`Action`]s (packets to send, a lease
//! to apply, renew or remove, notes for the log) and one [`Client::deadline`]. The
//! randomness (xids, jitter) comes from an injected RNG. No I/O, no clock, no panics:
//! the socket and netlink side sits in `crate::iface`.
//!
//! States: `Idle` (no carrier; a lease is kept until it expires), `Selecting`
//! (DISCOVER), `Requesting` (REQUEST for an offer), `Bound`, `Renewing` (unicast to the
//! server from T1), `Rebinding` (broadcast from T2), `Rebooting` (INIT-REBOOT: checking
//! a lease after the carrier came back), `Backoff` (a pause after repeated NAKs).

use std::net::Ipv4Addr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use super::actions::{Action, Destination, Input, LostReason, Note, Transmit};
use super::backoff::{reacquire_delay, reacquire_floor, retransmit_delay};
use super::lease::Lease;
use super::reply::MessageType;
use super::request::{build, Identity, Request};

mod replies;

/// Tries of a REQUEST (selecting or INIT-REBOOT) before giving up on it.
const REQUEST_TRIES: u32 = 4;

/// One exchange: the messages sharing an xid.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exchange {
    xid: u32,
    started: Duration,
    sent: u32,
    last_sent: Duration,
    next: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    address: Ipv4Addr,
    server: Ipv4Addr,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Renewing,
    Rebinding,
    Rebooting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle { lease: Option<Lease> },
    Selecting { x: Exchange },
    Requesting { x: Exchange, offer: Offer },
    Bound { lease: Lease },
    Renewing { lease: Lease, x: Exchange },
    Rebinding { lease: Lease, x: Exchange },
    Rebooting { lease: Lease, x: Exchange },
    Backoff { until: Duration },
}

/// The DHCPv4 client of one interface.
#[derive(Debug)]
pub struct Client<R: Rng = SmallRng> {
    id: Identity,
    rng: R,
    state: State,
    carrier: bool,
    naks: u32,
}

impl Client<SmallRng> {
    /// A client whose randomness comes from `seed`.
    pub fn with_seed(id: Identity, seed: u64) -> Self {
        Client::new(id, SmallRng::seed_from_u64(seed))
    }
}

impl<R: Rng> Client<R> {
    /// A client without carrier and without lease.
    pub fn new(id: Identity, rng: R) -> Self {
        Client {
            id,
            rng,
            state: State::Idle { lease: None },
            carrier: false,
            naks: 0,
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.id
    }

    /// The state's name, for logs and status.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Idle { .. } => "idle",
            State::Selecting { .. } => "selecting",
            State::Requesting { .. } => "requesting",
            State::Bound { .. } => "bound",
            State::Renewing { .. } => "renewing",
            State::Rebinding { .. } => "rebinding",
            State::Rebooting { .. } => "rebooting",
            State::Backoff { .. } => "backoff",
        }
    }

    /// The lease held now (possibly being renewed or checked).
    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Idle { lease } => lease.as_ref(),
            State::Bound { lease }
            | State::Renewing { lease, .. }
            | State::Rebinding { lease, .. }
            | State::Rebooting { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// The xid replies must carry now, if a reply is awaited.
    pub fn xid(&self) -> Option<u32> {
        match &self.state {
            State::Selecting { x }
            | State::Requesting { x, .. }
            | State::Renewing { x, .. }
            | State::Rebinding { x, .. }
            | State::Rebooting { x, .. } => Some(x.xid),
            _ => None,
        }
    }

    /// When to call [`Client::handle`] with [`Input::Timer`] next; `None`: only on
    /// another input.
    pub fn deadline(&self) -> Option<Duration> {
        match &self.state {
            State::Idle { lease } => lease.as_ref().and_then(Lease::expires_at),
            State::Bound { lease } => lease.renew_at(),
            State::Selecting { x }
            | State::Requesting { x, .. }
            | State::Renewing { x, .. }
            | State::Rebinding { x, .. }
            | State::Rebooting { x, .. } => Some(x.next),
            State::Backoff { until } => Some(*until),
        }
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Duration, input: Input<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Carrier(up) => self.on_carrier(now, up, &mut out),
            Input::Packet(bytes) => self.on_packet(now, bytes, &mut out),
            Input::Timer => {
                if self.deadline().is_some_and(|d| now >= d) {
                    self.on_timer(now, &mut out);
                }
            }
        }
        out
    }

    /// Gives the lease back (DHCPRELEASE, RFC 2131 §4.4.6) and forgets it. Returns the
    /// message to send, if a lease was held.
    pub fn release(&mut self) -> Option<Transmit> {
        let lease = self.lease()?.clone();
        self.state = State::Idle { lease: None };
        let req = Request {
            kind: MessageType::Release,
            xid: self.rng.random(),
            secs: 0,
            ciaddr: lease.address,
            requested: None,
            server_id: Some(lease.server),
        };
        build(&self.id, &req).ok().map(|payload| Transmit {
            kind: MessageType::Release,
            payload,
            to: Destination::Unicast {
                from: lease.address,
                to: lease.server,
            },
            attempt: 1,
        })
    }

    fn on_carrier(&mut self, now: Duration, up: bool, out: &mut Vec<Action>) {
        if up == self.carrier {
            return;
        }
        self.carrier = up;
        let state = std::mem::replace(&mut self.state, State::Idle { lease: None });
        if !up {
            self.state = State::Idle {
                lease: match state {
                    State::Idle { lease } => lease,
                    State::Bound { lease }
                    | State::Renewing { lease, .. }
                    | State::Rebinding { lease, .. }
                    | State::Rebooting { lease, .. } => Some(lease),
                    _ => None,
                },
            };
            return;
        }
        match state {
            State::Idle { lease: Some(lease) } => {
                if lease.expires_at().is_some_and(|e| now >= e) {
                    out.push(Action::Lost {
                        lease,
                        reason: LostReason::Expired,
                    });
                    self.start_selecting(now, out);
                } else {
                    self.start_rebooting(now, lease, out);
                }
            }
            State::Idle { lease: None } => self.start_selecting(now, out),
            other => self.state = other,
        }
    }

    fn new_exchange(&mut self, now: Duration) -> Exchange {
        Exchange {
            xid: self.rng.random(),
            started: now,
            sent: 0,
            last_sent: now,
            next: now,
        }
    }

    fn start_selecting(&mut self, now: Duration, out: &mut Vec<Action>) {
        let mut x = self.new_exchange(now);
        self.send(now, &mut x, MessageType::Discover, None, out);
        x.next = now + retransmit_delay(x.sent, &mut self.rng);
        self.state = State::Selecting { x };
    }

    fn start_rebooting(&mut self, now: Duration, lease: Lease, out: &mut Vec<Action>) {
        let mut x = self.new_exchange(now);
        self.send_rebooting(now, &mut x, &lease, out);
        self.state = State::Rebooting { lease, x };
    }

    fn send_rebooting(
        &mut self,
        now: Duration,
        x: &mut Exchange,
        lease: &Lease,
        out: &mut Vec<Action>,
    ) {
        let req = Request {
            kind: MessageType::Request,
            xid: x.xid,
            secs: secs(now, x.started),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: Some(lease.address),
            server_id: None,
        };
        self.push_send(
            x,
            req,
            Destination::Broadcast {
                from: Ipv4Addr::UNSPECIFIED,
            },
            now,
            out,
        );
        x.next = now + retransmit_delay(x.sent, &mut self.rng);
        if let Some(e) = lease.expires_at() {
            x.next = x.next.min(e);
        }
    }

    /// Sends a DISCOVER or a selecting REQUEST (for `offer`).
    fn send(
        &mut self,
        now: Duration,
        x: &mut Exchange,
        kind: MessageType,
        offer: Option<&Offer>,
        out: &mut Vec<Action>,
    ) {
        let req = Request {
            kind,
            xid: x.xid,
            secs: secs(now, x.started),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: offer.map(|o| o.address),
            server_id: offer.map(|o| o.server),
        };
        self.push_send(
            x,
            req,
            Destination::Broadcast {
                from: Ipv4Addr::UNSPECIFIED,
            },
            now,
            out,
        );
    }

    fn push_send(
        &mut self,
        x: &mut Exchange,
        req: Request,
        to: Destination,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        x.sent += 1;
        x.last_sent = now;
        match build(&self.id, &req) {
            Ok(payload) => out.push(Action::Send(Transmit {
                kind: req.kind,
                payload,
                to,
                attempt: x.sent,
            })),
            Err(e) => out.push(Action::Note(Note::BuildFailed(e))),
        }
    }

    /// Renewing (unicast) or rebinding (broadcast) REQUEST for `lease`.
    fn send_reacquire(
        &mut self,
        now: Duration,
        x: &mut Exchange,
        lease: &Lease,
        rebinding: bool,
        out: &mut Vec<Action>,
    ) {
        let req = Request {
            kind: MessageType::Request,
            xid: x.xid,
            secs: secs(now, x.started),
            ciaddr: lease.address,
            requested: None,
            server_id: None,
        };
        let to = if rebinding {
            Destination::Broadcast {
                from: lease.address,
            }
        } else {
            Destination::Unicast {
                from: lease.address,
                to: lease.server,
            }
        };
        self.push_send(x, req, to, now, out);
        let until = if rebinding {
            lease.expires_at()
        } else {
            lease.rebind_at()
        };
        let floor = reacquire_floor(lease.times.lease_secs);
        x.next = match until {
            Some(u) => now + reacquire_delay(now, u, floor),
            None => now + floor,
        };
    }

    fn enter_renewing(&mut self, now: Duration, lease: Lease, out: &mut Vec<Action>) {
        let mut x = self.new_exchange(now);
        self.send_reacquire(now, &mut x, &lease, false, out);
        self.state = State::Renewing { lease, x };
    }

    fn enter_rebinding(&mut self, now: Duration, lease: Lease, out: &mut Vec<Action>) {
        let mut x = self.new_exchange(now);
        self.send_reacquire(now, &mut x, &lease, true, out);
        self.state = State::Rebinding { lease, x };
    }

    /// Puts a held lease in the state its timers call for at `now`.
    fn resume(&mut self, now: Duration, lease: Lease, out: &mut Vec<Action>) {
        let past = |t: Option<Duration>| t.is_some_and(|t| now >= t);
        if past(lease.expires_at()) {
            out.push(Action::Lost {
                lease,
                reason: LostReason::Expired,
            });
            self.start_selecting(now, out);
        } else if past(lease.rebind_at()) {
            self.enter_rebinding(now, lease, out);
        } else if past(lease.renew_at()) {
            self.enter_renewing(now, lease, out);
        } else {
            self.state = State::Bound { lease };
        }
    }

    fn on_timer(&mut self, now: Duration, out: &mut Vec<Action>) {
        let state = std::mem::replace(&mut self.state, State::Idle { lease: None });
        match state {
            State::Idle { lease: Some(lease) } => {
                // Expired without carrier.
                out.push(Action::Lost {
                    lease,
                    reason: LostReason::Expired,
                });
                self.state = State::Idle { lease: None };
            }
            State::Idle { lease: None } => {}
            State::Selecting { mut x } => {
                self.send(now, &mut x, MessageType::Discover, None, out);
                if x.sent == 3 || x.sent == 6 || x.sent % 10 == 0 {
                    out.push(Action::Note(Note::NoAnswer {
                        kind: MessageType::Discover,
                        tries: x.sent,
                        waited: now.saturating_sub(x.started),
                    }));
                }
                x.next = now + retransmit_delay(x.sent, &mut self.rng);
                self.state = State::Selecting { x };
            }
            State::Requesting { mut x, offer } => {
                if x.sent >= REQUEST_TRIES {
                    out.push(Action::Note(Note::NoAnswer {
                        kind: MessageType::Request,
                        tries: x.sent,
                        waited: now.saturating_sub(x.started),
                    }));
                    self.start_selecting(now, out);
                } else {
                    self.send(now, &mut x, MessageType::Request, Some(&offer), out);
                    x.next = now + retransmit_delay(x.sent, &mut self.rng);
                    self.state = State::Requesting { x, offer };
                }
            }
            State::Bound { lease } => self.resume(now, lease, out),
            State::Renewing { lease, mut x } => {
                let past = |t: Option<Duration>| t.is_some_and(|t| now >= t);
                if past(lease.rebind_at()) || past(lease.expires_at()) {
                    self.resume(now, lease, out);
                } else {
                    self.send_reacquire(now, &mut x, &lease, false, out);
                    self.state = State::Renewing { lease, x };
                }
            }
            State::Rebinding { lease, mut x } => {
                if lease.expires_at().is_some_and(|e| now >= e) {
                    self.resume(now, lease, out);
                } else {
                    self.send_reacquire(now, &mut x, &lease, true, out);
                    self.state = State::Rebinding { lease, x };
                }
            }
            State::Rebooting { lease, mut x } => {
                if lease.expires_at().is_some_and(|e| now >= e) {
                    self.resume(now, lease, out);
                } else if x.sent >= REQUEST_TRIES {
                    out.push(Action::Note(Note::KeptLease {
                        address: lease.address,
                    }));
                    self.resume(now, lease, out);
                } else {
                    self.send_rebooting(now, &mut x, &lease, out);
                    self.state = State::Rebooting { lease, x };
                }
            }
            State::Backoff { .. } => self.start_selecting(now, out),
        }
    }
}

fn secs(now: Duration, started: Duration) -> u16 {
    u16::try_from(now.saturating_sub(started).as_secs()).unwrap_or(u16::MAX)
}
