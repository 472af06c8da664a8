//! A bounded request rate per provider: calls are spaced at least 1/rate apart, and after a
//! 429 every call to the provider waits until the provider said it may be asked again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(super) struct Limiter {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
    /// No call before this (a 429 asked the whole provider to wait).
    paused: Mutex<Option<Instant>>,
}

impl Limiter {
    pub(super) fn new(per_second: Option<f64>) -> Limiter {
        Limiter {
            interval: per_second
                .filter(|rate| *rate > 0.0)
                .and_then(|rate| Duration::try_from_secs_f64(1.0 / rate).ok())
                // validate refuses rates below 0.01 per second; this keeps a worse one from
                // overflowing the clock.
                .map(|interval| interval.min(Duration::from_mins(2))),
            next: Mutex::new(None),
            paused: Mutex::new(None),
        }
    }

    /// No call to the provider before `until` (the latest hold wins).
    pub(super) fn hold(&self, until: Instant) {
        let mut paused = self
            .paused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *paused = Some(paused.map_or(until, |paused| paused.max(until)));
    }

    /// Waits for this call's slot.
    pub(super) async fn wait(&self) {
        let paused = *self
            .paused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = paused {
            tokio::time::sleep_until(until).await;
        }
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = next.map_or(now, |next| next.max(now));
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// An example refused this many times in a row fails, whatever its deadline: the backstop
/// for a provider that answers 429 with `Retry-After: 0` (or a delay scale of 0), which would
/// otherwise be asked again at once until the deadline.
pub(super) const MAX_LIMITED: u32 = 100;

/// How long the provider waits after an example's `absorbed`-th 429: what it asked for
/// (`Retry-After`), else a backoff that doubles from half a second to at most 30 s; after the
/// first 429, never less than the backoff one step back (a provider asking for 0 s again and
/// again is not asked again at once); plus up to half again as jitter, so the requests that
/// were refused together do not come back together.
pub(super) fn limited_wait(asked: Option<Duration>, absorbed: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let backoff = |step: u32| {
        Duration::from_millis(500)
            .saturating_mul(1 << step.min(6))
            .min(Duration::from_secs(30))
    };
    let floor = absorbed.checked_sub(1).map_or(Duration::ZERO, backoff);
    let base = asked.unwrap_or_else(|| backoff(absorbed)).max(floor);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(absorbed);
    let fraction = (hasher.finish() % 1000) as f64 / 2000.0;
    base.mul_f64(1.0 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_wait_is_what_was_asked_plus_jitter_else_a_doubling_backoff() {
        for _ in 0..50 {
            let wait = limited_wait(Some(Duration::from_secs(2)), 0);
            assert!(
                wait >= Duration::from_secs(2) && wait < Duration::from_secs(3),
                "{wait:?}"
            );
        }
        let first = limited_wait(None, 0);
        assert!(first >= Duration::from_millis(500) && first < Duration::from_millis(750));
        let later = limited_wait(None, 3);
        assert!(later >= Duration::from_secs(4) && later < Duration::from_secs(6));
        assert!(limited_wait(None, 40) < Duration::from_secs(45));
        // A provider that keeps asking for no wait at all gets the backoff after its first 429.
        assert!(limited_wait(Some(Duration::ZERO), 0) == Duration::ZERO);
        assert!(limited_wait(Some(Duration::ZERO), 1) >= Duration::from_millis(500));
        assert!(limited_wait(Some(Duration::ZERO), 4) >= Duration::from_secs(4));
        // Jitter: waits asked together do not all end together.
        let waits: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| limited_wait(Some(Duration::from_secs(1)), 0))
            .collect();
        assert!(waits.len() > 1, "{waits:?}");
    }
}
