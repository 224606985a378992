//! Cell rate limiters keyed by who is asking: beats per installation (a batch of n beats costs
//! n), so one flooding server is slowed down and no other notices; and failed authentications
//! per client address, so guessing keys or a misconfigured fleet behind one address gets 429
//! instead of a 401 per request at full speed.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub struct RateLimit<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

/// Beats per installation id.
pub type InstallationRateLimit = RateLimit<String>;
/// Failed authentications per client address.
pub type FailedAuthLimit = RateLimit<IpAddr>;

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// `per_second` sustained, up to `burst` at once; both must be positive.
    pub fn per_second(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_second(per_second).allow_burst(burst))
    }

    /// `per_minute` sustained, as many at once.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_minute(per_minute))
    }

    fn with_quota(quota: Quota) -> Self {
        RateLimit {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes `cost` from the key's allowance, or says how long to wait.
    pub fn check(&self, key: &K, cost: usize) -> Result<(), Duration> {
        let Some(cost) = u32::try_from(cost).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match self.limiter.check_key_n(key, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // More than the burst: never allowed at once. The config check keeps batches
            // within the burst, so this only answers a misconfiguration, with a full period.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }

    /// Forgets keys whose allowance is full again (bounds memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Whole seconds to wait, rounded up: retrying earlier would be refused again.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_limited_per_key() {
        let limit = InstallationRateLimit::per_second(
            NonZeroU32::new(1).unwrap(),
            NonZeroU32::new(10).unwrap(),
        );
        assert!(limit.check(&"a".to_string(), 10).is_ok());
        let wait = limit.check(&"a".to_string(), 1).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limit.check(&"b".to_string(), 10).is_ok(),
            "another installation is unaffected"
        );
    }
}
