//! The manager's work on one link: `ifname=` renames, deciding its role and bringing it
//! up (with the MAC and MTU of its `ip=` word), starting its DHCP client, reacting to
//! its carrier, and applying a static `ip=`.

use std::net::Ipv4Addr;

use crate::apply::{Applied, Target};
use crate::clock::monotonic;
use crate::dhcp::Route;
use crate::event::NetEvent;
use crate::iface::{self, Ctl, Setup};
use crate::ip::{format_mac, StaticIp};
use crate::netlink::link;
use crate::netlink::route::Origin;
use crate::select::{role_for, Role};

use super::Manager;

impl Manager {
    /// Applies the `ifname=` rule for this link's MAC, moving a link that holds the
    /// wanted name out of the way (as `rename<index>`, like the kernel's convention).
    pub(super) async fn rename(&mut self, index: u32) {
        let Some(st) = self.links.get(&index) else {
            return;
        };
        let Some(mac) = st.facts.mac else { return };
        let Some(rule) = self.cfg.ifnames.iter().find(|r| r.mac == mac).cloned() else {
            return;
        };
        let old_name = st.facts.name.clone();
        if old_name == rule.name {
            return;
        }
        let holder = self
            .links
            .values()
            .find(|l| l.facts.name == rule.name && l.facts.index != index)
            .map(|l| l.facts.index);
        if let Some(other) = holder {
            let tmp = format!("rename{other}");
            if self.rename_one(other, &tmp).await {
                if let Some(o) = self.links.get_mut(&other) {
                    o.facts.name = tmp;
                }
            }
        }
        if self.rename_one(index, &rule.name).await {
            log::info!(
                "net: {old_name} ({}) renamed {} (ifname=)",
                format_mac(&mac),
                rule.name
            );
            if let Some(st) = self.links.get_mut(&index) {
                st.facts.name = rule.name.clone();
            }
        }
    }

    pub(super) async fn rename_one(&mut self, index: u32, name: &str) -> bool {
        let Some(st) = self.links.get(&index) else {
            return false;
        };
        let old = st.facts.name.clone();
        let was_up = st.facts.up;
        if was_up {
            // A link must be down to be renamed.
            let _ = link::set_up(&self.h, index, false).await;
        }
        let r = link::rename(&self.h, index, name).await;
        if was_up {
            let _ = link::set_up(&self.h, index, true).await;
        }
        match r {
            Ok(()) => true,
            Err(e) => {
                self.error(Some(&old), format!("renaming it {name} (ifname=): {e}"));
                false
            }
        }
    }

    /// Decides what to do with a link and starts doing it.
    pub(super) async fn adopt(&mut self, index: u32) {
        let Some(st) = self.links.get(&index) else {
            return;
        };
        if st.role.is_some() {
            return;
        }
        let f = st.facts.clone();
        let Some(role) = role_for(&self.cfg, &f) else {
            return;
        };
        let name = f.name.clone();
        let (mtu, mac) = role.link_settings();
        let mut mac_before = None;
        let mut mtu_before = None;
        let mut mtu_now = f.mtu;
        if let Some(m) = mac.filter(|m| Some(*m) != f.mac) {
            if f.up {
                let _ = link::set_up(&self.h, index, false).await;
            }
            match link::set_mac(&self.h, index, m).await {
                Ok(()) => {
                    mac_before = f.mac;
                    log::info!("net: {name}: MAC {} (ip=)", format_mac(&m));
                }
                Err(e) => self.error(Some(&name), format!("setting MAC {}: {e}", format_mac(&m))),
            }
        }
        if let Some(m) = mtu.filter(|m| Some(*m) != f.mtu) {
            match link::set_mtu(&self.h, index, m).await {
                Ok(()) => {
                    mtu_before = f.mtu;
                    mtu_now = Some(m);
                    log::info!("net: {name}: MTU {m} (ip=)");
                }
                Err(e) => self.error(Some(&name), format!("setting MTU {m}: {e}")),
            }
        }
        let mut brought_up = false;
        let up = if f.up && mac_before.is_none() {
            true
        } else {
            match link::set_up(&self.h, index, true).await {
                Ok(()) => {
                    brought_up = !f.up;
                    true
                }
                Err(e) => {
                    self.error(Some(&name), format!("setting it up: {e}"));
                    false
                }
            }
        };
        let now = monotonic();
        if up {
            log::info!("net: {name} up ({})", describe(&role));
            let _ = self.events.send(NetEvent::LinkUp {
                iface: name.clone(),
            });
        }
        let dhcp = match &role {
            Role::Dhcp(p) => match mac.or(f.mac) {
                Some(m) => Some(iface::spawn(Setup {
                    index,
                    name: name.clone(),
                    mac: m,
                    mtu: mtu_now,
                    params: p.clone(),
                    handle: self.h.clone(),
                    events: self.events.clone(),
                    reports: self.reports.clone(),
                })),
                None => {
                    self.error(
                        Some(&name),
                        "has no MAC address: cannot do DHCP on it".into(),
                    );
                    None
                }
            },
            _ => None,
        };
        if let Some(st) = self.links.get_mut(&index) {
            st.role = Some(role.clone());
            st.brought_up = brought_up;
            st.up_at = Some(now);
            st.mtu_before = mtu_before;
            st.mac_before = mac_before;
            st.dhcp = dhcp;
            st.facts.mtu = mtu_now;
        }
        if let Role::Static(s) = &role {
            self.apply_static(index, s.clone()).await;
        }
        if f.carrier && f.up && mac_before.is_none() {
            self.on_carrier(index, true).await;
        }
    }

    pub(super) async fn on_carrier(&mut self, index: u32, up: bool) {
        let Some(st) = self.links.get(&index) else {
            return;
        };
        let name = st.facts.name.clone();
        if up {
            let after = st
                .up_at
                .map(|t| {
                    format!(
                        " ({:.3} s after up)",
                        monotonic().saturating_sub(t).as_secs_f64()
                    )
                })
                .unwrap_or_default();
            log::info!("net: {name}: carrier{after}");
            let _ = self.events.send(NetEvent::Carrier {
                iface: name.clone(),
            });
        } else {
            log::info!("net: {name}: carrier lost");
        }
        if let Some(t) = &st.dhcp {
            let _ = t.ctl.send(Ctl::Carrier(up));
        }
        if let Some(Role::StaticCandidate(s)) = st.role.clone() {
            if up && !self.static_taken && st.statik.is_none() {
                self.static_taken = true;
                self.apply_static(index, s).await;
            }
        }
    }

    pub(super) async fn apply_static(&mut self, index: u32, s: StaticIp) {
        let Some(st) = self.links.get(&index) else {
            return;
        };
        let name = st.facts.name.clone();
        let target = Target {
            address: s.client,
            prefix: s.prefix_len,
            broadcast: None,
            routes: s
                .gateway
                .map(|g| Route {
                    dest: Ipv4Addr::UNSPECIFIED,
                    prefix: 0,
                    gateway: Some(g),
                })
                .into_iter()
                .collect(),
            mtu: None,
            origin: Origin::Boot,
        };
        let mut applied = Applied::new(index, &name, st.facts.mtu);
        for e in applied.apply(&self.h, &target).await {
            log::error!("net: {e}");
            let _ = self.events.send(NetEvent::Error {
                iface: Some(name.clone()),
                message: e,
            });
        }
        log::info!(
            "net: {name}: static {}/{}{} (ip=)",
            s.client,
            s.prefix_len,
            s.gateway.map(|g| format!(" via {g}")).unwrap_or_default()
        );
        if let Some(h) = &s.hostname {
            match set_hostname(h) {
                Ok(()) => log::info!("net: host name {h} (ip=)"),
                Err(e) => self.error(Some(&name), format!("setting the host name {h}: {e}")),
            }
        }
        let _ = self.events.send(NetEvent::StaticApplied {
            iface: name,
            address: s.client,
            prefix: s.prefix_len,
        });
        if let Some(st) = self.links.get_mut(&index) {
            st.statik = Some((s, applied));
        }
        self.update_resolv();
        self.publish();
    }
}

/// sethostname(2).
fn set_hostname(name: &str) -> std::io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    let r = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn describe(role: &Role) -> &'static str {
    match role {
        Role::Dhcp(_) => "DHCP",
        Role::Static(_) => "static ip=",
        Role::StaticCandidate(_) => "static ip= if it gets the first carrier",
        Role::UpOnly { .. } => "IPv6 autoconfiguration by the kernel",
    }
}
