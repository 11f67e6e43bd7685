//! Response bodies. Instants are RFC 3339 with the offset of the programme's time zone.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use loyalty_core::ledger::{Buckets, Entry, Hold, Lot};
use loyalty_core::order::{LineInput, Order, Refund, RefundLine};
use loyalty_core::{Money, Points, Program};
use loyalty_store::{Adjustment, MemberRecord};
use serde::Serialize;
use utoipa::ToSchema;

pub use loyalty_core::calendar::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct Expiring {
    #[schema(value_type = i64)]
    pub points: Points,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Balances {
    /// Usable now: active points minus debt (negative only while the member owes points).
    #[schema(value_type = i64)]
    pub available: Points,
    /// Earned, usable once the return window closes.
    #[schema(value_type = i64)]
    pub pending: Points,
    /// Reserved by open holds.
    #[schema(value_type = i64)]
    pub held: Points,
    #[schema(value_type = i64)]
    pub debt: Points,
    /// Points that expire within 30 days.
    pub expiring: Vec<Expiring>,
}

impl Balances {
    pub fn new(b: Buckets, expiring: &[(Points, Timestamp)], tz: &TimeZone) -> Self {
        Self {
            available: b.available(),
            pending: b.pending,
            held: b.held,
            debt: b.debt,
            expiring: expiring.iter().map(|(p, e)| Expiring { points: *p, expires_at: rfc3339(*e, tz) }).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub id: String,
    pub status: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<String>,
    /// When a birthday already set was last changed: it may change again 365 days later (a
    /// second change before is a 409 `birthday_locked`). Absent when it never was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday_changed_at: Option<String>,
    pub channel: Option<String>,
    pub registered_at: String,
    pub created_at: String,
    pub updated_at: String,
    /// When the member's personal data was erased (then name, phone, email and birthday are
    /// null and the member is closed); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<String>,
    pub balances: Balances,
    /// The invitation this request's `referred_by` recorded: `pending`, or `refused` with its
    /// reason (the other fields applied either way); absent without `referred_by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<crate::referrals::ReferralView>,
}

impl MemberView {
    pub fn new(m: &MemberRecord, now: Timestamp, tz: &TimeZone) -> Self {
        let (b, expiring) = m.account.balances_at(now);
        let p = &m.profile;
        Self {
            id: m.account.member_id().to_string(),
            status: m.account.status().to_string(),
            name: p.name.clone(),
            phone: p.phone.clone(),
            email: p.email.clone(),
            birthday: p.birthday.map(|d| d.to_string()),
            birthday_changed_at: p.birthday_changed_at.map(|t| rfc3339(t, tz)),
            channel: p.channel.clone(),
            registered_at: rfc3339(p.registered_at, tz),
            created_at: rfc3339(p.created_at, tz),
            updated_at: rfc3339(p.updated_at, tz),
            erased_at: p.erased_at.map(|t| rfc3339(t, tz)),
            balances: Balances::new(b, &expiring, tz),
            referral: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BalancesAfter {
    #[schema(value_type = i64)]
    pub available: Points,
    #[schema(value_type = i64)]
    pub pending: Points,
    #[schema(value_type = i64)]
    pub held: Points,
    #[schema(value_type = i64)]
    pub debt: Points,
}

impl From<Buckets> for BalancesAfter {
    fn from(b: Buckets) -> Self {
        Self { available: b.available(), pending: b.pending, held: b.held, debt: b.debt }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub seq: i64,
    /// earn, activate, hold, capture, release, expire, clawback, adjust, debt_settle, spend, restore
    pub kind: String,
    /// Signed from the member's point of view.
    #[schema(value_type = i64)]
    pub points: Points,
    /// order, refund, hold, adjustment, activity, job, redemption, draw, checkin, referral
    pub source: String,
    pub source_id: String,
    pub lot: Option<i64>,
    pub at: String,
    pub balances_after: BalancesAfter,
    pub note: Option<String>,
}

impl EntryView {
    pub fn new(e: &Entry, tz: &TimeZone) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.to_string(),
            points: e.points,
            source: e.source_kind.to_string(),
            source_id: e.source_id.clone(),
            lot: e.lot_no,
            at: rfc3339(e.at, tz),
            balances_after: e.after.into(),
            note: e.note.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LotView {
    pub lot: i64,
    pub source: String,
    pub source_id: String,
    /// Points granted.
    #[schema(value_type = i64)]
    pub points: Points,
    #[schema(value_type = i64)]
    pub remaining: Points,
    #[schema(value_type = i64)]
    pub expired: Points,
    pub status: String,
    pub activates_at: String,
    pub expires_at: Option<String>,
}

impl LotView {
    pub fn new(l: &Lot, tz: &TimeZone) -> Self {
        Self {
            lot: l.lot_no,
            source: l.source_kind.to_string(),
            source_id: l.source_id.clone(),
            points: l.granted,
            remaining: l.remaining,
            expired: l.expired,
            status: l.status.to_string(),
            activates_at: rfc3339(l.activates_at, tz),
            expires_at: l.expires_at.map(|e| rfc3339(e, tz)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RefundView {
    pub id: String,
    pub order_id: String,
    #[schema(value_type = i64)]
    pub amount_minor: Money,
    pub lines: Vec<RefundLineView>,
    #[schema(value_type = i64)]
    pub clawback_points: Points,
    #[schema(value_type = i64)]
    pub forgiven_points: Points,
    pub refunded_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct RefundLineView {
    pub sku: String,
    pub quantity: i64,
    #[schema(value_type = i64)]
    pub amount_minor: Money,
}

impl RefundView {
    pub fn new(r: &Refund, tz: &TimeZone) -> Self {
        let line =
            |l: &RefundLine| RefundLineView { sku: l.sku.clone(), quantity: l.quantity, amount_minor: l.amount_minor };
        Self {
            id: r.refund_id.to_string(),
            order_id: r.order_id.to_string(),
            amount_minor: r.amount_minor,
            lines: r.lines.iter().map(line).collect(),
            clawback_points: r.clawback_points,
            forgiven_points: r.forgiven_points,
            refunded_at: rfc3339(r.refunded_at, tz),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub member_id: String,
    pub paid_at: String,
    pub currency: String,
    pub lines: Vec<LineInput>,
    pub shipping_minor: i64,
    /// Paid for goods (what earns points).
    #[schema(value_type = i64)]
    pub paid_minor: Money,
    /// Goods plus shipping.
    #[schema(value_type = i64)]
    pub total_minor: Money,
    #[schema(value_type = i64)]
    pub earned_points: Points,
    #[schema(value_type = i64)]
    pub clawed_back_points: Points,
    #[schema(value_type = i64)]
    pub refunded_minor: Money,
    /// When the earned points become usable.
    pub points_activate_at: Option<String>,
    pub note: Option<String>,
    pub refunds: Vec<RefundView>,
    /// The member's coupons the order used.
    pub coupons: Vec<String>,
    /// The benefits the order used and what each was worth (a paid plan's carry `plan`).
    pub benefits: Vec<loyalty_core::order::BenefitUse>,
}

impl OrderView {
    pub fn new(o: &Order, refunds: &[Refund], program: &Program) -> Self {
        let tz = &program.tz;
        let v = &o.order;
        Self {
            id: v.id.to_string(),
            member_id: v.member_id.to_string(),
            paid_at: rfc3339(v.paid_at, tz),
            currency: v.currency.clone(),
            lines: v.lines.clone(),
            shipping_minor: v.shipping_minor,
            paid_minor: v.eligible_minor(),
            total_minor: v.total_minor(),
            earned_points: o.earned_points,
            clawed_back_points: o.clawed_back_points,
            refunded_minor: o.refunded_minor,
            points_activate_at: o
                .earned_points
                .is_positive()
                .then(|| rfc3339(loyalty_core::calendar::activation(program, v.paid_at), tz)),
            note: o.note.clone(),
            refunds: refunds.iter().map(|r| RefundView::new(r, tz)).collect(),
            coupons: v.coupons.iter().map(|c| c.to_string()).collect(),
            benefits: o.benefits.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub member_id: String,
    pub order_id: String,
    #[schema(value_type = i64)]
    pub points: Points,
    /// What the held points are worth, in minor units.
    #[schema(value_type = i64)]
    pub value_minor: Money,
    #[schema(value_type = i64)]
    pub order_amount_minor: Money,
    /// open, captured, released, expired
    pub status: String,
    pub expires_at: String,
    pub balances: BalancesAfter,
}

impl HoldView {
    pub fn new(member: &str, h: &Hold, b: Buckets, program: &Program) -> Self {
        Self {
            id: h.hold_id.to_string(),
            member_id: member.to_owned(),
            order_id: h.order_id.clone(),
            points: h.points,
            value_minor: program.points_value_minor(h.points),
            order_amount_minor: h.order_amount_minor,
            status: h.status.to_string(),
            expires_at: rfc3339(h.expires_at, &program.tz),
            balances: b.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdjustmentView {
    pub id: String,
    pub member_id: String,
    #[schema(value_type = i64)]
    pub points: Points,
    pub reason: String,
    pub actor: String,
    pub created_at: String,
    pub balances: BalancesAfter,
}

impl AdjustmentView {
    pub fn new(a: &Adjustment, b: Buckets, tz: &TimeZone) -> Self {
        Self {
            id: a.adjustment_id.to_string(),
            member_id: a.member_id.to_string(),
            points: a.points,
            reason: a.reason.clone(),
            actor: a.actor.clone(),
            created_at: rfc3339(a.created_at, tz),
            balances: b.into(),
        }
    }
}
