//! QEMU harness (to be written).
