//! How long to wait before delivering a failed event again.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with full jitter, bounded by `max`, for `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failure (1-based): half fixed, half random,
    /// so that many workers failing together do not retry in lockstep.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
            .min(self.max);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let p = RetryPolicy {
            attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let first = p.backoff(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let fourth = p.backoff(4);
        assert!(fourth >= Duration::from_millis(400) && fourth <= Duration::from_millis(800));
        for n in 1..40 {
            assert!(p.backoff(n) <= Duration::from_secs(1));
        }
    }
}
