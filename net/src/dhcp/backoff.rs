//! When to retransmit (RFC 2131 §4.1 and §4.4.5), with the randomness injected. Pure.
//!
//! Acquisition (DISCOVER, REQUEST, INIT-REBOOT): 1 s, 2 s, 4 s … capped at 32 s, each
//! plus a random 0–1 s, so the first retry leaves 1–2 s after the first try (RFC 2131
//! suggests 4 s; a box waiting for its operator should not lose seconds to one lost
//! packet). Renewing and rebinding: half the time left until T2 (resp. expiry), but
//! no less than 60 s, or an eighth of the lease for leases under 8 minutes, so short
//! leases still get a few retries.

use std::time::Duration;

use rand::Rng;

/// The cap of the acquisition backoff, before jitter.
pub const MAX_RETRANSMIT: Duration = Duration::from_secs(32);

/// How long to wait after try number `sent` (1 = the first message) of an exchange.
pub fn retransmit_delay<R: Rng + ?Sized>(sent: u32, rng: &mut R) -> Duration {
    let exp = sent.saturating_sub(1).min(5);
    let base = Duration::from_secs(1u64 << exp).min(MAX_RETRANSMIT);
    base + Duration::from_millis(rng.random_range(0..1000))
}

/// The wait before starting over after `naks` NAKs in a row: none after the first
/// (RFC 2131 says to restart at once), then 1 s, 2 s … 32 s, plus 0–1 s, so a server
/// that offers then refuses cannot make the client spin.
pub fn nak_delay<R: Rng + ?Sized>(naks: u32, rng: &mut R) -> Duration {
    if naks <= 1 {
        return Duration::ZERO;
    }
    retransmit_delay(naks - 1, rng)
}

/// The next retransmission while renewing or rebinding: half of what is left until
/// `until`, at least `min`, never past `until`.
pub fn reacquire_delay(now: Duration, until: Duration, min: Duration) -> Duration {
    let left = until.saturating_sub(now);
    (left / 2).max(min).min(left)
}

/// The floor of [`reacquire_delay`] for a lease of `lease_secs`.
pub fn reacquire_floor(lease_secs: u32) -> Duration {
    Duration::from_secs(60)
        .min(Duration::from_secs(u64::from(lease_secs) / 8).max(Duration::from_secs(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn first_retry_within_one_to_two_seconds_then_doubles_to_the_cap() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let d = retransmit_delay(1, &mut rng);
            assert!(
                d >= Duration::from_secs(1) && d < Duration::from_secs(2),
                "{d:?}"
            );
        }
        let secs: Vec<u64> = (1..=9)
            .map(|n| retransmit_delay(n, &mut rng).as_secs())
            .collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 32, 32, 32]);
        assert!(retransmit_delay(u32::MAX, &mut rng) < Duration::from_secs(33));
    }

    #[test]
    fn nak_backoff() {
        let mut rng = StdRng::seed_from_u64(2);
        assert_eq!(nak_delay(1, &mut rng), Duration::ZERO);
        assert_eq!(nak_delay(2, &mut rng).as_secs(), 1);
        assert_eq!(nak_delay(3, &mut rng).as_secs(), 2);
        assert_eq!(nak_delay(100, &mut rng).as_secs(), 32);
    }

    #[test]
    fn reacquire_halves_with_a_floor() {
        let s = Duration::from_secs;
        assert_eq!(reacquire_delay(s(0), s(1000), s(60)), s(500));
        assert_eq!(reacquire_delay(s(900), s(1000), s(60)), s(60));
        assert_eq!(reacquire_delay(s(980), s(1000), s(60)), s(20));
        assert_eq!(reacquire_delay(s(1001), s(1000), s(60)), s(0));
        assert_eq!(reacquire_floor(86400), s(60));
        assert_eq!(reacquire_floor(120), s(15));
        assert_eq!(reacquire_floor(1), s(1));
    }
}
