//! The network's main task: it follows links and addresses from netlink events
//! (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR), so NICs that appear late
//! are handled like the others; hands each link to [`links`] (renames, role, up, DHCP
//! task, static `ip=`, carrier changes seen as IFF_LOWER_UP in RTM_NEWLINK, never by
//! polling); keeps the status and resolv.conf current from leases and addresses; and
//! runs the [`teardown`] on request.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;
use tokio::sync::{mpsc, oneshot, watch};

mod links;
mod teardown;

use crate::apply::Applied;
use crate::config::NetConfig;
use crate::dhcp::Lease;
use crate::event::NetEvent;
use crate::iface::{Ctl, DhcpTask, Report};
use crate::ip::{format_mac, StaticIp};
use crate::netlink::addr::{self, AddrFacts};
use crate::netlink::link::{self, LinkFacts};
use crate::resolv::{render, sources, DnsSource, IfaceDns};
use crate::select::Role;
use crate::status::{IfaceStatus, LeaseStatus, NetStatus};
use crate::TeardownReport;

/// The netlink messages the connection did not ask for: the multicast events.
pub type Events = futures::channel::mpsc::UnboundedReceiver<(
    NetlinkMessage<RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

/// From the [`crate::NetHandle`].
pub enum Cmd {
    Shutdown {
        keep: bool,
        done: oneshot::Sender<TeardownReport>,
    },
}

struct LinkState {
    facts: LinkFacts,
    role: Option<Role>,
    /// sesame set it up (so the teardown sets it down).
    brought_up: bool,
    up_at: Option<Duration>,
    mtu_before: Option<u32>,
    mac_before: Option<[u8; 6]>,
    dhcp: Option<DhcpTask>,
    statik: Option<(StaticIp, Applied)>,
}

pub struct Manager {
    cfg: NetConfig,
    h: Handle,
    events: mpsc::UnboundedSender<NetEvent>,
    status: watch::Sender<NetStatus>,
    resolv: watch::Sender<Option<String>>,
    links: BTreeMap<u32, LinkState>,
    addrs: BTreeSet<AddrFacts>,
    leases: BTreeMap<u32, Lease>,
    /// A static `ip=` without device has found its link.
    static_taken: bool,
    reports: mpsc::UnboundedSender<Report>,
}

impl Manager {
    pub fn new(
        cfg: NetConfig,
        h: Handle,
        events: mpsc::UnboundedSender<NetEvent>,
        status: watch::Sender<NetStatus>,
        resolv: watch::Sender<Option<String>>,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Manager {
        Manager {
            cfg,
            h,
            events,
            status,
            resolv,
            links: BTreeMap::new(),
            addrs: BTreeSet::new(),
            leases: BTreeMap::new(),
            static_taken: false,
            reports,
        }
    }

    pub async fn run(
        mut self,
        mut nl: Events,
        mut reports: mpsc::UnboundedReceiver<Report>,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
    ) {
        self.init().await;
        let (mut nl_open, mut cmds_open) = (true, true);
        loop {
            tokio::select! {
                m = nl.next(), if nl_open => match m {
                    Some((msg, _)) => self.on_netlink(msg).await,
                    None => {
                        nl_open = false;
                        self.error(None, "the netlink event stream ended: new links and carrier changes are not seen any more".into());
                    }
                },
                Some(r) = reports.recv() => self.on_report(r),
                c = cmds.recv(), if cmds_open => match c {
                    Some(Cmd::Shutdown { keep, done }) => {
                        let report = self.teardown(keep).await;
                        let _ = done.send(report);
                        return;
                    }
                    // The handle was dropped: keep the network running.
                    None => cmds_open = false,
                },
            }
        }
    }

    fn error(&self, iface: Option<&str>, message: String) {
        match iface {
            Some(i) => log::error!("net: {i}: {message}"),
            None => log::error!("net: {message}"),
        }
        let _ = self.events.send(NetEvent::Error {
            iface: iface.map(str::to_string),
            message,
        });
    }

    async fn init(&mut self) {
        let links = match link::dump(&self.h).await {
            Ok(l) => l,
            Err(e) => {
                self.error(None, format!("listing links: {e}"));
                Vec::new()
            }
        };
        for f in &links {
            if f.loopback && !f.up {
                match link::set_up(&self.h, f.index, true).await {
                    Ok(()) => log::info!("net: {} up", f.name),
                    Err(e) => self.error(Some(&f.name), format!("setting it up: {e}")),
                }
            }
        }
        for f in links {
            self.links.insert(f.index, new_state(f));
        }
        let indices: Vec<u32> = self.links.keys().copied().collect();
        for &i in &indices {
            self.rename(i).await;
        }
        for &i in &indices {
            self.adopt(i).await;
        }
        match addr::dump(&self.h).await {
            Ok(a) => self.addrs.extend(a),
            Err(e) => self.error(None, format!("listing addresses: {e}")),
        }
        if self.links.values().all(|l| l.role.is_none()) {
            log::info!("net: no interface to configure yet; waiting for one to appear");
        }
        self.publish();
    }

    async fn on_netlink(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) {
        let NetlinkPayload::InnerMessage(m) = msg.payload else {
            return;
        };
        match m {
            RouteNetlinkMessage::NewLink(m) => self.on_link(link::facts(&m)).await,
            RouteNetlinkMessage::DelLink(m) => self.on_link_gone(m.header.index).await,
            RouteNetlinkMessage::NewAddress(m) => {
                if let Some(a) = addr::facts(&m) {
                    self.addrs.insert(a);
                    self.publish();
                }
            }
            RouteNetlinkMessage::DelAddress(m) => {
                if let Some(a) = addr::facts(&m) {
                    self.addrs.remove(&a);
                    self.publish();
                }
            }
            _ => {}
        }
    }

    async fn on_link(&mut self, f: LinkFacts) {
        let index = f.index;
        let Some(st) = self.links.get_mut(&index) else {
            log::info!(
                "net: new link {} ({})",
                f.name,
                f.mac
                    .map(|m| format_mac(&m))
                    .unwrap_or_else(|| "no MAC".into())
            );
            self.links.insert(index, new_state(f));
            self.rename(index).await;
            self.adopt(index).await;
            self.publish();
            return;
        };
        let old = std::mem::replace(&mut st.facts, f.clone());
        if old.name != f.name && !f.name.is_empty() {
            if let Some(t) = &st.dhcp {
                let _ = t.ctl.send(Ctl::Renamed(f.name.clone()));
            }
            if let Some((_, a)) = &mut st.statik {
                a.iface = f.name.clone();
            }
        }
        if st.role.is_some() && old.carrier != f.carrier {
            self.on_carrier(index, f.carrier).await;
        }
        self.publish();
    }

    async fn on_link_gone(&mut self, index: u32) {
        let Some(mut st) = self.links.remove(&index) else {
            return;
        };
        log::info!("net: {} disappeared", st.facts.name);
        if let Some(t) = st.dhcp.take() {
            t.join.abort();
        }
        if self.leases.remove(&index).is_some() {
            let _ = self.events.send(NetEvent::Lost {
                iface: st.facts.name.clone(),
                reason: "the interface disappeared".into(),
            });
        }
        if matches!(st.role, Some(Role::StaticCandidate(_))) && st.statik.is_some() {
            self.static_taken = false;
        }
        self.addrs.retain(|a| a.index != index);
        self.update_resolv();
        self.publish();
    }

    fn on_report(&mut self, r: Report) {
        match r {
            Report::Lease { index, lease } => {
                match lease {
                    Some(l) => self.leases.insert(index, l),
                    None => self.leases.remove(&index),
                };
                self.update_resolv();
                self.publish();
            }
        }
    }

    fn dns_sources(&self) -> Vec<DnsSource> {
        let ifaces: Vec<IfaceDns<'_>> = self
            .links
            .values()
            .map(|st| IfaceDns {
                name: &st.facts.name,
                static_dns: st.statik.as_ref().map(|(s, _)| s.dns.as_slice()),
                word_dns: match &st.role {
                    Some(Role::Dhcp(p)) => &p.dns,
                    _ => &[],
                },
                lease: self.leases.get(&st.facts.index),
            })
            .collect();
        sources(&self.cfg.nameservers, self.cfg.peerdns, &ifaces)
    }

    fn update_resolv(&self) {
        let content = render(&self.dns_sources());
        let written_before = self.resolv.borrow().is_some();
        let content = match content {
            Some(c) => c,
            None if written_before => {
                "# Written by sesame in the initramfs: no name server is known now\n".to_string()
            }
            None => return,
        };
        self.resolv.send_if_modified(|cur| {
            if cur.as_deref() == Some(content.as_str()) {
                false
            } else {
                *cur = Some(content);
                true
            }
        });
    }

    fn publish(&self) {
        let interfaces = self
            .links
            .values()
            .filter(|st| !st.facts.loopback)
            .map(|st| {
                let f = &st.facts;
                let mine = |v4: bool| -> Vec<String> {
                    self.addrs
                        .iter()
                        .filter(|a| a.index == f.index && a.addr.is_ipv4() == v4)
                        .map(|a| format!("{}/{}", a.addr, a.prefix))
                        .collect()
                };
                let lease = self.leases.get(&f.index);
                IfaceStatus {
                    name: f.name.clone(),
                    mac: f.mac.map(|m| format_mac(&m)).unwrap_or_default(),
                    operstate: f.operstate.clone(),
                    carrier: f.carrier,
                    ipv4: mine(true),
                    ipv6: mine(false),
                    configured_by: match (&st.role, &st.statik) {
                        (_, Some(_)) => "static",
                        (Some(Role::Dhcp(_)), _) => "dhcp",
                        _ => "none",
                    }
                    .into(),
                    lease: lease.map(LeaseStatus::from_lease),
                }
            })
            .collect();
        self.status.send_replace(NetStatus { interfaces });
    }
}

fn new_state(facts: LinkFacts) -> LinkState {
    LinkState {
        facts,
        role: None,
        brought_up: false,
        up_at: None,
        mtu_before: None,
        mac_before: None,
        dhcp: None,
        statik: None,
    }
}
