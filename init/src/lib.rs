//! sesame: PID 1 of the initramfs (the boot sequence, the kernel command line and the
//! config, kernel modules, block devices, mounts, the console, switch_root) and the host
//! CLI that builds the image. `net`, `crypt` and `remote` are wired together here.

pub mod blockdev;
pub mod cmdline;
