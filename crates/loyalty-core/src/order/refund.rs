//! Refunds: what a store sends, and the points and growth a refund claws back.

use super::{check_text, parse_instant, Order, MAX_AMOUNT_MINOR, MAX_LINES};
use crate::account::{Account, Clawback};
use crate::amount::{Money, Points};
use crate::error::DomainError;
use crate::ids::{OrderId, RefundId};
use crate::ledger::SourceKind;
use crate::program::Program;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A refund line: `quantity` units of the order's line with this `sku`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundLineInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub sku: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::quantity))]
    pub quantity: i64,
}

/// A refund as the store sends it: either an amount or lines.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::refund_amount_opt))]
    pub amount_minor: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::refund_lines_opt))]
    pub lines: Option<Vec<RefundLineInput>>,
    /// When the refund happened (default: when we receive it).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub refunded_at: Option<String>,
}

/// One recorded line of a refund, with the amount it refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub sku: String,
    pub quantity: i64,
    pub amount_minor: Money,
}

/// A recorded refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    pub amount_minor: Money,
    pub lines: Vec<RefundLine>,
    pub clawback_points: Points,
    pub forgiven_points: Points,
    pub refunded_at: Timestamp,
    pub created_at: Timestamp,
    /// Did the store send lines (rather than an amount)? Part of the body for conflicts.
    pub by_lines: bool,
}

/// Refunds part of `order`, clawing back points in proportion to the goods refunded:
/// cumulative clawback = floor(earned × min(refunded, eligible) ÷ eligible).
pub fn refund_order(
    account: &mut Account,
    program: &Program,
    order: &mut Order,
    prior: &[Refund],
    input: &RefundInput,
    now: Timestamp,
) -> Result<Refund, DomainError> {
    let refund_id = RefundId::parse(&input.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
    let refunded_at = match &input.refunded_at {
        Some(raw) => parse_instant("refunded_at", raw)?,
        None => now,
    };
    let (amount, lines) = refund_amount(order, prior, input)?;
    let after = order.refunded_minor + amount;
    let total = order.order.total_minor();
    if after > total {
        return Err(DomainError::unprocessable(
            if input.lines.is_some() { "lines" } else { "amount_minor" },
            format!(
                "refunding {amount} would bring refunds of order {} to {after}, more than the {total} paid",
                order.order.id
            ),
        ));
    }
    let eligible = i128::from(order.order.eligible_minor().get());
    // The share of what was earned that the refunds so far took back, exact in i128.
    let share = |of: i64| -> i64 {
        if eligible == 0 {
            0
        } else {
            i64::try_from(i128::from(of) * i128::from(after.get()).min(eligible) / eligible).expect("bounded")
        }
    };
    let owed_after = Points::new(share(order.earned_points.get()));
    let delta = owed_after - order.clawed_back_points;
    assert!(!delta.is_negative() && owed_after <= order.earned_points, "clawback is cumulative and never above earned");
    let growth_after = share(order.growth);
    let growth_delta = growth_after - order.growth_clawed_back;
    let source = (SourceKind::Refund, format!("{}/{}", order.order.id, refund_id));
    account.check_clawback(
        if input.lines.is_some() { "lines" } else { "amount_minor" },
        program,
        order.lot_no,
        delta,
    )?;
    let Clawback { taken, forgiven } =
        account.clawback(program, (source.0, &source.1), order.lot_no, delta, refunded_at);
    order.refunded_minor = after;
    order.clawed_back_points = owed_after;
    order.growth_clawed_back = growth_after;
    account.add_growth(program, crate::tiers::GrowthKind::Refund, &source.1, -growth_delta, refunded_at, now);
    Ok(Refund {
        refund_id,
        order_id: order.order.id.clone(),
        amount_minor: amount,
        lines,
        clawback_points: taken,
        forgiven_points: forgiven,
        refunded_at,
        created_at: now,
        by_lines: input.lines.is_some(),
    })
}

fn refund_amount(
    order: &Order,
    prior: &[Refund],
    input: &RefundInput,
) -> Result<(Money, Vec<RefundLine>), DomainError> {
    match (&input.amount_minor, &input.lines) {
        (Some(a), None) => {
            if !(1..=MAX_AMOUNT_MINOR).contains(a) {
                return Err(DomainError::unprocessable(
                    "amount_minor",
                    format!("{a} must be between 1 and {MAX_AMOUNT_MINOR}"),
                ));
            }
            Ok((Money::new(*a), Vec::new()))
        }
        (None, Some(lines)) => {
            if lines.is_empty() || lines.len() > MAX_LINES {
                return Err(DomainError::unprocessable("lines", format!("must hold 1 to {MAX_LINES} lines")));
            }
            let mut out: Vec<RefundLine> = Vec::new();
            for (i, rl) in lines.iter().enumerate() {
                check_text(&format!("lines[{i}].sku"), &rl.sku)?;
                if rl.quantity < 1 {
                    return Err(DomainError::unprocessable(
                        format!("lines[{i}].quantity"),
                        format!("{} must be at least 1: the number of units of {:?} to refund", rl.quantity, rl.sku),
                    ));
                }
                let Some(line) = order.order.lines.iter().find(|l| l.sku == rl.sku) else {
                    return Err(DomainError::unprocessable(
                        format!("lines[{i}].sku"),
                        format!("{:?} is not a line of order {}", rl.sku, order.order.id),
                    ));
                };
                let done = |f: fn(&RefundLine) -> i64| -> i64 {
                    prior.iter().flat_map(|r| &r.lines).chain(&out).filter(|x| x.sku == rl.sku).map(f).sum()
                };
                let (qty_done, amount_done) = (done(|x| x.quantity), done(|x| x.amount_minor.get()));
                if rl.quantity > line.quantity - qty_done {
                    return Err(DomainError::unprocessable(
                        format!("lines[{i}].quantity"),
                        format!(
                            "{} is more than the {} units of {:?} left to refund",
                            rl.quantity,
                            line.quantity - qty_done,
                            rl.sku
                        ),
                    ));
                }
                // The last unit takes the remainder so that a full refund is exact to the fen.
                let amount = if qty_done + rl.quantity == line.quantity {
                    line.paid_minor - amount_done
                } else {
                    i64::try_from(i128::from(line.paid_minor) * i128::from(rl.quantity) / i128::from(line.quantity))
                        .expect("bounded")
                };
                out.push(RefundLine { sku: rl.sku.clone(), quantity: rl.quantity, amount_minor: Money::new(amount) });
            }
            Ok((out.iter().map(|l| l.amount_minor).sum(), out))
        }
        _ => Err(DomainError::unprocessable("amount_minor", "send exactly one of amount_minor or lines")),
    }
}

/// Does a stored refund match a retried request? Names what differs.
pub fn refund_differences(stored: &Refund, input: &RefundInput) -> Vec<String> {
    let mut d = Vec::new();
    match (&input.amount_minor, &input.lines) {
        (Some(a), None) if !stored.by_lines && *a == stored.amount_minor.get() => {}
        (None, Some(lines))
            if stored.by_lines
                && lines.len() == stored.lines.len()
                && lines.iter().zip(&stored.lines).all(|(a, b)| a.sku == b.sku && a.quantity == b.quantity) => {}
        (_, Some(_)) => d.push("lines".to_owned()),
        _ => d.push("amount_minor".to_owned()),
    }
    if let Some(raw) = &input.refunded_at {
        if parse_instant("refunded_at", raw).ok() != Some(stored.refunded_at) {
            d.push("refunded_at".to_owned());
        }
    }
    d
}
