//! When and how long to wait before trying a request again: exponential backoff with jitter,
//! `Retry-After` honoured, bounded in attempts and in total time.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant};

/// Bounds for retrying 429, 5xx and dropped connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Cap of one backoff wait (a server's `Retry-After` may ask for longer, within `max_total`).
    pub max_delay: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff before retry number `retry` (0 for the first retry): `base · 2^retry`,
    /// capped at `max_delay`, plus up to 25 % jitter so that many clients do not retry in step.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max_delay);
        let jitter_ms = (capped.as_millis() as u64 / 4).max(1);
        let jitter = Duration::from_millis(random_u64() % jitter_ms);
        capped + jitter
    }
}

fn random_u64() -> u64 {
    // RandomState is seeded from the OS per instance: enough entropy for jitter, no extra crate.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}

/// Whether an HTTP status is worth retrying (kube-apiserver's throttling and transient errors).
pub fn is_retryable_status(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

/// Parses a `Retry-After` header in seconds (the form kube-apiserver sends). HTTP dates are not
/// used by the API server and are ignored (normal backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Retry bookkeeping for one logical request.
#[derive(Debug)]
pub struct RetryState {
    policy: RetryPolicy,
    started: Instant,
    attempts: u32,
}

impl RetryState {
    /// Starts counting (the first attempt is about to be made).
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            started: Instant::now(),
            attempts: 1,
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long to wait before the next attempt, or `None` to give up: no attempts left, or
    /// the wait would end past the total budget. `retry_after` from the server replaces the
    /// backoff when it is longer.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.next_delay_at(retry_after, Instant::now())
    }

    fn next_delay_at(&mut self, retry_after: Option<Duration>, now: Instant) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let backoff = self.policy.backoff(self.attempts - 1);
        let delay = retry_after.map_or(backoff, |ra| ra.max(backoff));
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed + delay > self.policy.max_total {
            return None;
        }
        self.attempts += 1;
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_total: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = policy();
        for (retry, base) in [(0, 100), (1, 200), (2, 300), (3, 300), (40, 300)] {
            let d = p.backoff(retry).as_millis();
            assert!(
                d >= base && d < base + base / 4 + 1,
                "retry {retry}: {d} ms"
            );
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let mut s = RetryState::new(policy());
        let now = Instant::now();
        assert!(s.next_delay_at(None, now).is_some());
        assert!(s.next_delay_at(None, now).is_some());
        assert!(s.next_delay_at(None, now).is_some());
        assert_eq!(s.attempts(), 4);
        assert_eq!(s.next_delay_at(None, now), None);
    }

    #[test]
    fn retry_after_is_honoured_and_bounded_by_total_time() {
        let mut s = RetryState::new(policy());
        let now = Instant::now();
        assert_eq!(
            s.next_delay_at(Some(Duration::from_secs(2)), now),
            Some(Duration::from_secs(2))
        );
        // A Retry-After shorter than the backoff does not shorten it.
        let d = s.next_delay_at(Some(Duration::ZERO), now).unwrap();
        assert!(d >= Duration::from_millis(200));
        // Past the total budget: give up rather than sleep.
        let mut s = RetryState::new(policy());
        assert_eq!(s.next_delay_at(Some(Duration::from_secs(10)), now), None);
        let later = now + Duration::from_millis(4_950);
        assert_eq!(s.next_delay_at(None, later), None);
    }

    #[test]
    fn retryable_statuses_and_retry_after_parsing() {
        for code in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(code));
        }
        for code in [200, 400, 401, 403, 404, 409, 422, 501] {
            assert!(!is_retryable_status(code));
        }
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn none_policy_never_retries() {
        assert_eq!(RetryState::new(RetryPolicy::none()).next_delay(None), None);
    }
}
