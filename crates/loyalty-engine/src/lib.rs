//! The write side of the Loyalty engine: one writer per process applies every change in
//! batches (`writer`), a cache of member accounts serves reads between writes (`cache`), the
//! scheduler advances accounts in time (`jobs`), and imports feed files through the same rules
//! (`import`). Every rule it applies lives in `loyalty-core`; every byte it keeps goes through
//! `loyalty-store`.

pub mod cache;
pub mod checkout_cache;
pub mod clock;
mod contain;
pub mod definitions;
pub mod import;
pub mod jobs;
pub mod writer;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use writer::{
    apply_batch, apply_batch_cached, apply_batches, growth_since, Command, Outcome, ReferralOutcome, Reply, WriteError,
    Writer, GROWTH_LOOKBACK_DAYS, MAX_BATCH, MAX_COMMANDS, MAX_HOLD_TTL_SECS,
};
