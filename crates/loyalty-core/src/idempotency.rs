//! The rules of `Idempotency-Key`: how long an answer is kept and what a key may be.

/// A kept response is replayed for at least this long after the request that made it.
pub const KEEP_HOURS: i64 = 48;

/// The longest key a client may send.
pub const MAX_KEY_LEN: usize = 255;
