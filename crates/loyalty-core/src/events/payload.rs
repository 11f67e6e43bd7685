//! What each event type carries (version 1): ids and integers, never a copy of a whole row.
//! A consumer that wants more reads the resource the ids name. Every payload begins with `v`,
//! its version; a payload that changes shape gets a new struct and `v = 2`, and rows already
//! written keep reading as version 1.
//!
//! Instants are UTC (`…Z`), as is the event's `occurred_at`.

use jiff::civil::Date;
use jiff::Timestamp;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// The version every payload of this release has: 1, written `"v": 1`; reading any other
/// number is an error (a later version is another struct).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V1;

impl Serialize for V1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            1 => Ok(V1),
            v => Err(de::Error::custom(format!("payload version {v} is not 1"))),
        }
    }
}

/// `member.created`: the member was registered (by `PUT /v1/members/{id}`, or by the first
/// imported order of a member not seen before). `occurred_at` is `registered_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberCreated {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
}

/// `member.updated`: a `PUT` changed the profile, or the member's personal data was erased.
/// One per member and batch (two `PUT`s committed together are one event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberUpdated {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    /// The profile fields the request set (`name`, `phone`, `email`, `birthday`, `channel`,
    /// `registered_at`, `status`), never their values; after an erasure, the erased ones.
    pub fields: Vec<String>,
    /// The member's status after the change: `active`, `frozen` or `closed`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::member_status))]
    pub status: String,
    /// The personal data was erased (`POST /v1/members/{id}/erase`).
    pub erased: bool,
}

/// `order.placed`: a paid order was recorded, with the points it earned (the one event of an
/// order: its points are not a `points.earned` of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub order_id: String,
    /// Points the order earned.
    pub points: i64,
    /// Where those points stand when the event is written: `pending` (inside the return
    /// window), `active` (usable: the order was paid before the window), `expired`, or `none`
    /// (the order earned nothing).
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::points_status))]
    pub points_status: String,
    /// When pending points become usable (a `points.activated` follows then).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt, required = true))]
    pub activates_at: Option<Timestamp>,
}

/// `order.refunded`: a refund of an order, and the points it clawed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderRefunded {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub order_id: String,
    pub refund_id: String,
    pub amount_minor: i64,
    /// Points taken back from the member for it (from pending, active, or as debt).
    pub points_clawed_back: i64,
}

/// `points.earned`: points credited other than by an order of the member's own: a check-in, a
/// task, an activity, a positive adjustment, a referral, a lottery prize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PointsEarned {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    /// The ledger entry (`GET /v1/members/{id}/ledger`).
    pub entry_seq: i64,
    /// What earned them: `checkin`, `task`, `activity`, `adjustment`, `referral`, `draw`.
    pub source: String,
    pub source_id: String,
    pub points: i64,
    /// `pending` or `active`, as for `order.placed`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::points_status))]
    pub points_status: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt, required = true))]
    pub activates_at: Option<Timestamp>,
}

/// `points.redeemed` (a hold captured at checkout, a mall redemption, a lottery draw, a
/// make-up check-in's price), `points.deducted` (a negative adjustment) and `points.restored`
/// (a cancelled redemption's points given back): one ledger entry each. `points` is the
/// amount moved, positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PointsMoved {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub entry_seq: i64,
    /// `hold`, `redemption`, `draw`, `checkin` or `adjustment`.
    pub source: String,
    pub source_id: String,
    pub points: i64,
}

/// `points.activated` and `points.expired`: what time did to the member's lots in one write,
/// summed (the scheduler's advance, or any write that found them due). Points an order or a
/// credit brought in the same write are in that event instead (`points_status: active`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PointsTotal {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    /// The first of the ledger entries summed (the event's source).
    pub first_entry_seq: i64,
    pub points: i64,
    /// How many lots.
    pub lots: i64,
}

/// `points.expiring`: points that expire within `[events] expiring_days`, told once per member
/// and local day (in the programme's zone) by the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PointsExpiring {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    /// The local day of the notice.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::date))]
    pub day: Date,
    /// Points that expire within the window, and in how many lots.
    pub points: i64,
    pub lots: i64,
    /// When the first of them expires.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant))]
    pub earliest_expires_at: Timestamp,
    pub within_days: i64,
}

/// `tier.upgraded`, `tier.at_risk`, `tier.retained` and `tier.downgraded`: one row of the
/// member's tier history (`GET /v1/members/{id}/tier/history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TierChanged {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub tier_seq: i64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub from: Option<String>,
    pub to: String,
    /// `growth` (the programme's rules), `assigned` or `assignment_ended` (an operator's).
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::tier_cause))]
    pub cause: String,
    pub growth_in_window: i64,
    /// Growth still needed: to keep the tier (`at_risk`), or to come back to it (`downgraded`).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub growth_needed: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt, required = true))]
    pub deadline: Option<Timestamp>,
}

/// `coupon.issued`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CouponIssued {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub coupon_id: String,
    pub template_id: String,
    /// The channel it was issued through (`api`, `points`, `engagement`, `membership`, …).
    pub channel: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant))]
    pub valid_until: Timestamp,
}

/// `coupon.used`: by an order, or as a make-up card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CouponUsed {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub coupon_id: String,
    pub template_id: String,
    /// The coupon's entry (0 is its issue).
    pub version: i64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub order_id: Option<String>,
}

/// `checkin.milestone`: a check-in (or a make-up) paid streak milestones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckinMilestone {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::date))]
    pub day: Date,
    pub streak: i64,
    /// The streak days of the milestones paid.
    pub milestones: Vec<i64>,
    /// Points the day's record earned (daily reward and milestones).
    pub points: i64,
}

/// `task.completed`: a period of a task completed, and its reward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskCompleted {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub task_id: String,
    pub period: String,
    pub points: i64,
    pub growth: i64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub coupon_id: Option<String>,
}

/// `referral.rewarded`: one side of a referral was paid; each side gets its own event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReferralRewarded {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    /// `referrer` or `invitee`: which side this member is.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::referral_role))]
    pub role: String,
    pub referrer_id: String,
    pub invitee_id: String,
    pub points: i64,
    pub growth: i64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub coupon_id: Option<String>,
}

/// `membership.*`: one entry of the member's paid-membership history
/// (`GET /v1/members/{id}/membership/history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MembershipChanged {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::v1))]
    pub v: V1,
    pub history_seq: i64,
    pub plan: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub term_id: Option<String>,
    /// The payment, refund or credit the entry records (0 when none).
    pub amount_minor: i64,
}

/// An event's payload: the struct its `type` carries (docs/EVENTS.md lists which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Payload {
    MemberCreated(MemberCreated),
    MemberUpdated(MemberUpdated),
    OrderPlaced(OrderPlaced),
    OrderRefunded(OrderRefunded),
    PointsEarned(PointsEarned),
    PointsMoved(PointsMoved),
    PointsTotal(PointsTotal),
    PointsExpiring(PointsExpiring),
    TierChanged(TierChanged),
    CouponIssued(CouponIssued),
    CouponUsed(CouponUsed),
    CheckinMilestone(CheckinMilestone),
    TaskCompleted(TaskCompleted),
    ReferralRewarded(ReferralRewarded),
    MembershipChanged(MembershipChanged),
}

/// The kinds of payload, one per struct: which one each event type carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    MemberCreated,
    MemberUpdated,
    OrderPlaced,
    OrderRefunded,
    PointsEarned,
    PointsMoved,
    PointsTotal,
    PointsExpiring,
    TierChanged,
    CouponIssued,
    CouponUsed,
    CheckinMilestone,
    TaskCompleted,
    ReferralRewarded,
    MembershipChanged,
    /// A reserved type: nothing emits it yet.
    Reserved,
}

impl Payload {
    pub fn shape(&self) -> Shape {
        match self {
            Self::MemberCreated(_) => Shape::MemberCreated,
            Self::MemberUpdated(_) => Shape::MemberUpdated,
            Self::OrderPlaced(_) => Shape::OrderPlaced,
            Self::OrderRefunded(_) => Shape::OrderRefunded,
            Self::PointsEarned(_) => Shape::PointsEarned,
            Self::PointsMoved(_) => Shape::PointsMoved,
            Self::PointsTotal(_) => Shape::PointsTotal,
            Self::PointsExpiring(_) => Shape::PointsExpiring,
            Self::TierChanged(_) => Shape::TierChanged,
            Self::CouponIssued(_) => Shape::CouponIssued,
            Self::CouponUsed(_) => Shape::CouponUsed,
            Self::CheckinMilestone(_) => Shape::CheckinMilestone,
            Self::TaskCompleted(_) => Shape::TaskCompleted,
            Self::ReferralRewarded(_) => Shape::ReferralRewarded,
            Self::MembershipChanged(_) => Shape::MembershipChanged,
        }
    }

    /// The stored form: the payload's values in field order (see `positional`).
    pub fn stored(&self) -> String {
        use super::positional::to_array;
        match self {
            Self::MemberCreated(p) => to_array(p),
            Self::MemberUpdated(p) => to_array(p),
            Self::OrderPlaced(p) => to_array(p),
            Self::OrderRefunded(p) => to_array(p),
            Self::PointsEarned(p) => to_array(p),
            Self::PointsMoved(p) => to_array(p),
            Self::PointsTotal(p) => to_array(p),
            Self::PointsExpiring(p) => to_array(p),
            Self::TierChanged(p) => to_array(p),
            Self::CouponIssued(p) => to_array(p),
            Self::CouponUsed(p) => to_array(p),
            Self::CheckinMilestone(p) => to_array(p),
            Self::TaskCompleted(p) => to_array(p),
            Self::ReferralRewarded(p) => to_array(p),
            Self::MembershipChanged(p) => to_array(p),
        }
    }

    /// Reads a stored payload of `shape` back.
    pub fn from_stored(shape: Shape, text: &str) -> Result<Self, String> {
        fn read<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        Ok(match shape {
            Shape::MemberCreated => Self::MemberCreated(read(text)?),
            Shape::MemberUpdated => Self::MemberUpdated(read(text)?),
            Shape::OrderPlaced => Self::OrderPlaced(read(text)?),
            Shape::OrderRefunded => Self::OrderRefunded(read(text)?),
            Shape::PointsEarned => Self::PointsEarned(read(text)?),
            Shape::PointsMoved => Self::PointsMoved(read(text)?),
            Shape::PointsTotal => Self::PointsTotal(read(text)?),
            Shape::PointsExpiring => Self::PointsExpiring(read(text)?),
            Shape::TierChanged => Self::TierChanged(read(text)?),
            Shape::CouponIssued => Self::CouponIssued(read(text)?),
            Shape::CouponUsed => Self::CouponUsed(read(text)?),
            Shape::CheckinMilestone => Self::CheckinMilestone(read(text)?),
            Shape::TaskCompleted => Self::TaskCompleted(read(text)?),
            Shape::ReferralRewarded => Self::ReferralRewarded(read(text)?),
            Shape::MembershipChanged => Self::MembershipChanged(read(text)?),
            Shape::Reserved => return Err("a reserved event type has no payload yet".into()),
        })
    }

    /// What in the payload names the row that caused the event, unique for its type and
    /// member (see `Event::id`).
    pub fn source_key(&self, occurred_at: Timestamp) -> String {
        match self {
            Self::MemberCreated(_) => String::new(),
            // A profile keeps no history: the instant of the change is its only name.
            Self::MemberUpdated(_) => occurred_at.as_microsecond().to_string(),
            Self::OrderPlaced(p) => p.order_id.clone(),
            Self::OrderRefunded(p) => format!("{}/{}", p.order_id, p.refund_id),
            Self::PointsEarned(p) => p.entry_seq.to_string(),
            Self::PointsMoved(p) => p.entry_seq.to_string(),
            Self::PointsTotal(p) => p.first_entry_seq.to_string(),
            Self::PointsExpiring(p) => p.day.to_string(),
            Self::TierChanged(p) => p.tier_seq.to_string(),
            Self::CouponIssued(p) => p.coupon_id.clone(),
            Self::CouponUsed(p) => format!("{}/{}", p.coupon_id, p.version),
            Self::CheckinMilestone(p) => p.day.to_string(),
            Self::TaskCompleted(p) => format!("{}/{}", p.task_id, p.period),
            Self::ReferralRewarded(p) => p.invitee_id.clone(),
            Self::MembershipChanged(p) => p.history_seq.to_string(),
        }
    }
}
