//! sesame-qemu: the test harness for the end-to-end tests.
//!
//! It owns everything a test needs outside the code under test: the tools check
//! ([`require_tools`], [`command`]) against the one list of host programs and their Debian
//! packages ([`TOOL_PACKAGES`]), the shared cache and the real Debian kernel ([`debian_kernel`]),
//! the binaries under test ([`sesame_binary`], [`marker_binary`]), disk images made in
//! userspace ([`RootFs`], [`ext4_image`], [`luks_encrypt`]), small initramfs archives
//! ([`Cpio`]), QEMU itself ([`Vm`]) with its console and monitor, and reading the marker's
//! report ([`parse_marker`]). For the hand-over tests: the real Debian root, debootstrapped
//! once and cached ([`debian_root_tree`], copied per test with [`RootFs::debian`]), and the
//! report its systemd makes ([`RealRootReport`]). Anything missing fails loudly with what
//! to run; nothing skips.
//! For the fault tests: the `sesame` with test hooks ([`sesame_test_hooks_binary`]), a
//! network card plugged in late ([`LateNic`]), a DHCP server to stop and restart
//! ([`Dnsmasq`]), sockets from inside a namespace ([`connect_crowd`], [`Slowloris`]),
//! damaged or costly LUKS headers ([`corrupt_luks2_metadata`], [`luks_costly_argon2`])
//! and a command line that is not UTF-8 ([`VmConfig::append_raw`]). For the bench: guest
//! memory from the kernel's SysRq report ([`guest_memory`]) and what an image holds
//! ([`initramfs_stats`]).

mod binaries;
mod cache;
mod config;
mod console;
mod cpio;
mod debian_root;
mod dhcpd;
mod disk_factory;
mod ext4;
mod guest_mem;
mod hooks;
mod hotplug;
mod initramfs_stats;
mod kernel;
mod luks;
mod luks_faults;
mod marker;
mod monitor;
mod netns;
mod nsnet;
mod ports;
mod raw_append;
mod report;
mod rootfs;
mod ssh;
mod tools;
mod vm;

pub use binaries::{marker_binary, sesame_binary, workspace_dir};
pub use cache::cache_dir;
pub use config::{Disk, DiskBus, Nic, VmConfig};
pub use console::clean_console;
pub use cpio::Cpio;
pub use debian_root::{debian_root_tree, DEBIAN_PACKAGES, DEBIAN_SUITE};
pub use dhcpd::Dnsmasq;
pub use disk_factory::{
    make_disks, DiskRecipe, FactoryDisk, FactoryDisks, FACTORY_VERSION, MAX_FACTORY_DISKS,
};
pub use ext4::{ext4_image, random_uuid};
pub use guest_mem::{
    guest_memory, meminfo_in_use_kib, parse_show_mem, printk_console_loglevel, GuestMemory,
    DEFAULT_CONSOLE_LOGLEVEL,
};
pub use hooks::sesame_test_hooks_binary;
pub use hotplug::LateNic;
pub use initramfs_stats::{initramfs_stats, ImageFile, InitramfsStats};
pub use kernel::{debian_kernel, Kernel};
pub use luks::{luks_encrypt, luks_test_passphrase, LuksOptions, LuksVersion, Pbkdf};
pub use luks_faults::{corrupt_luks2_metadata, luks_costly_argon2, luks_volume_key};
pub use marker::{parse_marker, parse_marker_kmsg, parse_markers};
pub use netns::NetNs;
pub use nsnet::{connect_crowd, in_netns, Slowloris, SlowlorisStats};
pub use ports::free_loopback_port;
pub use report::RealRootReport;
pub use rootfs::RootFs;
pub use ssh::{Session, SshClient};
pub use tools::{
    command, package_of, require_tools, run, tool_path, TOOL_PACKAGES, UNPACKAGED_TOOLS,
};
pub use vm::{run_interactive, ConsoleMatch, Vm};
