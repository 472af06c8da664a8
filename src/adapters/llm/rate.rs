//! A bounded request rate per provider: calls are spaced at least 1/rate apart.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(super) struct Limiter {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
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
        }
    }

    /// Waits for this call's slot.
    pub(super) async fn wait(&self) {
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
