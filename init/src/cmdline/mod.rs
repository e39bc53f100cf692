//! The kernel command line (to be written).
