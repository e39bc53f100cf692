//! Shared helpers for the e2e tests (to be written).
