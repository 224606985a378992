//! Per-installation rate limit on beats (a batch of n beats costs n): a generic cell rate
//! limiter per installation id, so one flooding server is slowed down and no other notices.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub struct InstallationRateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl InstallationRateLimit {
    /// `beats_per_second` sustained, up to `burst` at once; both must be positive.
    pub fn new(beats_per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(beats_per_second).allow_burst(burst);
        InstallationRateLimit {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes `beats` from the installation's allowance, or says how long to wait.
    pub fn check(&self, installation_id: &str, beats: usize) -> Result<(), Duration> {
        let Some(beats) = u32::try_from(beats).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match self
            .limiter
            .check_key_n(&installation_id.to_string(), beats)
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // More beats than the burst: never allowed at once. The config check keeps batches
            // within the burst, so this only answers a misconfiguration, with a full period.
            Err(_) => Err(Duration::from_secs(1)),
        }
    }

    /// Forgets installations whose allowance is full again (bounds memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_limited_per_installation() {
        let limit =
            InstallationRateLimit::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(10).unwrap());
        assert!(limit.check("a", 10).is_ok());
        let wait = limit.check("a", 1).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limit.check("b", 10).is_ok(),
            "another installation is unaffected"
        );
    }
}
