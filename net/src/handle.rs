//! Starting the network ([`start`]) and the handle `init` keeps ([`NetHandle`]): the
//! status watch and the teardown before switch_root.

use std::path::PathBuf;

use rtnetlink::MulticastGroup;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::NetConfig;
use crate::error::NetError;
use crate::event::NetEvent;
use crate::manager::{Cmd, Manager};
use crate::resolv::write_atomic;
use crate::status::NetStatus;

/// What the teardown did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeardownReport {
    pub addresses_removed: usize,
    pub routes_removed: usize,
    pub links_down: Vec<String>,
}

/// The running network.
pub struct NetHandle {
    cmds: mpsc::UnboundedSender<Cmd>,
    status: watch::Receiver<NetStatus>,
    tasks: Vec<JoinHandle<()>>,
}

/// Opens netlink and starts the background tasks; returns at once (never waits for a
/// link, a carrier or a lease: the console prompt must never wait on the network).
pub async fn start(
    cfg: NetConfig,
) -> Result<(NetHandle, mpsc::UnboundedReceiver<NetEvent>), NetError> {
    let (conn, handle, messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])
    .map_err(NetError::Open)?;
    let conn = tokio::spawn(conn);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = watch::channel(NetStatus::default());
    let (resolv_tx, resolv_rx) = watch::channel(None);
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (cmds_tx, cmds_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_resolv(
        cfg.resolv_conf.clone(),
        resolv_rx,
        events_tx.clone(),
    ));
    let manager = Manager::new(cfg, handle, events_tx, status_tx, resolv_tx, reports_tx);
    let manager = tokio::spawn(manager.run(messages, reports_rx, cmds_rx));
    Ok((
        NetHandle {
            cmds: cmds_tx,
            status: status_rx,
            tasks: vec![manager, writer, conn],
        },
        events_rx,
    ))
}

/// Writes resolv.conf each time its content changes, one write at a time, off the
/// runtime thread.
async fn write_resolv(
    path: PathBuf,
    mut rx: watch::Receiver<Option<String>>,
    events: mpsc::UnboundedSender<NetEvent>,
) {
    while rx.changed().await.is_ok() {
        let Some(content) = rx.borrow_and_update().clone() else {
            continue;
        };
        let p = path.clone();
        let servers = content
            .lines()
            .filter(|l| l.starts_with("nameserver "))
            .count();
        let r = tokio::task::spawn_blocking(move || write_atomic(&p, &content)).await;
        match r {
            Ok(Ok(())) => log::info!("net: {} written ({servers} name servers)", path.display()),
            Ok(Err(e)) => {
                let message = format!("writing {}: {e}", path.display());
                log::error!("net: {message}");
                let _ = events.send(NetEvent::Error {
                    iface: None,
                    message,
                });
            }
            Err(e) => log::error!("net: writing {}: {e}", path.display()),
        }
    }
}

impl NetHandle {
    /// The network's status, kept current.
    pub fn status(&self) -> watch::Receiver<NetStatus> {
        self.status.clone()
    }

    /// Before switch_root. Stops the DHCP clients; unless `keep`, removes the addresses
    /// and routes sesame added and sets the links it brought up down (lo stays up), so
    /// the real system's network manager starts clean; writes nothing else. Returns
    /// what it did.
    pub async fn shutdown(self, keep: bool) -> Result<TeardownReport, NetError> {
        let (done, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Shutdown { keep, done })
            .map_err(|_| NetError::Stopped)?;
        let report = rx.await.map_err(|_| NetError::Stopped);
        // The manager has returned; stop the resolv.conf writer and the netlink socket.
        for t in &self.tasks {
            t.abort();
        }
        report
    }
}
