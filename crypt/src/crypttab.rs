//! crypttab parsing (to be written).
