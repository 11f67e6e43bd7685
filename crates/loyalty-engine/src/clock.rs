//! Where "now" comes from. The domain core never reads the clock; the writer, the handlers and
//! the scheduler ask a [`Clock`] handed to them at start-up, so tests can set time instead of
//! waiting for it to pass.

use jiff::{SignedDuration, Timestamp};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of the current instant.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The shared handle every component keeps.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock: production.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until it is set or advanced: tests, and jobs whose every batch runs
/// at the one instant they were asked for.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn at(t: Timestamp) -> Arc<Self> {
        Arc::new(Self { micros: AtomicI64::new(t.as_microsecond()) })
    }

    pub fn set(&self, t: Timestamp) {
        self.micros.store(t.as_microsecond(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: SignedDuration) {
        let micros = i64::try_from(by.as_micros()).expect("a clock step fits in i64 microseconds");
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_microsecond(self.micros.load(Ordering::SeqCst)).expect("the manual clock holds a valid instant")
    }
}

/// The production clock as a shared handle.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let t0: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let c = ManualClock::at(t0);
        assert_eq!(c.now(), t0);
        c.advance(SignedDuration::from_hours(25));
        assert_eq!(c.now().to_string(), "2026-12-02T01:00:00Z");
        c.set(t0);
        assert_eq!(c.now(), t0);
    }
}
