//! sesame-remote owns SSH: the host keys (choosing, generating, fingerprinting),
//! `authorized_keys` and its options, and the russh server `init` runs: public-key logins
//! only, the unlock prompt and the commands a session may run, hardened against floods and
//! guessing. It knows nothing of the network or LUKS: it reads the boot's state from a
//! [`BootView`] watch, sends [`Request`]s, and reads the init's log through [`LogFeed`].
//!
//! ```text
//! let bound = sesame_remote::bind(cfg).await?;          // listening on [::]:port
//! println!("ssh ready on port {}", bound.local_addr().port());
//! bound.run(view, requests, logs, shutdown).await?;     // until shutdown is true
//! ```
//! or `sesame_remote::serve(cfg, view, requests, logs, shutdown)` for both at once.

mod access;
mod algorithms;
pub mod authorized_keys;
mod backoff;
mod boot;
mod channel_io;
pub mod command;
mod config;
mod connection;
pub mod exit_code;
pub mod from_patterns;
mod handler;
pub mod hostkey;
mod kmsg;
pub mod line_editor;
mod listener;
mod logs;
pub mod options;
mod registry;
mod render;
mod repl;
mod server;
mod session;
mod unlock;

pub use boot::{BootView, LogFeed, Request, Stage, UnlockReply, VolumeView};
pub use config::{Limits, RemoteError, ServerConfig};
pub use server::{bind, serve, Bound};
