//! Storm control: at most N alert mails per customer in any window (an hour by default). The
//! count is rebuilt from the ledger at start, so a restart does not reopen the floodgates.

use std::collections::{HashMap, VecDeque};

pub struct Throttle {
    per_window: u32,
    window_ms: i64,
    /// customer → when its recent mails went out (UTC ms), oldest first
    sent: HashMap<String, VecDeque<i64>>,
}

impl Throttle {
    /// `per_window` 0: no limit.
    pub fn new(per_window: u32, window_ms: i64) -> Self {
        Throttle {
            per_window,
            window_ms,
            sent: HashMap::new(),
        }
    }

    /// Whether another mail to `customer_id` fits into the window before `now_ms`.
    pub fn allows(&mut self, customer_id: &str, now_ms: i64) -> bool {
        if self.per_window == 0 {
            return true;
        }
        let Some(sent) = self.sent.get_mut(customer_id) else {
            return true;
        };
        while sent
            .front()
            .is_some_and(|&at| at <= now_ms - self.window_ms)
        {
            sent.pop_front();
        }
        sent.len() < self.per_window as usize
    }

    pub fn record(&mut self, customer_id: &str, at_ms: i64) {
        let sent = self.sent.entry(customer_id.to_string()).or_default();
        let position = sent.partition_point(|&earlier| earlier <= at_ms);
        sent.insert(position, at_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn n_mails_an_hour_then_none_until_the_oldest_is_an_hour_old() {
        let mut throttle = Throttle::new(2, HOUR_MS);
        assert!(throttle.allows("c", 0));
        throttle.record("c", 0);
        throttle.record("c", 10);
        assert!(!throttle.allows("c", 20));
        assert!(throttle.allows("other", 20), "per customer");
        assert!(!throttle.allows("c", HOUR_MS - 1));
        assert!(throttle.allows("c", HOUR_MS));
        assert!(Throttle::new(0, HOUR_MS).allows("c", 0), "0: no limit");
    }
}
