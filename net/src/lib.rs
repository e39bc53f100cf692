//! sesame-net owns the network of the initramfs: the `ip=` family of boot parameters
//! (parsed here as pure functions), and — wired by `init` — links, addresses and routes
//! over netlink, the DHCPv4 client and `/etc/resolv.conf`.
//! It knows nothing of LUKS or SSH.

pub mod ip;
