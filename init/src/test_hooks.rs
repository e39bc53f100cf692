//! Faults on purpose, for tests only: with the `test-hooks` feature, the boot panics at
//! the stage `rd.sesame.test.panic=<stage>` names (`prepare`, `root`, `switch`), so a
//! test can see PID 1 land in the emergency state instead of a kernel panic. Without
//! the feature this compiles to nothing and the parameter is refused.

use crate::settings::Settings;

/// The stages a test can break.
pub const STAGES: &[&str] = &["prepare", "root", "switch"];

/// Panics here when the command line asked for it (test builds only).
#[cfg(feature = "test-hooks")]
pub fn checkpoint(settings: &Settings, stage: &str) {
    if settings.test_panic.as_deref() == Some(stage) {
        panic!("rd.sesame.test.panic={stage}: failing on purpose");
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn checkpoint(_settings: &Settings, _stage: &str) {}
