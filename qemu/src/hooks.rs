//! The `sesame` built with the `test-hooks` feature (`rd.sesame.test.panic=<stage>`), which
//! `cargo xtask build` leaves in its own target subdirectory. Only tests use it; the
//! shipped binary never has the hooks.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::binaries::find;

/// `$SESAME_TEST_HOOKS_BIN`, else `<target>/test-hooks/x86_64-unknown-linux-gnu/release/
/// sesame` under `$CARGO_TARGET_DIR` or `<workspace>/target`; checked to be static.
pub fn sesame_test_hooks_binary() -> Result<PathBuf> {
    find("SESAME_TEST_HOOKS_BIN", Some("test-hooks"), "sesame").context(
        "the `sesame` with test hooks is built by `cargo xtask build` \
         (--features sesame/test-hooks, into <target>/test-hooks)",
    )
}
