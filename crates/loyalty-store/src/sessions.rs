//! Console sessions and the engine's own secrets (`Sessions`), and finding members by contact
//! (`MemberSearch`). Neither is a member's write, so neither goes through the writer: a
//! session is an operator's row, like an API key, written through the pool.

use async_trait::async_trait;
use jiff::Timestamp;
use loyalty_core::ids::MemberId;

/// A signed-in operator, as stored: never the session id itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub session_hash: String,
    /// The API key's name (the actor of what the operator does) and scope.
    pub principal: String,
    pub scope: String,
    /// The key signed in with, so that a revoked key ends the session.
    pub key_hash: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end (the idle end follows from `last_seen_at`).
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait Sessions: Send + Sync {
    async fn insert_session(&self, s: &ConsoleSession) -> crate::Result<()>;
    async fn session(&self, session_hash: &str) -> crate::Result<Option<ConsoleSession>>;
    /// Records a use at `at` (never moves `last_seen_at` back).
    async fn touch_session(&self, session_hash: &str, at: Timestamp) -> crate::Result<()>;
    /// Signs out: whether there was such a session.
    async fn delete_session(&self, session_hash: &str) -> crate::Result<bool>;
    /// Deletes sessions past their absolute end at `now` or last used before `idle_before`.
    async fn purge_sessions(&self, now: Timestamp, idle_before: Timestamp) -> crate::Result<u64>;
    /// The secret called `name`: the one stored, or `candidate` if none was, stored now. Every
    /// node that asks gets the same one, whichever asked first.
    async fn server_secret(&self, name: &str, candidate: &str, now: Timestamp) -> crate::Result<String>;
}

/// Which contact a search looks members up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// Digits only (`normalise_phone`).
    Phone,
    /// Trimmed and lower-cased (`normalise_email`).
    Email,
}

/// Most members one contact search returns (a phone may be shared by a household).
pub const MAX_CONTACT_MATCHES: i64 = 50;

#[async_trait]
pub trait MemberSearch: Send + Sync {
    /// Members whose phone or email, normalised, is `normalised`, by id, at most `limit`
    /// (bounded by [`MAX_CONTACT_MATCHES`]): one probe of an expression index.
    async fn members_by_contact(&self, contact: Contact, normalised: &str, limit: i64) -> crate::Result<Vec<MemberId>>;
}
