//! The crate's error type. Failures after [`crate::start`] are not errors of a call:
//! they are logged and sent as `NetEvent::Error`, naming the interface and the step.

/// What went wrong in the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot open a netlink socket: {0} (is this Linux, and is CAP_NET_ADMIN held?)")]
    Open(#[source] std::io::Error),
    #[error("the network task is not running any more")]
    Stopped,
}
