//! Whether the database answers, as every path to it sees it: the pool's connection attempts, its
//! checkouts, and the change listener. Known-down is what lets a write be refused at once instead
//! of waiting out the checkout timeout, and lets gateways be served from memory meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct DbHealth {
    origin: Instant,
    /// Milliseconds after `origin` at which the database last answered.
    last_seen: AtomicU64,
    down: AtomicBool,
}

impl Default for DbHealth {
    fn default() -> Self {
        Self { origin: Instant::now(), last_seen: AtomicU64::new(0), down: AtomicBool::new(false) }
    }
}

impl DbHealth {
    /// The database answered (a connection opened or passed its check, a heartbeat came back).
    pub fn seen(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_seen.fetch_max(now, Ordering::AcqRel);
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("the database answers again");
        }
    }

    /// A connection could not be opened, or one broke: nothing answers until [`Self::seen`].
    pub fn lost(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!("the database does not answer; writes are refused and gateways served from memory");
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// While the database is known down: how long ago it last answered.
    pub fn down_for(&self) -> Option<Duration> {
        self.is_down().then(|| self.since_seen())
    }

    fn since_seen(&self) -> Duration {
        self.origin.elapsed().saturating_sub(Duration::from_millis(self.last_seen.load(Ordering::Acquire)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_until_seen_and_counts_from_the_last_answer() {
        let health = DbHealth::default();
        assert_eq!(health.down_for(), None);
        health.seen();
        health.lost();
        health.lost();
        assert!(health.down_for().is_some_and(|d| d < Duration::from_secs(5)));
        health.seen();
        assert_eq!(health.down_for(), None);
    }
}
