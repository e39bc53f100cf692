//! The fault matrix: end-to-end tests that break something on purpose and check what
//! the user sees and that nothing is lost (the boot resumes once the fault is gone, no
//! passphrase nor volume key leaks into any log). Grouped by what breaks:
//!
//! - `hooks`: PID 1 panicking at each boot stage (the binary with test hooks);
//! - `network`: no NIC then one hot-added; a DHCP server silent then appearing, then
//!   replaced by one that NAKs the renewal;
//! - `volumes`: a damaged LUKS header beside the root plus five wrong passphrases;
//!   Argon2 needing more memory than the machine has (a disk missing then hot-added is
//!   tests/whole.rs's `missing_disk_hot_added_then_retry_over_ssh`);
//! - `ssh`: a client killed mid-unlock, 200 connections and a slowloris while an
//!   operator unlocks;
//! - `cmdline`: a corpus of malformed command-line words, a real root without a usable
//!   init.
//!
//! The README's "Reliability" section lists the same matrix.

#[path = "faults/cmdline.rs"]
mod cmdline;
#[path = "faults/hooks.rs"]
mod hooks;
#[path = "faults/network.rs"]
mod network;
#[path = "faults/ssh.rs"]
mod ssh;
#[path = "faults/volumes.rs"]
mod volumes;
