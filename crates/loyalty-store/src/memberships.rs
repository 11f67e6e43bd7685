//! Paid memberships (`Memberships`): a member's membership with its terms and history, the
//! savings its benefit uses add up, who the scheduler must visit, `verify`'s checks and the
//! facts the paid-membership report is computed from. Changes are a batch's, written through
//! [`crate::Tx::write`] with the orders and coupons they go with.

use async_trait::async_trait;
use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_core::membership::{Event, Membership};

/// Most history entries one page reads.
pub const MAX_EVENTS_PAGE: i64 = 500;

/// One term as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermFact {
    pub member_id: String,
    pub plan: String,
    pub trial: bool,
    pub paid_minor: i64,
    pub refunded_minor: i64,
    pub starts_at: Timestamp,
    /// The end of its benefits (cut short by a refund or an upgrade).
    pub end: Timestamp,
    pub tier: String,
    pub segment: Option<String>,
}

#[async_trait]
pub trait Memberships: Send + Sync {
    /// The member's membership with every term; `None` if the member never had one.
    async fn membership(&self, member: &MemberId) -> crate::Result<Option<Membership>>;
    /// History entries, newest first, with `seq` below `before`.
    async fn membership_events(&self, member: &MemberId, before: Option<i64>, limit: i64) -> crate::Result<Vec<Event>>;
    /// Σ value of the member's benefit uses that a plan gave, used in `[from, to)`: what the
    /// member saved.
    async fn plan_savings(&self, member: &MemberId, from: Timestamp, to: Timestamp) -> crate::Result<i64>;
    /// Members whose membership needs the scheduler by `now` (a notice, a grace, a lapse, a pack).
    async fn due_memberships(&self, now: Timestamp, limit: i64) -> crate::Result<Vec<MemberId>>;
    /// Memberships in member order after `after`, for `verify`, with each member's stored
    /// benefits window and its history's count and largest `seq`.
    async fn membership_page(&self, after: Option<&str>, limit: i64) -> crate::Result<Vec<MembershipAudit>>;
    /// Every term that overlaps `[from, to)` (and, with `plan`, of that plan), for the report.
    async fn term_facts(&self, from: Timestamp, to: Timestamp, plan: Option<&str>) -> crate::Result<Vec<TermFact>>;
    /// Σ value of plan benefit uses in `[from, to)`, per plan.
    async fn plan_benefit_cost(&self, from: Timestamp, to: Timestamp) -> crate::Result<Vec<(String, i64)>>;
}

/// What `verify` reads of one membership.
#[derive(Debug, Clone)]
pub struct MembershipAudit {
    pub membership: Membership,
    pub stored_cover: Option<loyalty_core::membership::Cover>,
    pub events: i64,
    pub max_seq: i64,
    pub next_due_at: Option<Timestamp>,
}
