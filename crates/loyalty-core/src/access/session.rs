//! An operator's console session: a random id in an `HttpOnly` cookie, kept in the store only
//! as its SHA-256, with an idle timeout and an absolute one.

use jiff::{SignedDuration, Timestamp};

/// Bytes of a session id (hex in the cookie): as long as an API key.
pub const SESSION_ID_BYTES: usize = 32;

/// How long a console session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session not used for this long is over.
    pub idle: SignedDuration,
    /// A session is over this long after sign-in, however much it is used.
    pub absolute: SignedDuration,
    /// `last_seen_at` is written at most this often, so that a page view is not a write.
    pub touch_every: SignedDuration,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours in all, last use written once a minute.
    fn default() -> Self {
        Self {
            idle: SignedDuration::from_mins(30),
            absolute: SignedDuration::from_hours(12),
            touch_every: SignedDuration::from_mins(1),
        }
    }
}

/// What a stored session is at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Usable; `touch` when its last use should be written now.
    Live { touch: bool },
    /// Not used for longer than the idle timeout.
    Idle,
    /// Past its absolute end.
    Expired,
}

impl SessionPolicy {
    /// The absolute end of a session signed in at `created_at`.
    pub fn expires_at(&self, created_at: Timestamp) -> Timestamp {
        created_at.saturating_add(self.absolute).expect("a signed duration added saturating")
    }

    /// The state of a session signed in at `created_at`, last used at `last_seen_at`, at `now`.
    /// Because `last_seen_at` is written at most every `touch_every`, a session may end up to
    /// that much before its idle timeout: never after.
    pub fn state(&self, created_at: Timestamp, last_seen_at: Timestamp, now: Timestamp) -> SessionState {
        if now >= self.expires_at(created_at) {
            return SessionState::Expired;
        }
        let idle_for = now.duration_since(last_seen_at);
        if idle_for >= self.idle {
            return SessionState::Idle;
        }
        SessionState::Live { touch: idle_for >= self.touch_every }
    }

    /// Sessions last used before this instant are idle at `now` (what a purge deletes).
    pub fn idle_before(&self, now: Timestamp) -> Timestamp {
        now.saturating_sub(self.idle).expect("a signed duration subtracted saturating")
    }
}

/// The hash a session id is kept under: the store never holds an id that would sign in.
pub fn session_hash(session_id: &str) -> String {
    super::digest(&[b"loyalty-console-session", session_id.as_bytes()])
}

/// A new session id from `SESSION_ID_BYTES` random bytes.
pub fn session_id(random: [u8; SESSION_ID_BYTES]) -> String {
    hex::encode(random)
}

/// Whether a cookie's value has the form of a session id (64 hex digits): anything else is
/// refused before the store is asked.
pub fn looks_like_session_id(raw: &str) -> bool {
    raw.len() == 2 * SESSION_ID_BYTES && raw.bytes().all(|b| b.is_ascii_hexdigit())
}
