//! The fault matrix: end-to-end tests that break something on purpose and check what
//! the user sees and that nothing is lost (the boot resumes once the fault is gone, no
//! key material leaks into any log). Grouped by what breaks:
//!
//! - `hooks`: PID 1 panicking at each boot stage (the binary with test hooks);
//! - `network`: no NIC, a DHCP server silent then appearing, a NAK mid-lease, a NIC
//!   plugged in late;
//! - `volumes`: a corrupted LUKS header, a disk missing then hot-added, five wrong
//!   passphrases, Argon2 needing more memory than the machine has;
//! - `ssh`: a client killed mid-unlock, 200 connections and a slowloris while an
//!   operator unlocks;
//! - `cmdline`: a corpus of malformed command lines, a real root whose init is missing
//!   or not executable.
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
