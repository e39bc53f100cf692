//! sesame-crypt owns the LUKS side of the boot: which volumes to open (from `rd.luks.*`
//! and a crypttab), device specifications such as `UUID=…`, probing and opening LUKS
//! devices through libcryptsetup, and the hygiene of secrets.
//! It knows nothing of the network or SSH.

pub mod crypttab;
pub mod device;
pub mod luks;
pub mod spec;
