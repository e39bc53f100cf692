//! host keys (to be written).
