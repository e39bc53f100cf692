//! Per-source back-off after failed logins: once a source (an IPv4 address, or an IPv6 /64,
//! since one host owns a whole /64) has failed `threshold` logins, its new connections are
//! refused for `base`, doubling with each further failure up to `max`. A successful login
//! from the source forgets it; so do `FORGET_AFTER` quiet minutes. Pure: the caller passes
//! the time, so the policy is tested without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longest back-off, whatever the number of failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A source with no failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Sources remembered at most (the oldest is forgotten first).
const MAX_SOURCES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source an address belongs to.
    pub fn of(ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(a) => Source(IpAddr::V4(a)),
            IpAddr::V6(a) => {
                let bits = u128::from(a) & (u128::MAX << 64);
                Source(IpAddr::V6(bits.into()))
            }
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

#[derive(Debug, Clone)]
struct Record {
    failures: u32,
    last_failure: Instant,
}

#[derive(Debug)]
pub struct Backoff {
    threshold: u32,
    base: Duration,
    sources: HashMap<Source, Record>,
}

impl Backoff {
    pub fn new(threshold: u32, base: Duration) -> Self {
        Backoff {
            threshold: threshold.max(1),
            base,
            sources: HashMap::new(),
        }
    }

    /// Until when `source` is refused, if it is.
    pub fn blocked_until(&self, source: Source, now: Instant) -> Option<Instant> {
        let r = self.sources.get(&source)?;
        if r.failures < self.threshold || self.base.is_zero() {
            return None;
        }
        let doublings = (r.failures - self.threshold).min(16);
        let delay = self
            .base
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF.max(self.base));
        let until = r.last_failure + delay;
        (until > now).then_some(until)
    }

    /// Counts a failed login. Returns the failures so far and, when this failure starts
    /// (or lengthens) a back-off, until when.
    pub fn failed(&mut self, source: Source, now: Instant) -> (u32, Option<Instant>) {
        self.forget_old(now);
        if !self.sources.contains_key(&source) && self.sources.len() >= MAX_SOURCES {
            if let Some(oldest) = self
                .sources
                .iter()
                .min_by_key(|(_, r)| r.last_failure)
                .map(|(s, _)| *s)
            {
                self.sources.remove(&oldest);
            }
        }
        let r = self.sources.entry(source).or_insert(Record {
            failures: 0,
            last_failure: now,
        });
        r.failures = r.failures.saturating_add(1);
        r.last_failure = now;
        let failures = r.failures;
        (failures, self.blocked_until(source, now))
    }

    /// A successful login: the source starts afresh.
    pub fn succeeded(&mut self, source: Source) {
        self.sources.remove(&source);
    }

    fn forget_old(&mut self, now: Instant) {
        self.sources
            .retain(|_, r| now.saturating_duration_since(r.last_failure) < FORGET_AFTER);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Source {
        Source::of(s.parse().unwrap())
    }

    #[test]
    fn blocks_after_threshold_and_doubles() {
        let t0 = Instant::now();
        let mut b = Backoff::new(3, Duration::from_secs(10));
        let a = src("203.0.113.7");
        assert_eq!(b.failed(a, t0), (1, None));
        assert_eq!(b.failed(a, t0), (2, None));
        assert_eq!(b.blocked_until(a, t0), None);
        let (n, until) = b.failed(a, t0);
        assert_eq!(n, 3);
        assert_eq!(until, Some(t0 + Duration::from_secs(10)));
        assert!(b.blocked_until(a, t0 + Duration::from_secs(9)).is_some());
        assert_eq!(b.blocked_until(a, t0 + Duration::from_secs(10)), None);
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(b.failed(a, t1).1, Some(t1 + Duration::from_secs(20)));
        assert_eq!(b.blocked_until(src("203.0.113.8"), t1), None, "per source");
    }

    #[test]
    fn capped_and_forgotten() {
        let t0 = Instant::now();
        let mut b = Backoff::new(1, Duration::from_secs(10));
        let a = src("10.0.0.1");
        let mut until = None;
        for _ in 0..40 {
            until = b.failed(a, t0).1;
        }
        assert_eq!(until, Some(t0 + MAX_BACKOFF));
        b.failed(src("10.0.0.2"), t0 + FORGET_AFTER);
        assert_eq!(b.len(), 1, "the quiet source was forgotten");
    }

    #[test]
    fn success_resets() {
        let t0 = Instant::now();
        let mut b = Backoff::new(1, Duration::from_secs(10));
        let a = src("10.0.0.1");
        b.failed(a, t0);
        assert!(b.blocked_until(a, t0).is_some());
        b.succeeded(a);
        assert!(b.blocked_until(a, t0).is_none());
    }

    #[test]
    fn ipv6_sources_are_slash_64_and_mapped_v4_is_v4() {
        assert_eq!(src("2001:db8::1"), src("2001:db8::ffff:1"));
        assert_ne!(src("2001:db8::1"), src("2001:db8:0:1::1"));
        assert_eq!(src("::ffff:10.0.0.1"), src("10.0.0.1"));
        assert_eq!(src("2001:db8::1").to_string(), "2001:db8::/64");
    }

    #[test]
    fn zero_base_disables() {
        let t0 = Instant::now();
        let mut b = Backoff::new(1, Duration::ZERO);
        assert_eq!(b.failed(src("10.0.0.1"), t0).1, None);
    }

    #[test]
    fn table_is_bounded() {
        let t0 = Instant::now();
        let mut b = Backoff::new(5, Duration::from_secs(1));
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            b.failed(Source::of(ip.into()), t0 + Duration::from_millis(i.into()));
        }
        assert_eq!(b.len(), MAX_SOURCES);
    }
}
