//! The teardown before switch_root: stop the DHCP clients (releasing their leases
//! unless the network is kept), remove static configurations, set down the links
//! sesame brought up and restore the MAC and MTU it changed.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::iface::Ctl;
use crate::ip::format_mac;
use crate::netlink::link;
use crate::TeardownReport;

use super::Manager;

impl Manager {
    pub(super) async fn teardown(&mut self, keep: bool) -> TeardownReport {
        let mut report = TeardownReport::default();
        for st in self.links.values_mut() {
            let Some(task) = st.dhcp.take() else { continue };
            let (done, rx) = oneshot::channel();
            let _ = task.ctl.send(Ctl::Stop { keep, done });
            match tokio::time::timeout(Duration::from_secs(5), rx).await {
                Ok(Ok(r)) => {
                    report.addresses_removed += r.addresses;
                    report.routes_removed += r.routes;
                }
                _ => {
                    log::warn!("net: {}: the DHCP task did not stop in time", st.facts.name);
                    task.join.abort();
                }
            }
        }
        if keep {
            return report;
        }
        for st in self.links.values_mut() {
            if let Some((_, mut applied)) = st.statik.take() {
                let r = applied.clear(&self.h, true).await;
                report.addresses_removed += r.addresses;
                report.routes_removed += r.routes;
            }
            if !st.brought_up || st.facts.loopback {
                continue;
            }
            let (index, name) = (st.facts.index, st.facts.name.clone());
            match link::set_up(&self.h, index, false).await {
                Ok(()) => report.links_down.push(name.clone()),
                Err(e) => log::warn!("net: {name}: setting it down: {e}"),
            }
            if let Some(m) = st.mac_before.take() {
                if let Err(e) = link::set_mac(&self.h, index, m).await {
                    log::warn!("net: {name}: restoring MAC {}: {e}", format_mac(&m));
                }
            }
            if let Some(m) = st.mtu_before.take() {
                if let Err(e) = link::set_mtu(&self.h, index, m).await {
                    log::warn!("net: {name}: restoring MTU {m}: {e}");
                }
            }
        }
        report
    }
}
