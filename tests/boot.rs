//! e2e boot test (to be written).
