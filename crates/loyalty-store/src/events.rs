//! The event log (`Events`): the outbox read forward from a cursor, the members a
//! `points.expiring` notice may be due to, and `verify`'s checks. Events are written by a batch
//! through [`crate::Tx::write`], in the transaction of the change they record (`Changes::events`),
//! after everything else it writes: their positions come from the one-row `event_log`, whose
//! lock is held from then to the commit (migration 0018 says why that makes them commit order).

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::Timestamp;
use loyalty_core::events::{Event, EventType};
use loyalty_core::ids::MemberId;

/// An event with its position in the log: its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: Event,
}

/// A page of the log.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Where the next page starts: the last position this page looked at (the last event's
    /// when the page is full), so that a page that found nothing of the types asked still
    /// moves the reader on.
    pub next: i64,
    /// The last position written when the page was read.
    pub head: i64,
}

#[async_trait]
pub trait Events: Send + Sync {
    /// The events after position `after`, in order, of `kinds` (every type when empty): at
    /// most `limit` of them, from at most the `scan` positions after `after`, so that a filter
    /// matching little never walks the whole log in one request.
    async fn events_after(&self, after: i64, kinds: &[EventType], limit: i64, scan: i64) -> crate::Result<EventPage>;
    /// Members with active points expiring after `now` and by `until` that were not told on
    /// `day` or later, by id, at most `limit`.
    async fn expiring_members(
        &self,
        now: Timestamp,
        until: Timestamp,
        day: Date,
        limit: i64,
    ) -> crate::Result<Vec<MemberId>>;
    /// What is wrong with the log, each a sentence, at most `limit`: positions with gaps or a
    /// counter that disagrees, rows that do not read as their type, and orders and refunds
    /// recorded since the log began without exactly one `order.placed` or `order.refunded`.
    async fn event_problems(&self, limit: i64) -> crate::Result<Vec<String>>;
}
