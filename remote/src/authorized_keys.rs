//! authorized_keys (to be written).
