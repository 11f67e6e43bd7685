//! The event log (outbox): every state change a store or a member cares about becomes an
//! [`Event`], written in the transaction that makes the change and read in commit order by
//! `GET /v1/events`. This module holds what an event is: its types and their stable names and
//! codes, each type's versioned payload (`payload`), the id derived from what caused it, the
//! `[events]` settings, and the rule of the daily `points.expiring` notice. Which events a
//! batch of writes makes is the engine's (`loyalty-engine/src/writer/events.rs`); where they
//! are kept, the store's.

mod expiring;
mod payload;
mod positional;
#[cfg(feature = "openapi")]
pub mod schema;
#[cfg(test)]
mod tests;

pub(crate) use expiring::validate_settings;
pub use expiring::{expiring_notice, EventSettings, MAX_EXPIRING_DAYS};
pub use payload::*;

use crate::ids::MemberId;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident = ($name:literal, $code:literal, $shape:ident)),+ $(,)?) => {
        /// An event's type. Its name is what the API shows and filters by; its code is what
        /// the store keeps. Both are stable: a type is never renamed or renumbered.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType { $($(#[$doc])* $variant),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];
            pub fn name(self) -> &'static str {
                match self { $(EventType::$variant => $name),+ }
            }
            pub fn code(self) -> i64 {
                match self { $(EventType::$variant => $code),+ }
            }
            /// The payload this type carries.
            pub fn shape(self) -> Shape {
                match self { $(EventType::$variant => Shape::$shape),+ }
            }
            pub fn from_name(raw: &str) -> Option<Self> {
                match raw { $($name => Some(EventType::$variant),)+ _ => None }
            }
            pub fn from_code(code: i64) -> Option<Self> {
                match code { $($code => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    MemberCreated = ("member.created", 1, MemberCreated),
    MemberUpdated = ("member.updated", 2, MemberUpdated),
    OrderPlaced = ("order.placed", 3, OrderPlaced),
    OrderRefunded = ("order.refunded", 4, OrderRefunded),
    PointsEarned = ("points.earned", 5, PointsEarned),
    PointsActivated = ("points.activated", 6, PointsTotal),
    PointsRedeemed = ("points.redeemed", 7, PointsMoved),
    PointsExpired = ("points.expired", 8, PointsTotal),
    PointsExpiring = ("points.expiring", 9, PointsExpiring),
    PointsDeducted = ("points.deducted", 10, PointsMoved),
    PointsRestored = ("points.restored", 11, PointsMoved),
    TierUpgraded = ("tier.upgraded", 20, TierChanged),
    TierAtRisk = ("tier.at_risk", 21, TierChanged),
    TierRetained = ("tier.retained", 22, TierChanged),
    TierDowngraded = ("tier.downgraded", 23, TierChanged),
    CouponIssued = ("coupon.issued", 30, CouponIssued),
    CouponUsed = ("coupon.used", 31, CouponUsed),
    CheckinMilestone = ("checkin.milestone", 40, CheckinMilestone),
    TaskCompleted = ("task.completed", 41, TaskCompleted),
    ReferralRewarded = ("referral.rewarded", 42, ReferralRewarded),
    MembershipTrialStarted = ("membership.trial_started", 50, MembershipChanged),
    MembershipStarted = ("membership.started", 51, MembershipChanged),
    MembershipConverted = ("membership.converted", 52, MembershipChanged),
    MembershipRenewed = ("membership.renewed", 53, MembershipChanged),
    MembershipUpgraded = ("membership.upgraded", 54, MembershipChanged),
    MembershipCancelled = ("membership.cancelled", 55, MembershipChanged),
    MembershipResumed = ("membership.resumed", 56, MembershipChanged),
    MembershipRefunded = ("membership.refunded", 57, MembershipChanged),
    MembershipInvited = ("membership.invited", 58, MembershipChanged),
    MembershipRenewalDue = ("membership.renewal_due", 59, MembershipChanged),
    MembershipInGrace = ("membership.in_grace", 60, MembershipChanged),
    MembershipLapsed = ("membership.lapsed", 61, MembershipChanged),
    MembershipPackIssued = ("membership.pack_issued", 62, MembershipChanged),
    /// Reserved for campaign messages (issue 18 §3): nothing emits it yet.
    CampaignMessage = ("campaign.message", 70, Reserved),
}

impl EventType {
    /// The membership event type of a history entry's kind.
    pub fn of_membership(kind: crate::membership::EventKind) -> Self {
        use crate::membership::EventKind as K;
        match kind {
            K::TrialStarted => Self::MembershipTrialStarted,
            K::Started => Self::MembershipStarted,
            K::Converted => Self::MembershipConverted,
            K::Renewed => Self::MembershipRenewed,
            K::Upgraded => Self::MembershipUpgraded,
            K::Cancelled => Self::MembershipCancelled,
            K::Resumed => Self::MembershipResumed,
            K::Refunded => Self::MembershipRefunded,
            K::Invited => Self::MembershipInvited,
            K::RenewalDue => Self::MembershipRenewalDue,
            K::InGrace => Self::MembershipInGrace,
            K::Lapsed => Self::MembershipLapsed,
            K::PackIssued => Self::MembershipPackIssued,
        }
    }

    /// Reserved: a name consumers may filter by, that nothing emits yet.
    pub fn is_reserved(self) -> bool {
        self.shape() == Shape::Reserved
    }
}

/// One state change, as the log keeps it (without its position, which the store assigns
/// when it writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub member_id: MemberId,
    /// When the change happened: an order's `paid_at`, a refund's `refunded_at`, a lot's
    /// activation or expiry, the batch's instant for what a command did then.
    pub occurred_at: Timestamp,
    pub payload: Payload,
}

impl Event {
    /// An event of `kind`; the payload must be the one the type carries (a bug otherwise).
    pub fn new(kind: EventType, member_id: MemberId, occurred_at: Timestamp, payload: Payload) -> Self {
        assert_eq!(kind.shape(), payload.shape(), "{} carries another payload", kind.name());
        Self { kind, member_id, occurred_at, payload }
    }

    /// The event's id: `evt_` and 32 hex digits of SHA-256 over the type, the member and the
    /// key of the row that caused it (`Payload::source_key`). Derived, never stored: the same
    /// cause gives the same id however often it is derived, so a consumer can deduplicate by
    /// it, and the log keeps no bytes for it.
    pub fn id(&self) -> String {
        let key = self.payload.source_key(self.occurred_at);
        let digest = Sha256::new()
            .chain_update(self.kind.name().as_bytes())
            .chain_update(b"\0")
            .chain_update(self.member_id.as_str().as_bytes())
            .chain_update(b"\0")
            .chain_update(key.as_bytes())
            .finalize();
        let mut id = String::with_capacity(36);
        id.push_str("evt_");
        for b in &digest[..16] {
            id.push_str(&format!("{b:02x}"));
        }
        id
    }

    /// Reads an event back from its stored parts; the reason when they do not make one.
    pub fn from_stored(code: i64, member_id: &str, occurred_at: Timestamp, payload: &str) -> Result<Self, String> {
        let kind = EventType::from_code(code).ok_or_else(|| format!("unknown event code {code}"))?;
        let member_id = MemberId::parse(member_id).map_err(|e| format!("member id {member_id:?} {e}"))?;
        let payload = Payload::from_stored(kind.shape(), payload).map_err(|e| format!("{}: {e}", kind.name()))?;
        Ok(Self { kind, member_id, occurred_at, payload })
    }
}
