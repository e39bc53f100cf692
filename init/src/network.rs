//! The network as the boot uses it: the settings turned into sesame-net's config, its
//! events turned into console lines and timeline marks, its status kept for `status`,
//! and the teardown before switch_root. Bring-up runs beside everything else and never
//! delays the console prompt.

use std::sync::Arc;

use sesame_net::{NetConfig, NetEvent, NetHandle, NetStatus};
use tokio::sync::{watch, Mutex};

use crate::settings::Settings;
use crate::timeline::Timeline;

/// The running network, if it could be started.
pub struct Network {
    handle: Mutex<Option<NetHandle>>,
    status: watch::Receiver<NetStatus>,
    /// The first IPv4 address bound, for the SSH readiness line.
    pub first_address: watch::Receiver<Option<std::net::Ipv4Addr>>,
}

/// What sesame-net should do, from the settings.
pub fn net_config(s: &Settings) -> NetConfig {
    NetConfig {
        ip: s.ip.clone(),
        nameservers: s.nameservers.clone(),
        peerdns: s.peerdns,
        ifnames: s.ifnames.clone(),
        default_dhcp: s.ip.is_empty() && (s.ssh_enabled || s.neednet),
        hostname: s.hostname.clone(),
        resolv_conf: "/etc/resolv.conf".into(),
    }
}

/// Starts the network in the background. Failing to start it is logged, never fatal:
/// the console still works.
pub async fn start(settings: &Settings, timeline: Timeline) -> Arc<Network> {
    let (addr_tx, addr_rx) = watch::channel(None);
    if !settings.network_wanted() {
        log::info!("network: not configured (ip=off, or no ip= and SSH disabled)");
        return Arc::new(Network {
            handle: Mutex::new(None),
            status: watch::channel(NetStatus::default()).1,
            first_address: addr_rx,
        });
    }
    match sesame_net::start(net_config(settings)).await {
        Ok((handle, events)) => {
            let status = handle.status();
            tokio::spawn(follow_events(events, timeline, addr_tx));
            Arc::new(Network {
                handle: Mutex::new(Some(handle)),
                status,
                first_address: addr_rx,
            })
        }
        Err(e) => {
            log::error!("network: cannot start: {e}; the console still works");
            Arc::new(Network {
                handle: Mutex::new(None),
                status: watch::channel(NetStatus::default()).1,
                first_address: addr_rx,
            })
        }
    }
}

/// Marks the first link up, carrier and lease in the timeline; remembers the first address.
async fn follow_events(
    mut events: tokio::sync::mpsc::UnboundedReceiver<NetEvent>,
    timeline: Timeline,
    first_address: watch::Sender<Option<std::net::Ipv4Addr>>,
) {
    let (mut link, mut carrier, mut bound) = (false, false, false);
    while let Some(ev) = events.recv().await {
        match ev {
            NetEvent::LinkUp { iface } if !link => {
                link = true;
                timeline.mark("link_up", Some(iface));
            }
            NetEvent::Carrier { iface } if !carrier => {
                carrier = true;
                timeline.mark("carrier", Some(iface));
            }
            NetEvent::Bound {
                iface,
                address,
                prefix,
                ..
            } => {
                if !bound {
                    bound = true;
                    timeline.mark("lease_bound", Some(format!("{iface} {address}/{prefix}")));
                }
                first_address.send_if_modified(|a| a.is_none() && a.replace(address).is_none());
            }
            NetEvent::StaticApplied {
                iface,
                address,
                prefix,
            } => {
                timeline.mark(
                    "address_static",
                    Some(format!("{iface} {address}/{prefix}")),
                );
                first_address.send_if_modified(|a| a.is_none() && a.replace(address).is_none());
            }
            _ => {}
        }
    }
}

impl Network {
    pub fn status(&self) -> watch::Receiver<NetStatus> {
        self.status.clone()
    }

    /// Before switch_root: stop DHCP and, unless `keep`, remove what sesame configured.
    pub async fn shutdown(&self, keep: bool) {
        let Some(handle) = self.handle.lock().await.take() else {
            return;
        };
        match handle.shutdown(keep).await {
            Ok(_) if keep => {
                log::info!("network: kept up for the real system (rd.sesame.net.keep)")
            }
            Ok(r) => log::info!(
                "network: torn down ({} addresses, {} routes removed; down: {})",
                r.addresses_removed,
                r.routes_removed,
                if r.links_down.is_empty() {
                    "none".into()
                } else {
                    r.links_down.join(", ")
                }
            ),
            Err(e) => log::warn!("network: teardown incomplete: {e}"),
        }
    }
}
/// With `rd.sesame.net.keep=1`: a warning when the real root's udev will try to give the
/// kept interfaces their predictable names (`99-default.link` with its `NamePolicy`, not
/// masked, and no `net.ifnames=0` on the command line). The kernel refuses to rename an
/// interface that is up, udev's event for it fails, and systemd-networkd then never
/// manages it: its DHCP lease lapses. `root` is the real root's mount point.
pub fn kept_interface_rename_warning(
    words: &[(String, Option<String>)],
    root: &std::path::Path,
) -> Option<String> {
    if words
        .iter()
        .any(|(k, v)| k == "net.ifnames" && v.as_deref() == Some("0"))
    {
        return None;
    }
    let masked = std::fs::read_link(root.join("etc/systemd/network/99-default.link"))
        .is_ok_and(|t| t == std::path::Path::new("/dev/null"));
    let policy = [
        "usr/lib/systemd/network/99-default.link",
        "lib/systemd/network/99-default.link",
    ]
    .iter()
    .any(|p| root.join(p).exists());
    (policy && !masked).then(|| {
        "rd.sesame.net.keep: the real system's udev will try to rename the interfaces kept \
         up (predictable names, 99-default.link) and the kernel refuses while they are up; \
         its network manager may then leave them unmanaged. Add net.ifnames=0 to the \
         kernel command line, or name them in a .link file"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<(String, Option<String>)> {
        line.split_whitespace()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (w.to_string(), None),
            })
            .collect()
    }

    #[test]
    fn a_kept_interface_udev_would_rename_is_warned_about() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        // No naming policy in the root: nothing to say.
        assert_eq!(kept_interface_rename_warning(&words("ro"), root), None);
        std::fs::create_dir_all(root.join("usr/lib/systemd/network")).unwrap();
        std::fs::write(root.join("usr/lib/systemd/network/99-default.link"), "").unwrap();
        let w = kept_interface_rename_warning(&words("ro rd.sesame.net.keep=1"), root).unwrap();
        assert!(w.contains("net.ifnames=0"), "{w}");
        assert_eq!(
            kept_interface_rename_warning(&words("ro net.ifnames=0"), root),
            None
        );
        assert!(kept_interface_rename_warning(&words("net.ifnames=1"), root).is_some());
        // Masked by the administrator: udev keeps the kernel's names.
        std::fs::create_dir_all(root.join("etc/systemd/network")).unwrap();
        std::os::unix::fs::symlink(
            "/dev/null",
            root.join("etc/systemd/network/99-default.link"),
        )
        .unwrap();
        assert_eq!(kept_interface_rename_warning(&words("ro"), root), None);
    }
}
