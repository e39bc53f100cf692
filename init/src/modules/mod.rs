//! Kernel modules: the index of the image's modules, loading with dependencies,
//! coldplug of devices present at boot, and the `modprobe` the kernel calls.

pub mod coldplug;
pub mod glob;
pub mod index;
pub mod load;
pub mod modprobe;
