//! The initramfs image: the cpio format, what goes in (modules, firmware, keys, config)
//! and the `sesame build` that writes it.

pub mod builder;
pub mod ciphers;
pub mod cpio;
pub mod crypttab;
pub mod elf;
pub mod located;
pub mod modset;
pub mod root_volumes;
