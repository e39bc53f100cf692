//! The monotonic clock (CLOCK_MONOTONIC) as a `Duration` since boot: the clock the
//! DHCP state machine is driven with and lease times are reported in.

use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

/// CLOCK_MONOTONIC now. The call cannot fail on Linux; zero if it somehow does.
pub fn monotonic() -> Duration {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(Duration::from)
        .unwrap_or_default()
}
