//! What goes in and out of the DHCP state machine: [`Input`]s (carrier, packets,
//! timer) and [`Action`]s (messages to send, leases to apply or remove, notes for the
//! log).

use std::net::Ipv4Addr;
use std::time::Duration;

use super::lease::Lease;
use super::reply::MessageType;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// The link's carrier (IFF_LOWER_UP) as it is now.
    Carrier(bool),
    /// A UDP payload received on port 68 of this interface.
    Packet(&'a [u8]),
    /// The deadline may have passed (early calls do nothing).
    Timer,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To 255.255.255.255 from `from` (0.0.0.0 until an address is bound).
    Broadcast { from: Ipv4Addr },
    /// To the server, from the bound address (renewal, release).
    Unicast { from: Ipv4Addr, to: Ipv4Addr },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub kind: MessageType,
    pub payload: Vec<u8>,
    pub to: Destination,
    /// 1 for the first try of this exchange.
    pub attempt: u32,
}

/// Why a lease was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    Expired,
    Nak {
        server: Option<Ipv4Addr>,
        message: Option<String>,
    },
}

impl std::fmt::Display for LostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LostReason::Expired => write!(f, "lease expired"),
            LostReason::Nak { server, message } => {
                write!(f, "DHCPNAK")?;
                if let Some(s) = server {
                    write!(f, " from {s}")?;
                }
                if let Some(m) = message {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
        }
    }
}

/// Things worth a log line that change nothing on the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A packet that was not for us or not expected now.
    Ignored(String),
    Offer {
        address: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// A NAK while acquiring (no lease was lost).
    Nak {
        server: Option<Ipv4Addr>,
        message: Option<String>,
    },
    /// Still no answer to `kind`: `tries` messages sent over `waited`.
    NoAnswer {
        kind: MessageType,
        tries: u32,
        waited: Duration,
    },
    /// INIT-REBOOT got no answer: the old lease is used until its timers say otherwise.
    KeptLease {
        address: Ipv4Addr,
    },
    /// A message could not be encoded (a bug); nothing was sent.
    BuildFailed(String),
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Transmit),
    /// A lease to apply, replacing whatever lease was applied before.
    Bound(Lease),
    /// The same address renewed; refresh what changed (times, routes, DNS).
    Renewed(Lease),
    /// Remove this lease's address, routes and DNS.
    Lost {
        lease: Lease,
        reason: LostReason,
    },
    Note(Note),
}
