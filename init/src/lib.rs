//! sesame: PID 1 of the initramfs (the boot sequence, the kernel command line and the
//! config, kernel modules, block devices, mounts, the console, switch_root) and the host
//! CLI that builds the image. `net`, `crypt` and `remote` are wired together here.

pub mod blockdev;
pub mod boot;
pub mod check;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod console;
pub mod control;
pub mod image;
pub mod kernelfs;
pub mod logger;
pub mod modules;
pub mod rootfs;
pub mod settings;
pub mod switch_root;
pub mod timeline;
pub mod uevent;
