//! The DHCPv4 client, pure: reading server messages ([`reply`], [`options`]), what a
//! lease holds ([`lease`], [`routes`], [`search`]), building the client's messages
//! ([`request`]), retransmission timing ([`backoff`]) and the state machine that ties
//! them ([`client`], its inputs and outputs in [`actions`]). Sockets and netlink live elsewhere (`crate::iface`).

pub mod actions;
pub mod backoff;
pub mod client;
pub mod lease;
pub mod options;
pub mod reply;
pub mod request;
pub mod routes;
pub mod search;
#[cfg(test)]
mod tests;

pub use client::{Action, Client, Destination, Input, LostReason, Note, Transmit};
pub use lease::{Lease, LeaseTimes};
pub use reply::MessageType;
pub use request::Identity;
pub use routes::Route;
