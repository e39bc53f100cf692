//! The state machine's answers to server messages: OFFER while selecting, ACK and NAK
//! while requesting, renewing, rebinding or rebooting; anything else is ignored with
//! the reason.

use std::time::Duration;

use rand::Rng;

use super::{Action, Client, Exchange, LostReason, Note, Offer, Phase, State};
use crate::dhcp::backoff::{nak_delay, retransmit_delay};
use crate::dhcp::lease::Lease;
use crate::dhcp::options::MESSAGE;
use crate::dhcp::reply::{parse_reply, MessageType, Reply};

impl<R: Rng> Client<R> {
    pub(super) fn on_packet(&mut self, now: Duration, bytes: &[u8], out: &mut Vec<Action>) {
        let ignore =
            |out: &mut Vec<Action>, why: String| out.push(Action::Note(Note::Ignored(why)));
        let reply = match parse_reply(bytes) {
            Ok(r) => r,
            Err(e) => return ignore(out, format!("not a DHCP reply: {e}")),
        };
        if reply.chaddr != self.id.mac {
            return ignore(out, format!("{} for another client", reply.kind));
        }
        let Some(xid) = self.xid() else {
            return ignore(out, format!("{} while not waiting for one", reply.kind));
        };
        if reply.xid != xid {
            return ignore(out, format!("{} with another xid", reply.kind));
        }
        let state = std::mem::replace(&mut self.state, State::Idle { lease: None });
        self.state = match (state, reply.kind) {
            (State::Selecting { x }, MessageType::Offer) => match Lease::from_reply(&reply, now) {
                Ok(l) => {
                    let offer = Offer {
                        address: l.address,
                        server: l.server,
                    };
                    out.push(Action::Note(Note::Offer {
                        address: offer.address,
                        server: offer.server,
                    }));
                    let mut x = Exchange { sent: 0, ..x };
                    self.send(now, &mut x, MessageType::Request, Some(&offer), out);
                    x.next = now + retransmit_delay(x.sent, &mut self.rng);
                    State::Requesting { x, offer }
                }
                Err(e) => {
                    ignore(out, format!("DHCPOFFER: {e}"));
                    State::Selecting { x }
                }
            },
            (State::Requesting { x, offer }, MessageType::Ack) => {
                if reply.server_id.is_some_and(|s| s != offer.server) {
                    ignore(out, "DHCPACK from a server not selected".into());
                    State::Requesting { x, offer }
                } else {
                    match Lease::from_reply(&reply, x.last_sent) {
                        Ok(lease) => self.bound(lease, None, out),
                        Err(e) => {
                            ignore(out, format!("DHCPACK: {e}"));
                            State::Requesting { x, offer }
                        }
                    }
                }
            }
            (State::Requesting { x, offer }, MessageType::Nak) => {
                if reply.server_id.is_some_and(|s| s != offer.server) {
                    ignore(out, "DHCPNAK from a server not selected".into());
                    State::Requesting { x, offer }
                } else {
                    out.push(Action::Note(Note::Nak {
                        server: reply.server_id,
                        message: nak_message(&reply),
                    }));
                    self.after_nak(now, out)
                }
            }
            (State::Renewing { lease, x }, MessageType::Ack) => {
                self.reacquire_ack(&reply, lease, x, Phase::Renewing, out)
            }
            (State::Rebinding { lease, x }, MessageType::Ack) => {
                self.reacquire_ack(&reply, lease, x, Phase::Rebinding, out)
            }
            (State::Rebooting { lease, x }, MessageType::Ack) => {
                self.reacquire_ack(&reply, lease, x, Phase::Rebooting, out)
            }
            (
                State::Renewing { lease, .. }
                | State::Rebinding { lease, .. }
                | State::Rebooting { lease, .. },
                MessageType::Nak,
            ) => {
                out.push(Action::Lost {
                    lease,
                    reason: LostReason::Nak {
                        server: reply.server_id,
                        message: nak_message(&reply),
                    },
                });
                self.after_nak(now, out)
            }
            (state, kind) => {
                ignore(out, format!("{kind} not expected now"));
                state
            }
        };
    }

    /// An ACK while renewing, rebinding or checking a lease after a carrier loss.
    fn reacquire_ack(
        &mut self,
        reply: &Reply,
        lease: Lease,
        x: Exchange,
        phase: Phase,
        out: &mut Vec<Action>,
    ) -> State {
        match Lease::from_reply(reply, x.last_sent) {
            Ok(new) => self.bound(new, Some(&lease), out),
            Err(e) => {
                out.push(Action::Note(Note::Ignored(format!("DHCPACK: {e}"))));
                match phase {
                    Phase::Renewing => State::Renewing { lease, x },
                    Phase::Rebinding => State::Rebinding { lease, x },
                    Phase::Rebooting => State::Rebooting { lease, x },
                }
            }
        }
    }

    fn bound(&mut self, lease: Lease, old: Option<&Lease>, out: &mut Vec<Action>) -> State {
        self.naks = 0;
        match old {
            Some(o) if o.same_address(&lease) => out.push(Action::Renewed(lease.clone())),
            _ => out.push(Action::Bound(lease.clone())),
        }
        State::Bound { lease }
    }

    fn after_nak(&mut self, now: Duration, out: &mut Vec<Action>) -> State {
        self.naks = self.naks.saturating_add(1);
        let wait = nak_delay(self.naks, &mut self.rng);
        if wait.is_zero() {
            self.start_selecting(now, out);
            std::mem::replace(&mut self.state, State::Idle { lease: None })
        } else {
            State::Backoff { until: now + wait }
        }
    }
}

fn nak_message(reply: &Reply) -> Option<String> {
    reply
        .options
        .text(MESSAGE)
        .map(|m| m.chars().filter(|c| !c.is_control()).take(200).collect())
}
