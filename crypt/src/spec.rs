//! `rd.luks.*` boot parameters (to be written).
