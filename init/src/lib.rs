//! sesame: PID 1 of the initramfs (the boot sequence, the kernel command line and the
//! config, kernel modules, block devices, mounts, the console, switch_root) and the host
//! CLI that builds the image. `net`, `crypt` and `remote` are wired together here.

pub mod boot;
pub mod check;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod console;
pub mod console_task;
pub mod control;
pub mod drivers;
pub mod help;
pub mod host;
pub mod image;
pub mod inspect;
pub mod install;
pub mod kernelfs;
pub mod logger;
pub mod modules;
pub mod network;
pub mod overlayroot;
pub mod root;
pub mod rootfs;
pub mod settings;
pub mod ssh;
pub mod switch_root;
pub mod test_hooks;
pub mod timeline;
pub mod uevent;
pub mod unlock;
pub mod view;
pub mod waiting;
