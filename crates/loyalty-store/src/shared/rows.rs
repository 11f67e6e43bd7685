//! Row decoders and column lists: how each table's rows become domain values, from a packed
//! JSON row or a driver row alike (`convert::Cells`).

use super::dialect::*;
use crate::convert::*;
use crate::*;
use loyalty_core::account::StoredAccount;
use loyalty_core::ids::*;
use loyalty_core::ledger::*;
use loyalty_core::member::Profile;
use loyalty_core::order::{Order, Refund, RefundLine, ValidOrder};
use sqlx::Row;

pub(super) type DbRow = <Db as sqlx::Database>::Row;

pub(super) const MEMBER_COLS: &str = "member_id, name, phone, email, birthday, channel, registered_at, status, pending, active, held, debt, next_seq, next_lot_no, created_at, updated_at, tier, tier_since, tier_term_end, tier_grace_until, tier_warned, tier_assigned_reason, tier_assigned_until, tier_review_at, growth_total, next_growth_seq, next_tier_seq, erased_at, plan, plan_from, plan_until, birthday_changed_at";
pub(super) const LOT_COLS: &str = "member_id, lot_no, source_kind, source_id, granted, remaining, expired, activates_at, expires_at, status, created_at";
pub(super) const HOLD_COLS: &str =
    "member_id, hold_id, order_id, points, order_amount_minor, status, created_at, expires_at, settled_at, allocations";
pub(super) const ENTRY_COLS: &str = "member_id, seq, kind, points, source_kind, source_id, lot_no, at, pending_after, active_after, held_after, debt_after, note, recorded_at";
pub(super) const ORDER_COLS: &str = "member_id, order_id, paid_at, currency, eligible_minor, shipping_minor, total_minor, earned_points, clawed_back_points, refunded_minor, lot_no, note, lines, created_at, growth, growth_clawed_back, multiplier_milli, benefits, shipping_waived_minor, coupons, tasks";
pub(super) const REFUND_COLS: &str = "member_id, order_id, refund_id, amount_minor, lines, by_lines, clawback_points, forgiven_points, refunded_at, created_at";

pub(super) fn member_row(r: &impl Cells) -> Result<MemberRecord> {
    let t = "members";
    let member_id = MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?;
    let birthday = r.opt_text("birthday")?;
    let profile = Profile {
        name: r.opt_text("name")?,
        phone: r.opt_text("phone")?,
        email: r.opt_text("email")?,
        birthday: birthday.map(|b| b.parse().map_err(|_| corrupt(t, "birthday"))).transpose()?,
        channel: r.opt_text("channel")?,
        registered_at: ts(t, r.i64("registered_at")?)?,
        created_at: ts(t, r.i64("created_at")?)?,
        updated_at: ts(t, r.i64("updated_at")?)?,
        erased_at: opt_ts(t, r.opt_i64("erased_at")?)?,
        birthday_changed_at: opt_ts(t, r.opt_i64("birthday_changed_at")?)?,
    };
    let account = loyalty_core::Account::from_stored(StoredAccount {
        member_id,
        status: parse_enum(t, &r.text("status")?, MemberStatus::parse)?,
        buckets: buckets(r.i64("pending")?, r.i64("active")?, r.i64("held")?, r.i64("debt")?),
        next_seq: r.i64("next_seq")?,
        next_lot_no: r.i64("next_lot_no")?,
        tier: loyalty_core::tiers::TierState {
            code: r.opt_text("tier")?.unwrap_or_default(),
            since: opt_ts(t, r.opt_i64("tier_since")?)?,
            term_end: opt_ts(t, r.opt_i64("tier_term_end")?)?,
            grace_until: opt_ts(t, r.opt_i64("tier_grace_until")?)?,
            warned: r.i64("tier_warned")? != 0,
            assigned_reason: r.opt_text("tier_assigned_reason")?,
            assigned_until: opt_ts(t, r.opt_i64("tier_assigned_until")?)?,
        },
        tier_review_at: opt_ts(t, r.opt_i64("tier_review_at")?)?,
        growth_total: r.i64("growth_total")?,
        next_growth_seq: r.i64("next_growth_seq")?,
        next_tier_seq: r.i64("next_tier_seq")?,
    });
    let plan = match (r.opt_text("plan")?, opt_ts(t, r.opt_i64("plan_from")?)?, opt_ts(t, r.opt_i64("plan_until")?)?) {
        (Some(plan), Some(from), Some(until)) => Some(loyalty_core::membership::Cover { plan, from, until }),
        (None, None, None) => None,
        _ => return Err(corrupt(t, "plan, plan_from and plan_until are set together")),
    };
    Ok(MemberRecord { profile, account, plan })
}

pub(super) fn lot_row(r: &impl Cells) -> Result<(String, Lot)> {
    let t = "lots";
    Ok((
        r.text("member_id")?,
        Lot {
            lot_no: r.i64("lot_no")?,
            source_kind: parse_enum(t, &r.text("source_kind")?, SourceKind::parse)?,
            source_id: r.text("source_id")?,
            granted: r.points("granted")?,
            remaining: r.points("remaining")?,
            expired: r.points("expired")?,
            activates_at: ts(t, r.i64("activates_at")?)?,
            expires_at: opt_ts(t, r.opt_i64("expires_at")?)?,
            status: parse_enum(t, &r.text("status")?, LotStatus::parse)?,
            created_at: ts(t, r.i64("created_at")?)?,
            dirty: false,
        },
    ))
}

pub(super) fn hold_row(r: &impl Cells) -> Result<(String, Hold)> {
    let t = "holds";
    let member_id = r.text("member_id")?;
    Ok((
        member_id,
        Hold {
            hold_id: HoldId::parse(&r.text("hold_id")?).map_err(|e| corrupt(t, e.0))?,
            order_id: r.text("order_id")?,
            points: r.points("points")?,
            order_amount_minor: r.money("order_amount_minor")?,
            status: parse_enum(t, &r.text("status")?, HoldStatus::parse)?,
            created_at: ts(t, r.i64("created_at")?)?,
            expires_at: ts(t, r.i64("expires_at")?)?,
            settled_at: opt_ts(t, r.opt_i64("settled_at")?)?,
            allocations: json(t, &r.text("allocations")?)?,
            dirty: false,
        },
    ))
}

pub(super) fn entry_row(r: &impl Cells) -> Result<Entry> {
    let t = "entries";
    Ok(Entry {
        seq: r.i64("seq")?,
        kind: parse_enum(t, &r.text("kind")?, EntryKind::parse)?,
        points: r.points("points")?,
        source_kind: parse_enum(t, &r.text("source_kind")?, SourceKind::parse)?,
        source_id: r.text("source_id")?,
        lot_no: r.opt_i64("lot_no")?,
        at: ts(t, r.i64("at")?)?,
        after: buckets(r.i64("pending_after")?, r.i64("active_after")?, r.i64("held_after")?, r.i64("debt_after")?),
        note: r.opt_text("note")?,
    })
}

pub(super) fn order_row(r: &impl Cells) -> Result<Order> {
    let t = "orders";
    let member = r.text("member_id")?;
    let id = r.text("order_id")?;
    Ok(Order {
        order: ValidOrder {
            id: OrderId::parse(&id).map_err(|e| corrupt(t, e.0))?,
            member_id: MemberId::parse(&member).map_err(|e| corrupt(t, e.0))?,
            paid_at: ts(t, r.i64("paid_at")?)?,
            currency: r.text("currency")?,
            lines: json(t, &r.text("lines")?)?,
            shipping_minor: r.i64("shipping_minor")?,
            shipping_waived_minor: r.i64("shipping_waived_minor")?,
            coupons: json(t, &r.text("coupons")?)?,
        },
        growth: r.i64("growth")?,
        growth_clawed_back: r.i64("growth_clawed_back")?,
        multiplier_milli: r.i64("multiplier_milli")?,
        benefits: json(t, &r.text("benefits")?)?,
        earned_points: r.points("earned_points")?,
        clawed_back_points: r.points("clawed_back_points")?,
        refunded_minor: r.money("refunded_minor")?,
        lot_no: r.opt_i64("lot_no")?,
        created_at: ts(t, r.i64("created_at")?)?,
        note: r.opt_text("note")?,
        tasks: r.opt_text("tasks")?.map(|s| json(t, &s)).transpose()?.unwrap_or_default(),
    })
}

pub(super) fn refund_row(r: &impl Cells) -> Result<Refund> {
    let t = "refunds";
    let order_id = r.text("order_id")?;
    let refund_id = r.text("refund_id")?;
    let lines: Vec<RefundLine> = json(t, &r.text("lines")?)?;
    Ok(Refund {
        refund_id: RefundId::parse(&refund_id).map_err(|e| corrupt(t, e.0))?,
        order_id: OrderId::parse(&order_id).map_err(|e| corrupt(t, e.0))?,
        amount_minor: r.money("amount_minor")?,
        lines,
        clawback_points: r.points("clawback_points")?,
        forgiven_points: r.points("forgiven_points")?,
        refunded_at: ts(t, r.i64("refunded_at")?)?,
        created_at: ts(t, r.i64("created_at")?)?,
        by_lines: r.i64("by_lines")? != 0,
    })
}

/// A row the driver returned on its own (statements that return few rows).
pub(super) struct One<'a>(pub(super) &'a DbRow);

impl Cells for One<'_> {
    fn i64(&self, col: &str) -> Result<i64> {
        Ok(self.0.try_get(col)?)
    }
    fn opt_i64(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.0.try_get(col)?)
    }
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.0.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.0.try_get(col)?)
    }
}
