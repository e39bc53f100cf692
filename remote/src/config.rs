//! What init hands the server ([`ServerConfig`], [`Limits`] with their defaults) and the
//! server's errors ([`RemoteError`]).

use std::time::Duration;

use crate::authorized_keys::AuthorizedKey;
use crate::hostkey::HostKey;

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TCP port; 0 lets the kernel choose (see [`crate::Bound::local_addr`]).
    pub port: u16,
    pub host_key: HostKey,
    /// Who may log in. Lines whose options are malformed are refused (and logged) when the
    /// server starts, as OpenSSH refuses them.
    pub authorized_keys: Vec<AuthorizedKey>,
    /// Shown in the banner and `status` when the boot's view has no host name yet.
    pub hostname: String,
    pub limits: Limits,
}

/// The server's limits. The defaults suit an initramfs on the internet: an operator gets
/// in within seconds even while someone floods the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// From TCP accept to the end of the key exchange. Default 10 s.
    pub handshake_timeout: Duration,
    /// From TCP accept to a successful login (OpenSSH's LoginGraceTime). Default 30 s.
    pub auth_timeout: Duration,
    /// Connections not logged in yet. When full, a new connection pushes out the oldest
    /// one still in its handshake (a port scanner, a silent flood); if every one is past
    /// its handshake, the new connection is closed. Default 32.
    pub max_unauthenticated: usize,
    /// Logged-in connections. One more is told "too many sessions" and disconnected.
    /// Default 8.
    pub max_sessions: usize,
    /// A logged-in connection with no traffic for this long is closed (with a message to
    /// its sessions). Default 15 min.
    pub idle_timeout: Duration,
    /// Failed logins from one source (IPv4 address, IPv6 /64) before its connections are
    /// refused for a while. Default 5.
    pub auth_failures_before_backoff: u32,
    /// The first refusal period; it doubles with each further failure, up to 5 minutes.
    /// Zero disables back-off. Default 10 s. A source is forgotten after 10 quiet minutes
    /// or a successful login.
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(30),
            max_unauthenticated: 32,
            max_sessions: 8,
            idle_timeout: Duration::from_secs(15 * 60),
            auth_failures_before_backoff: 5,
            backoff: Duration::from_secs(10),
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("the host key ({algorithm}) cannot serve SSH: {reason}")]
    HostKey { algorithm: String, reason: String },
}
