//! The DHCP client of one interface at work: the thin layer around the pure state
//! machine (`crate::dhcp::Client`). It owns the interface's sockets, feeds the machine
//! packets, carrier changes and timer expiry on the monotonic clock, sends what it
//! says, applies and removes leases over netlink, logs each step and reports leases
//! to the manager (status, resolv.conf) and events to `init`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rtnetlink::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::apply::{Applied, Removed, Target};
use crate::clock::monotonic;
use crate::dhcp::request::Identity;
use crate::dhcp::{Action, Client, Destination, Lease, MessageType, Note, Transmit};
use crate::event::NetEvent;
use crate::netlink::route::Origin;
use crate::rawsock::{udp_socket, PacketSocket};
use crate::select::DhcpParams;
use crate::wire;

/// From the manager to a DHCP task.
#[derive(Debug)]
pub enum Ctl {
    Carrier(bool),
    Renamed(String),
    /// Stop; unless `keep`, release the lease and remove what was applied.
    Stop {
        keep: bool,
        done: oneshot::Sender<Removed>,
    },
}

/// From a DHCP task to the manager.
#[derive(Debug)]
pub enum Report {
    Lease { index: u32, lease: Option<Lease> },
}

/// A running DHCP task.
pub struct DhcpTask {
    pub ctl: mpsc::UnboundedSender<Ctl>,
    pub join: JoinHandle<()>,
}

/// What a DHCP task needs.
pub struct Setup {
    pub index: u32,
    pub name: String,
    pub mac: [u8; 6],
    pub mtu: Option<u32>,
    pub params: DhcpParams,
    pub handle: Handle,
    pub events: mpsc::UnboundedSender<NetEvent>,
    pub reports: mpsc::UnboundedSender<Report>,
}

/// Starts the DHCP client of one interface.
pub fn spawn(setup: Setup) -> DhcpTask {
    let (ctl, rx) = mpsc::unbounded_channel();
    let join = tokio::spawn(run(setup, rx));
    DhcpTask { ctl, join }
}

/// A seed for the xids and jitter that never blocks: getrandom(GRND_INSECURE) (the
/// kernel's CRNG may not be ready this early), mixed with the MAC and the clock.
fn seed(mac: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: `b` is valid for 8 bytes.
    let _ = unsafe {
        libc::getrandom(
            b.as_mut_ptr().cast(),
            b.len(),
            libc::GRND_INSECURE | libc::GRND_NONBLOCK,
        )
    };
    let mut m = [0u8; 8];
    m[..6].copy_from_slice(&mac);
    u64::from_ne_bytes(b) ^ u64::from_ne_bytes(m).rotate_left(17) ^ monotonic().as_nanos() as u64
}

fn identity(s: &Setup) -> Identity {
    let mut id = Identity::for_mac(s.mac, s.params.hostname.clone());
    if let Some(c) = &s.params.client_id {
        let mut v = vec![c.kind];
        v.extend_from_slice(c.value.as_bytes());
        if v.len() <= 255 {
            id.client_id = v;
        }
    }
    if let Some(m) = s.mtu {
        id.max_message_size = u16::try_from(m).unwrap_or(u16::MAX).max(576);
    }
    id
}

struct Driver {
    s: Setup,
    client: Client,
    sock: PacketSocket,
    udp: Option<tokio::net::UdpSocket>,
    applied: Applied,
    carrier_at: Option<Duration>,
}

async fn run(s: Setup, mut rx: mpsc::UnboundedReceiver<Ctl>) {
    let sock = match PacketSocket::open(s.index) {
        Ok(sock) => sock,
        Err(e) => {
            let message = format!("{}: cannot open a packet socket for DHCP: {e}", s.name);
            log::error!("net: {message}");
            let _ = s.events.send(NetEvent::Error {
                iface: Some(s.name.clone()),
                message,
            });
            // Nothing to do but wait for the stop.
            while let Some(c) = rx.recv().await {
                if let Ctl::Stop { done, .. } = c {
                    let _ = done.send(Removed::default());
                    return;
                }
            }
            return;
        }
    };
    let udp = match udp_socket(s.index) {
        Ok(u) => Some(u),
        Err(e) => {
            log::warn!(
                "net: {}: no UDP socket on port 68 ({e}); renewals will be broadcast",
                s.name
            );
            None
        }
    };
    let client = Client::with_seed(identity(&s), seed(s.mac));
    let mut d = Driver {
        applied: Applied::new(s.index, &s.name, s.mtu),
        s,
        client,
        sock,
        udp,
        carrier_at: None,
    };
    let mut buf = vec![0u8; 16384];
    let mut ubuf = vec![0u8; 2048];
    loop {
        let sleep = d.client.deadline().map(|t| t.saturating_sub(monotonic()));
        let actions = tokio::select! {
            r = d.sock.recv(&mut buf) => match r {
                Ok(meta) => d.received(&buf[..meta.len], meta.csum_not_ready, meta.outgoing),
                Err(e) => {
                    log::warn!("net: {}: receiving: {e}", d.s.name);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Vec::new()
                }
            },
            _ = async {
                match sleep {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            } => d.client.handle(monotonic(), crate::dhcp::Input::Timer),
            _ = async {
                match &d.udp {
                    Some(u) => u.recv_from(&mut ubuf).await.map(drop),
                    None => std::future::pending().await,
                }
            } => Vec::new(),
            c = rx.recv() => match c {
                Some(Ctl::Carrier(up)) => {
                    let now = monotonic();
                    if up {
                        d.carrier_at = Some(now);
                    }
                    d.client.handle(now, crate::dhcp::Input::Carrier(up))
                }
                Some(Ctl::Renamed(n)) => {
                    d.applied.iface = n.clone();
                    d.s.name = n;
                    Vec::new()
                }
                Some(Ctl::Stop { keep, done }) => {
                    let removed = d.stop(keep).await;
                    let _ = done.send(removed);
                    return;
                }
                None => return,
            },
        };
        d.perform(actions).await;
    }
}

impl Driver {
    fn received(&mut self, packet: &[u8], csum_not_ready: bool, outgoing: bool) -> Vec<Action> {
        if outgoing {
            return Vec::new();
        }
        match wire::parse_udp(packet, !csum_not_ready) {
            Ok(u) if u.sport == 67 && u.dport == 68 => self
                .client
                .handle(monotonic(), crate::dhcp::Input::Packet(u.payload)),
            Ok(_) => Vec::new(),
            Err(e) => {
                log::debug!("net: {}: dropped a packet to port 68: {e}", self.s.name);
                Vec::new()
            }
        }
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(t) => self.send(&t).await,
                Action::Bound(lease) => self.bound(lease, false).await,
                Action::Renewed(lease) => self.bound(lease, true).await,
                Action::Lost { lease, reason } => {
                    let removed = self.applied.clear(&self.s.handle, false).await;
                    log::info!(
                        "net: {}: {reason}: {}/{} removed ({} routes)",
                        self.s.name,
                        lease.address,
                        lease.prefix,
                        removed.routes
                    );
                    let _ = self.s.reports.send(Report::Lease {
                        index: self.s.index,
                        lease: None,
                    });
                    let _ = self.s.events.send(NetEvent::Lost {
                        iface: self.s.name.clone(),
                        reason: reason.to_string(),
                    });
                }
                Action::Note(n) => self.note(n),
            }
        }
    }

    async fn send(&mut self, t: &Transmit) {
        let name = &self.s.name;
        let since = self
            .carrier_at
            .map(|c| {
                format!(
                    " ({:.3} s after carrier)",
                    monotonic().saturating_sub(c).as_secs_f64()
                )
            })
            .unwrap_or_default();
        if t.attempt == 1 && t.kind == MessageType::Discover {
            log::info!("net: {name}: {}{since}", t.kind);
        } else {
            log::debug!("net: {name}: {} try {}", t.kind, t.attempt);
        }
        let result = match t.to {
            Destination::Broadcast { from } => {
                self.broadcast(from, Ipv4Addr::BROADCAST, &t.payload).await
            }
            Destination::Unicast { to, from } => match &self.udp {
                Some(u) => u
                    .send_to(&t.payload, SocketAddrV4::new(to, 67))
                    .await
                    .map(drop),
                None => self.broadcast(from, to, &t.payload).await,
            },
        };
        if let Err(e) = result {
            // ENETDOWN and the like when the carrier just went: the retransmission or
            // the next carrier event takes over.
            log::warn!("net: {name}: sending {}: {e}", t.kind);
        }
    }

    async fn broadcast(&self, from: Ipv4Addr, to: Ipv4Addr, payload: &[u8]) -> std::io::Result<()> {
        let packet = wire::build_udp(from, to, 68, 67, payload)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        self.sock.send_broadcast(&packet).await
    }

    async fn bound(&mut self, lease: Lease, renewed: bool) {
        let name = self.s.name.clone();
        let target = Target {
            address: lease.address,
            prefix: lease.prefix,
            broadcast: lease.broadcast,
            routes: lease.routes.clone(),
            mtu: self.s.params.mtu.or(lease.mtu.map(u32::from)),
            origin: Origin::Dhcp,
        };
        for w in &lease.warnings {
            log::warn!("net: {name}: lease from {}: {w}", lease.server);
        }
        let errors = self.applied.apply(&self.s.handle, &target).await;
        for e in errors {
            log::error!("net: {e}");
            let _ = self.s.events.send(NetEvent::Error {
                iface: Some(name.clone()),
                message: e,
            });
        }
        let lease_text = if lease.times.infinite() {
            "infinite lease".to_string()
        } else {
            format!("lease {} s", lease.times.lease_secs)
        };
        if renewed {
            log::info!(
                "net: {name}: lease renewed: {}/{}, {lease_text}, server {}",
                lease.address,
                lease.prefix,
                lease.server
            );
            let _ = self.s.events.send(NetEvent::Renewed {
                iface: name.clone(),
                lease_secs: lease.times.lease_secs,
            });
        } else {
            let since_carrier = self
                .carrier_at
                .map(|c| monotonic().saturating_sub(c))
                .unwrap_or_default();
            let dns: Vec<String> = lease.dns.iter().map(ToString::to_string).collect();
            log::info!(
                "net: {name}: bound {}/{}{}{}, {lease_text}, server {} ({:.3} s after carrier)",
                lease.address,
                lease.prefix,
                lease
                    .gateway()
                    .map(|g| format!(" via {g}"))
                    .unwrap_or_default(),
                if dns.is_empty() {
                    String::new()
                } else {
                    format!(", DNS {}", dns.join(" "))
                },
                lease.server,
                since_carrier.as_secs_f64()
            );
            if lease.routes.iter().any(|r| !r.is_default()) {
                let rs: Vec<String> = lease.routes.iter().map(ToString::to_string).collect();
                log::info!("net: {name}: routes: {}", rs.join(", "));
            }
            let _ = self.s.events.send(NetEvent::Bound {
                iface: name.clone(),
                address: lease.address,
                prefix: lease.prefix,
                router: lease.gateway(),
                dns: lease.dns.iter().map(|&d| d.into()).collect(),
                lease_secs: lease.times.lease_secs,
                since_carrier,
            });
        }
        let _ = self.s.reports.send(Report::Lease {
            index: self.s.index,
            lease: Some(lease),
        });
    }

    fn note(&self, n: Note) {
        let name = &self.s.name;
        match n {
            Note::Ignored(why) => log::debug!("net: {name}: ignored {why}"),
            Note::Offer { address, server } => {
                log::debug!("net: {name}: DHCPOFFER of {address} from {server}")
            }
            Note::Nak { server, message } => log::info!(
                "net: {name}: DHCPNAK{}{}; starting over",
                server.map(|s| format!(" from {s}")).unwrap_or_default(),
                message.map(|m| format!(": {m}")).unwrap_or_default()
            ),
            Note::NoAnswer { kind, tries, waited } => log::info!(
                "net: {name}: no answer to {kind} yet ({tries} sent over {:.1} s); still trying",
                waited.as_secs_f64()
            ),
            Note::KeptLease { address } => log::info!(
                "net: {name}: no answer after the carrier came back; keeping {address} until the lease says otherwise"
            ),
            Note::BuildFailed(e) => log::error!("net: {name}: cannot build a DHCP message: {e}"),
        }
    }

    async fn stop(&mut self, keep: bool) -> Removed {
        if keep {
            if let Some(l) = self.client.lease() {
                log::info!(
                    "net: {}: DHCP stopped; {}/{} kept",
                    self.s.name,
                    l.address,
                    l.prefix
                );
            }
            return Removed::default();
        }
        if let Some(t) = self.client.release() {
            log::info!("net: {}: DHCPRELEASE", self.s.name);
            self.send(&t).await;
        }
        self.applied.clear(&self.s.handle, true).await
    }
}
