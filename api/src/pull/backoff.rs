//! Retry delays after a failure: 1 s doubling to 30 s, each spread by ±20 % so that a fleet of
//! gateways cut off together does not come back in lockstep.

use std::time::Duration;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(30);
const SPREAD: f64 = 0.2;

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt; each call counts one more failure.
    pub fn next(&mut self) -> Duration {
        let base = FIRST.saturating_mul(1 << self.failures.min(16)).min(MAX);
        self.failures = self.failures.saturating_add(1);
        jitter(base, unit_random())
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `base` scaled by a factor in [1 - SPREAD, 1 + SPREAD); `r` is uniform in [0, 1).
fn jitter(base: Duration, r: f64) -> Duration {
    base.mul_f64(1.0 - SPREAD + 2.0 * SPREAD * r)
}

fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    // A failing system RNG only costs the spread, not the retry.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_the_spread() {
        let mut b = Backoff::default();
        let bounds = |secs: f64| (Duration::from_secs_f64(secs * 0.8), Duration::from_secs_f64(secs * 1.2));
        for expected in [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0] {
            let d = b.next();
            let (low, high) = bounds(expected);
            assert!(low <= d && d < high, "{d:?} not within {low:?}..{high:?}");
        }
        for _ in 0..100 {
            assert!(b.next() < Duration::from_secs(36), "never above the cap plus spread");
        }
        b.reset();
        assert!(b.next() < Duration::from_millis(1200));
    }

    #[test]
    fn jitter_spans_the_whole_spread() {
        let base = Duration::from_secs(10);
        assert_eq!(jitter(base, 0.0), Duration::from_secs(8));
        assert_eq!(jitter(base, 0.5), Duration::from_secs(10));
        assert!(jitter(base, 0.999_999) < Duration::from_secs(12));
        assert!(unit_random() < 1.0 && unit_random() >= 0.0);
    }
}
