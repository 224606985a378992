//! Simulated time. A run may start in the past (`--history-h`) and replay it `speed` times
//! faster than real time until it reaches the present, then go on in real time. The gateway
//! takes beats up to 7 days old, so hours of a fleet's life fit in minutes of a run: what the
//! detection-quality report needs for the rules that learn a trend or a baseline first.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    /// Simulated time at `started`, UTC milliseconds.
    sim_start_ms: i64,
    /// Real time at `started`, UTC milliseconds.
    real_start_ms: i64,
    started: Instant,
    speed: f64,
}

impl SimClock {
    /// A clock `history_ms` in the past running `speed` times faster than real time until it
    /// catches up.
    pub fn new(history_ms: i64, speed: f64) -> Self {
        let real_start_ms = ucx_common::now_ms();
        SimClock {
            sim_start_ms: real_start_ms - history_ms,
            real_start_ms,
            started: Instant::now(),
            speed: if history_ms > 0 { speed.max(1.0) } else { 1.0 },
        }
    }

    pub fn start_ms(&self) -> i64 {
        self.sim_start_ms
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Real milliseconds after the start at which the simulated clock shows `sim_ms`.
    fn real_offset_ms(&self, sim_ms: i64) -> f64 {
        let sim_elapsed = (sim_ms - self.sim_start_ms) as f64;
        // The simulated clock meets real time after `history / (speed - 1)` real milliseconds.
        let history = (self.real_start_ms - self.sim_start_ms) as f64;
        let catch_up = if self.speed > 1.0 {
            history / (self.speed - 1.0)
        } else {
            0.0
        };
        if sim_elapsed <= catch_up * self.speed {
            sim_elapsed / self.speed
        } else {
            sim_elapsed - history
        }
    }

    /// The real instant at which the simulated clock shows `sim_ms`.
    pub fn instant_of(&self, sim_ms: i64) -> Instant {
        self.started + Duration::from_millis(self.real_offset_ms(sim_ms).max(0.0) as u64)
    }

    /// Real UTC milliseconds at which the simulated clock shows `sim_ms`.
    pub fn wall_ms_of(&self, sim_ms: i64) -> i64 {
        self.real_start_ms + self.real_offset_ms(sim_ms) as i64
    }

    /// Simulated time when the replayed history ends (the present at that moment).
    pub fn caught_up_ms(&self) -> i64 {
        let history = self.real_start_ms - self.sim_start_ms;
        if self.speed > 1.0 {
            self.sim_start_ms + (history as f64 * self.speed / (self.speed - 1.0)) as i64
        } else {
            self.sim_start_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_history_fast_then_runs_in_real_time() {
        let clock = SimClock::new(3_600_000, 61.0);
        // One simulated hour at 61×, plus the minute of real time it took, fits in 60 s.
        let caught_up = clock.caught_up_ms();
        assert_eq!(caught_up - clock.start_ms(), 3_660_000);
        assert_eq!(
            clock.wall_ms_of(caught_up) - clock.real_start_ms,
            60_000,
            "the simulated clock meets real time after 60 s"
        );
        assert_eq!(clock.wall_ms_of(caught_up), caught_up);
        // Past that, a simulated second is a real one.
        assert_eq!(clock.wall_ms_of(caught_up + 5_000), caught_up + 5_000);
        assert_eq!(
            clock.wall_ms_of(clock.start_ms() + 610_000),
            clock.real_start_ms + 10_000
        );
    }

    #[test]
    fn without_history_it_is_real_time() {
        let clock = SimClock::new(0, 100.0);
        assert_eq!(clock.speed(), 1.0);
        assert_eq!(
            clock.wall_ms_of(clock.start_ms() + 1_234),
            clock.start_ms() + 1_234
        );
    }
}
