//! Lambda's retry schedule for asynchronous events, as pure functions of the attempts so far.
//!
//! - A function error is retried `MaximumRetryAttempts` times (0–2): about one minute after the
//!   first failure, two minutes after the second.
//! - A throttle or system error is retried with exponential backoff (1 s doubling up to 5 min)
//!   and does not count as a retry.
//! - Nothing is tried once the event is older than `MaximumEventAgeInSeconds`.
//!
//! Every duration is multiplied by the time scale (`--async-time-scale`), so tests can run the
//! whole schedule, maximum age included, in seconds.

use crate::event::Condition;
use std::time::Duration;

const FIRST_RETRY_DELAY: Duration = Duration::from_secs(60);
const THROTTLE_FIRST_DELAY: Duration = Duration::from_secs(1);
const THROTTLE_MAX_DELAY: Duration = Duration::from_secs(300);

/// What to do after an attempt that did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again at this instant (Unix epoch ms).
    RetryAt(u64),
    /// Give up with this condition.
    Final(Condition),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// 1.0 = Lambda's real schedule; 0.01 = a hundred times faster.
    pub time_scale: f64,
}

impl Schedule {
    pub fn new(time_scale: f64) -> Self {
        let time_scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            1.0
        };
        Self { time_scale }
    }

    fn scaled_ms(&self, d: Duration) -> u64 {
        (d.as_secs_f64() * 1000.0 * self.time_scale).round() as u64
    }

    /// The instant (epoch ms) from which an event accepted at `enqueued_ms` is too old.
    pub fn expiry_ms(&self, enqueued_ms: u64, max_age_seconds: u32) -> u64 {
        enqueued_ms + self.scaled_ms(Duration::from_secs(u64::from(max_age_seconds)))
    }

    /// The delay before retry number `retry` (1-based) after a function error.
    pub fn function_error_delay(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(8);
        Duration::from_millis(self.scaled_ms(FIRST_RETRY_DELAY * factor))
    }

    /// The delay after the `n`th throttle or system error (1-based).
    pub fn throttle_delay(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        let delay = (THROTTLE_FIRST_DELAY * factor).min(THROTTLE_MAX_DELAY);
        Duration::from_millis(self.scaled_ms(delay))
    }

    /// After the `function_errors`th function error (this one included).
    pub fn after_function_error(
        &self,
        function_errors: u32,
        max_retries: u32,
        enqueued_ms: u64,
        max_age_seconds: u32,
        now_ms: u64,
    ) -> Next {
        if function_errors > max_retries {
            return Next::Final(Condition::RetriesExhausted);
        }
        let due = now_ms + self.function_error_delay(function_errors).as_millis() as u64;
        self.unless_too_old(due, enqueued_ms, max_age_seconds)
    }

    /// After the `throttles`th throttle or system error (this one included).
    pub fn after_throttle(
        &self,
        throttles: u32,
        enqueued_ms: u64,
        max_age_seconds: u32,
        now_ms: u64,
    ) -> Next {
        let due = now_ms + self.throttle_delay(throttles).as_millis() as u64;
        self.unless_too_old(due, enqueued_ms, max_age_seconds)
    }

    /// Whether an event must not be tried at `now_ms` because it is too old.
    pub fn expired(&self, enqueued_ms: u64, max_age_seconds: u32, now_ms: u64) -> bool {
        now_ms >= self.expiry_ms(enqueued_ms, max_age_seconds)
    }

    /// A retry that would come after the event's maximum age is not made: the event fails now.
    fn unless_too_old(&self, due: u64, enqueued_ms: u64, max_age_seconds: u32) -> Next {
        if due >= self.expiry_ms(enqueued_ms, max_age_seconds) {
            Next::Final(Condition::EventAgeExceeded)
        } else {
            Next::RetryAt(due)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: u32 = 21_600;

    #[test]
    fn function_errors_follow_lambdas_one_then_two_minutes() {
        let s = Schedule::new(1.0);
        assert_eq!(s.function_error_delay(1), Duration::from_secs(60));
        assert_eq!(s.function_error_delay(2), Duration::from_secs(120));
        assert_eq!(
            s.after_function_error(1, 2, 0, AGE, 0),
            Next::RetryAt(60_000)
        );
        assert_eq!(
            s.after_function_error(2, 2, 0, AGE, 60_000),
            Next::RetryAt(180_000)
        );
        assert_eq!(
            s.after_function_error(3, 2, 0, AGE, 180_000),
            Next::Final(Condition::RetriesExhausted)
        );
        assert_eq!(
            s.after_function_error(1, 0, 0, AGE, 0),
            Next::Final(Condition::RetriesExhausted)
        );
    }

    #[test]
    fn a_retry_past_the_maximum_age_is_not_made() {
        let s = Schedule::new(1.0);
        // Max age 60 s: the first retry would come at 60 s, which is already too old.
        assert_eq!(
            s.after_function_error(1, 2, 0, 60, 10),
            Next::Final(Condition::EventAgeExceeded)
        );
        // Max age 120 s: one retry at 60 s, the second (at 180 s) is too late.
        assert_eq!(
            s.after_function_error(1, 2, 0, 120, 0),
            Next::RetryAt(60_000)
        );
        assert_eq!(
            s.after_function_error(2, 2, 0, 120, 60_000),
            Next::Final(Condition::EventAgeExceeded)
        );
    }

    #[test]
    fn throttles_back_off_exponentially_up_to_five_minutes_until_the_age_limit() {
        let s = Schedule::new(1.0);
        let delays: Vec<u64> = (1..=11).map(|n| s.throttle_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(s.after_throttle(1, 0, 60, 0), Next::RetryAt(1000));
        assert_eq!(
            s.after_throttle(10, 0, 60, 59_000),
            Next::Final(Condition::EventAgeExceeded)
        );
        assert!(s.expired(0, 60, 60_000));
        assert!(!s.expired(0, 60, 59_999));
    }

    #[test]
    fn the_time_scale_shrinks_every_duration() {
        let s = Schedule::new(0.01);
        assert_eq!(s.function_error_delay(1), Duration::from_millis(600));
        assert_eq!(s.function_error_delay(2), Duration::from_millis(1200));
        assert_eq!(s.throttle_delay(1), Duration::from_millis(10));
        assert_eq!(s.expiry_ms(1000, 60), 1600);
        assert_eq!(Schedule::new(f64::NAN).time_scale, 1.0);
        assert_eq!(Schedule::new(-1.0).time_scale, 1.0);
    }
}
