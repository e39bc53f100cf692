//! `ip=` boot parameter parsing (to be written).
