//! `/etc/resolv.conf`: what goes in it (pure: `nameserver=` first, then static `ip=`
//! DNS, then DHCP leases unless `rd.peerdns=0`; search domains from the leases), and
//! writing it atomically (a temporary file in the same directory, then rename).

use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::dhcp::Lease;

/// Name servers and search domains from one source, e.g. a lease on `eth0`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSource {
    /// For the file's header: "nameserver=", "eth0 (DHCP)", "eth0 (ip=)".
    pub label: String,
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
}

/// What one interface contributes.
#[derive(Debug, Clone, Copy)]
pub struct IfaceDns<'a> {
    pub name: &'a str,
    /// The DNS fields of a static `ip=` applied to it.
    pub static_dns: Option<&'a [Ipv4Addr]>,
    /// The DNS fields of its `ip=<…>:dhcp:<dns0>:<dns1>` word, once it has a lease.
    pub word_dns: &'a [Ipv4Addr],
    pub lease: Option<&'a Lease>,
}

/// The sources in order of precedence: `nameserver=`, then per interface (in index
/// order) its static `ip=` servers, its `ip=` word's servers, and its lease's servers
/// and search list (option 119, else option 15's domain) unless `peerdns` is false
/// (`rd.peerdns=0` ignores everything DNS-related from DHCP).
pub fn sources(nameservers: &[IpAddr], peerdns: bool, ifaces: &[IfaceDns<'_>]) -> Vec<DnsSource> {
    let v4 = |a: &[Ipv4Addr]| a.iter().map(|&d| IpAddr::V4(d)).collect::<Vec<_>>();
    let mut out = vec![DnsSource {
        label: "nameserver=".into(),
        servers: nameservers.to_vec(),
        search: Vec::new(),
    }];
    for i in ifaces {
        if let Some(d) = i.static_dns {
            out.push(DnsSource {
                label: format!("{} (ip=)", i.name),
                servers: v4(d),
                search: Vec::new(),
            });
        }
        let Some(l) = i.lease else { continue };
        out.push(DnsSource {
            label: format!("{} (ip=)", i.name),
            servers: v4(i.word_dns),
            search: Vec::new(),
        });
        if peerdns {
            out.push(DnsSource {
                label: format!("{} (DHCP)", i.name),
                servers: v4(&l.dns),
                search: if l.search.is_empty() {
                    l.domain.iter().cloned().collect()
                } else {
                    l.search.clone()
                },
            });
        }
    }
    out
}

/// The file, from sources in order of precedence; `None` when there is nothing to say
/// (no server and no search domain), so an image's own resolv.conf is left alone.
pub fn render(sources: &[DnsSource]) -> Option<String> {
    let mut servers: Vec<IpAddr> = Vec::new();
    let mut search: Vec<&str> = Vec::new();
    let mut labels: Vec<&str> = Vec::new();
    for s in sources {
        if s.servers.is_empty() && s.search.is_empty() {
            continue;
        }
        labels.push(&s.label);
        for a in &s.servers {
            if !servers.contains(a) {
                servers.push(*a);
            }
        }
        for d in &s.search {
            // Only names that cannot break the file's syntax (see dhcp::search).
            if crate::dhcp::search::valid_domain(d) && !search.contains(&d.as_str()) {
                search.push(d);
            }
        }
    }
    if servers.is_empty() && search.is_empty() {
        return None;
    }
    let mut out = format!(
        "# Written by sesame in the initramfs from {}\n",
        labels.join(", ")
    );
    for a in &servers {
        out.push_str(&format!("nameserver {a}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    Some(out)
}

/// Writes `content` to `path` so readers see the old file or the new one, never a
/// part: a temporary file beside it, synced, then renamed over it. Creates the
/// directory if needed. Blocking: call from `spawn_blocking`.
pub fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "resolv.conf".into());
    let tmp = dir.join(format!(".{name}.sesame-tmp"));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(label: &str, servers: &[&str], search: &[&str]) -> DnsSource {
        DnsSource {
            label: label.into(),
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            search: search.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn renders_in_order_without_duplicates() {
        let out = render(&[
            src("nameserver=", &["9.9.9.9", "2620:fe::fe"], &[]),
            src(
                "eth0 (DHCP)",
                &["10.0.2.3", "9.9.9.9"],
                &["corp.example", "example"],
            ),
            src("eth1 (DHCP)", &[], &["example", "lab"]),
        ])
        .unwrap();
        assert_eq!(
            out,
            "# Written by sesame in the initramfs from nameserver=, eth0 (DHCP), eth1 (DHCP)\n\
             nameserver 9.9.9.9\n\
             nameserver 2620:fe::fe\n\
             nameserver 10.0.2.3\n\
             search corp.example example lab\n"
        );
    }

    fn lease(dns: &[[u8; 4]], domain: Option<&str>, search: &[&str]) -> Lease {
        Lease {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24,
            server: Ipv4Addr::new(10, 0, 2, 2),
            routes: vec![],
            routers: vec![],
            dns: dns.iter().map(|&d| d.into()).collect(),
            domain: domain.map(String::from),
            search: search.iter().map(|s| s.to_string()).collect(),
            mtu: None,
            broadcast: None,
            ntp: vec![],
            times: crate::dhcp::LeaseTimes::new(Some(3600), None, None),
            obtained_at: std::time::Duration::ZERO,
            warnings: vec![],
        }
    }

    #[test]
    fn sources_order_and_peerdns() {
        let l0 = lease(&[[10, 0, 2, 3]], Some("corp"), &[]);
        let l1 = lease(&[[10, 9, 0, 1]], Some("corp"), &["lab", "corp"]);
        let word = [Ipv4Addr::new(1, 1, 1, 1)];
        let stat = [Ipv4Addr::new(192, 168, 1, 53)];
        let ifaces = [
            IfaceDns {
                name: "eth0",
                static_dns: None,
                word_dns: &word,
                lease: Some(&l0),
            },
            IfaceDns {
                name: "eth1",
                static_dns: None,
                word_dns: &[],
                lease: Some(&l1),
            },
            IfaceDns {
                name: "eth2",
                static_dns: Some(&stat),
                word_dns: &[],
                lease: None,
            },
        ];
        let ns = ["9.9.9.9".parse().unwrap()];
        let out = render(&sources(&ns, true, &ifaces)).unwrap();
        let lines: Vec<&str> = out.lines().skip(1).collect();
        assert_eq!(
            lines,
            vec![
                "nameserver 9.9.9.9",
                "nameserver 1.1.1.1",
                "nameserver 10.0.2.3",
                "nameserver 10.9.0.1",
                "nameserver 192.168.1.53",
                "search corp lab"
            ]
        );
        // rd.peerdns=0: nothing DNS-related from DHCP, the rest stays.
        let out = render(&sources(&ns, false, &ifaces)).unwrap();
        let lines: Vec<&str> = out.lines().skip(1).collect();
        assert_eq!(
            lines,
            vec![
                "nameserver 9.9.9.9",
                "nameserver 1.1.1.1",
                "nameserver 192.168.1.53"
            ]
        );
        // An ip= word's servers only count once its interface has a lease.
        let none = [IfaceDns {
            name: "eth0",
            static_dns: None,
            word_dns: &word,
            lease: None,
        }];
        assert_eq!(render(&sources(&[], true, &none)), None);
    }

    #[test]
    fn nothing_to_say_writes_nothing() {
        assert_eq!(render(&[]), None);
        assert_eq!(render(&[src("eth0 (DHCP)", &[], &[])]), None);
    }

    #[test]
    fn unsafe_search_domains_never_reach_the_file() {
        let out = render(&[src(
            "x",
            &["1.1.1.1"],
            &["ok", "evil\nnameserver 6.6.6.6", "a b"],
        )])
        .unwrap();
        assert!(!out.contains("6.6.6.6") && !out.contains("a b"), "{out}");
        assert!(out.ends_with("search ok\n"));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/resolv.conf");
        write_atomic(&path, "nameserver 1.1.1.1\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "nameserver 1.1.1.1\n");
        write_atomic(&path, "nameserver 8.8.8.8\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "nameserver 8.8.8.8\n");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("resolv.conf")]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn atomic_write_failure_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        write_atomic(&path, "old\n").unwrap();
        // Renaming over a directory fails.
        let target = dir.path().join("adir");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "").unwrap();
        assert!(write_atomic(&target, "new\n").is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\n");
        assert!(!dir.path().join(".adir.sesame-tmp").exists());
    }
}
