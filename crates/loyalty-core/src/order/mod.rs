//! Orders and refunds: what a store sends, how it is validated, and what it earns or claws back.
//! An order's rules are here; a refund's in `refund`.

mod refund;
pub use refund::*;

use crate::account::Account;
use crate::amount::{Money, Points};
use crate::error::DomainError;
use crate::ids::{CouponId, MemberId, OrderId};
use crate::ledger::{MemberStatus, SourceKind};
use crate::program::Program;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Largest amount accepted anywhere, in minor units (¥10 billion): keeps all arithmetic exact.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
pub const MAX_LINES: usize = 500;
pub const MAX_QUANTITY: i64 = 1_000_000;
pub const MAX_TEXT: usize = 128;
/// How far in the future a `paid_at` may be (clock skew between the store and us).
pub const MAX_FUTURE_SKEW_SECS: i64 = 300;

/// An order line as the store sends it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub sku: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text_opt))]
    pub category: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text_opt))]
    pub brand: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::quantity))]
    pub quantity: i64,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount))]
    pub unit_price_minor: i64,
    /// What the member paid for the line after discounts.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount))]
    pub paid_minor: i64,
}

impl LineInput {
    /// One unit of `sku` paid at its full price, as the importer's one-row-per-order CSV and
    /// the benchmarks describe an order.
    pub fn one_unit(sku: String, category: Option<String>, brand: Option<String>, amount_minor: i64) -> Self {
        Self { sku, category, brand, quantity: 1, unit_price_minor: amount_minor, paid_minor: amount_minor }
    }
}

/// A paid order as the store sends it. Parse with [`OrderInput::validate`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub member_id: String,
    /// RFC 3339 with offset.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant))]
    pub paid_at: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::order_lines))]
    pub lines: Vec<LineInput>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount))]
    pub shipping_minor: i64,
    /// Shipping the store waived because of a benefit (as `checkout/evaluate` reported it).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount))]
    pub shipping_waived_minor: i64,
    /// Ids of the member's coupons this order uses: each must apply to the order, and is used
    /// by it in the order's own transaction.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_ids))]
    pub coupons: Vec<String>,
}

/// A validated order. Amounts are non-negative and bounded; `paid_at` is an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidOrder {
    pub id: OrderId,
    pub member_id: MemberId,
    pub paid_at: Timestamp,
    pub currency: String,
    pub lines: Vec<LineInput>,
    pub shipping_minor: i64,
    #[serde(default)]
    pub shipping_waived_minor: i64,
    #[serde(default)]
    pub coupons: Vec<CouponId>,
}

pub fn check_amount(field: &str, v: i64) -> Result<(), DomainError> {
    if !(0..=MAX_AMOUNT_MINOR).contains(&v) {
        return Err(DomainError::unprocessable(
            field,
            format!("{v} must be between 0 and {MAX_AMOUNT_MINOR} (minor units)"),
        ));
    }
    Ok(())
}

fn check_text(field: &str, v: &str) -> Result<(), DomainError> {
    crate::text::check_text(field, v, 1..=MAX_TEXT)
}

pub use crate::instant::parse_instant;

impl OrderInput {
    pub fn validate(&self, program: &Program, now: Timestamp) -> Result<ValidOrder, DomainError> {
        let id = OrderId::parse(&self.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        let member_id = MemberId::parse(&self.member_id).map_err(|e| DomainError::unprocessable("member_id", e.0))?;
        let latest = crate::calendar::plus_secs(now, MAX_FUTURE_SKEW_SECS);
        let paid_at = crate::instant::parse_past_instant("paid_at", &self.paid_at, latest)?;
        let currency = self.currency.clone().unwrap_or_else(|| program.file.currency.clone());
        if currency != program.file.currency {
            return Err(DomainError::unprocessable(
                "currency",
                format!("{currency:?} differs from the programme's currency {:?}", program.file.currency),
            ));
        }
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(DomainError::unprocessable("lines", format!("must hold 1 to {MAX_LINES} lines")));
        }
        let mut total: i64 = 0;
        for (i, l) in self.lines.iter().enumerate() {
            let f = |name: &str| format!("lines[{i}].{name}");
            check_text(&f("sku"), &l.sku)?;
            if let Some(c) = &l.category {
                check_text(&f("category"), c)?;
            }
            if let Some(b) = &l.brand {
                check_text(&f("brand"), b)?;
            }
            if !(1..=MAX_QUANTITY).contains(&l.quantity) {
                return Err(DomainError::unprocessable(
                    f("quantity"),
                    format!("{} must be between 1 and {MAX_QUANTITY}", l.quantity),
                ));
            }
            check_amount(&f("unit_price_minor"), l.unit_price_minor)?;
            // The line's list price, as checkout bounds it: pricing takes percentages of it.
            check_amount(&f("unit_price_minor"), l.unit_price_minor * l.quantity)?;
            check_amount(&f("paid_minor"), l.paid_minor)?;
            // Paying more than the list price would earn points on money that bought nothing.
            let list = i128::from(l.unit_price_minor) * i128::from(l.quantity);
            if i128::from(l.paid_minor) > list {
                return Err(DomainError::unprocessable(
                    f("paid_minor"),
                    format!(
                        "{} is more than the line's list price {} × {} = {list}",
                        l.paid_minor, l.unit_price_minor, l.quantity
                    ),
                ));
            }
            if self.lines[..i].iter().any(|o| o.sku == l.sku) {
                return Err(DomainError::unprocessable(
                    f("sku"),
                    format!("{:?} appears twice; send one line per sku", l.sku),
                ));
            }
            total += l.paid_minor;
        }
        check_amount("shipping_minor", self.shipping_minor)?;
        check_amount("shipping_waived_minor", self.shipping_waived_minor)?;
        check_amount("lines", total + self.shipping_minor).map_err(|_| {
            DomainError::unprocessable("lines", format!("the order total must not exceed {MAX_AMOUNT_MINOR}"))
        })?;
        if self.coupons.len() > crate::coupons::MAX_COUPONS_PER_CART {
            return Err(DomainError::unprocessable(
                "coupons",
                format!("names {} coupons; at most {}", self.coupons.len(), crate::coupons::MAX_COUPONS_PER_CART),
            ));
        }
        let mut coupons = Vec::with_capacity(self.coupons.len());
        for (i, c) in self.coupons.iter().enumerate() {
            let c = CouponId::parse(c).map_err(|e| DomainError::unprocessable(format!("coupons[{i}]"), e.0))?;
            if coupons.contains(&c) {
                return Err(DomainError::unprocessable(format!("coupons[{i}]"), format!("{c} is named twice")));
            }
            coupons.push(c);
        }
        Ok(ValidOrder {
            coupons,
            id,
            member_id,
            paid_at,
            currency,
            lines: self.lines.clone(),
            shipping_minor: self.shipping_minor,
            shipping_waived_minor: self.shipping_waived_minor,
        })
    }
}

impl ValidOrder {
    /// Paid for goods: what earns points (shipping excluded).
    pub fn eligible_minor(&self) -> Money {
        self.lines.iter().map(|l| Money::new(l.paid_minor)).sum()
    }
    pub fn total_minor(&self) -> Money {
        self.eligible_minor() + Money::new(self.shipping_minor)
    }

    /// Names the fields in which `other` differs from this order, for a 409 that says what.
    pub fn differences(&self, other: &ValidOrder) -> Vec<String> {
        let mut d = Vec::new();
        if self.member_id != other.member_id {
            d.push("member_id".to_owned());
        }
        if self.paid_at != other.paid_at {
            d.push("paid_at".to_owned());
        }
        if self.currency != other.currency {
            d.push("currency".to_owned());
        }
        if self.shipping_minor != other.shipping_minor {
            d.push("shipping_minor".to_owned());
        }
        if self.shipping_waived_minor != other.shipping_waived_minor {
            d.push("shipping_waived_minor".to_owned());
        }
        if self.coupons != other.coupons {
            d.push("coupons".to_owned());
        }
        if self.lines.len() != other.lines.len() {
            d.push("lines".to_owned());
        } else {
            for (i, (a, b)) in self.lines.iter().zip(&other.lines).enumerate() {
                let mut f = |same: bool, name: &str| {
                    if !same {
                        d.push(format!("lines[{i}].{name}"));
                    }
                };
                f(a.sku == b.sku, "sku");
                f(a.category == b.category, "category");
                f(a.brand == b.brand, "brand");
                f(a.quantity == b.quantity, "quantity");
                f(a.unit_price_minor == b.unit_price_minor, "unit_price_minor");
                f(a.paid_minor == b.paid_minor, "paid_minor");
            }
        }
        d
    }
}

/// A recorded order with its running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order: ValidOrder,
    pub earned_points: Points,
    pub clawed_back_points: Points,
    pub refunded_minor: Money,
    pub lot_no: Option<i64>,
    pub created_at: Timestamp,
    /// Why nothing was earned, when nothing was (e.g. the member was frozen).
    pub note: Option<String>,
    pub growth: i64,
    pub growth_clawed_back: i64,
    /// The points multiplier applied, in thousandths.
    pub multiplier_milli: i64,
    /// Benefits this order used and what they were worth.
    pub benefits: Vec<BenefitUse>,
    /// What the order added to tasks' progress (what a refund may take back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<crate::engagement::TaskMark>,
}

/// A benefit an order used: its code (`member_discount`, `category_discount:beauty`,
/// `member_day_discount`, `free_shipping`, `tier_multiplier:gold`, `member_day`,
/// `birthday_month`), its value in minor units and the extra points it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BenefitUse {
    pub code: String,
    pub value_minor: i64,
    pub extra_points: i64,
    /// The tier whose benefit it was (the member's tier when the order was priced). Empty on
    /// orders recorded before it was kept.
    #[serde(default)]
    pub tier: String,
    /// The paid plan whose benefit it was (its codes, or a coupon of its monthly pack): what
    /// the member's savings add up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Records `order` on `account`: points = ⌊⌊eligible × rate⌋ × multiplier⌋ (the tier's,
/// member day's or birthday month's, combined by the programme's rule), pending until the
/// return window closes; growth may upgrade the tier at once. A frozen or closed member's
/// order is recorded and earns nothing. An order that would earn more than the limits allow
/// (`limits::check_earned`, `Account::check_credit`) is refused before anything changes.
pub fn place_order(
    account: &mut Account,
    program: &Program,
    order: ValidOrder,
    birthday: Option<jiff::civil::Date>,
    now: Timestamp,
) -> Result<Order, DomainError> {
    place_order_with_coupons(account, program, order, (birthday, None), &[], now)
}

/// As [`place_order`], with the coupons the order uses (`offers`, each checked to apply by
/// [`crate::coupons::order_coupons`]): a points multiplier coupon adds its extra points, and each coupon is a
/// benefit use of the order (`coupon:{template}`). Marking the coupons used is the caller's,
/// once this has succeeded.
pub fn place_order_with_coupons(
    account: &mut Account,
    program: &Program,
    order: ValidOrder,
    (birthday, plan): (Option<jiff::civil::Date>, Option<&crate::membership::Plan>),
    offers: &[(&crate::coupons::Coupon, &crate::coupons::Template)],
    now: Timestamp,
) -> Result<Order, DomainError> {
    assert_eq!(account.member_id, order.member_id, "an order is placed on its own member");
    account.join_tier(program, now);
    let applied = if offers.is_empty() {
        None
    } else {
        Some(crate::coupons::order_coupons(program, (&account.tier.code, plan), &order, offers)?)
    };
    let eligible = order.eligible_minor();
    let (mult, why) = crate::tiers::earn_multiplier(program, &account.tier.code, birthday, plan, order.paid_at);
    let base = program.points_for(eligible).get();
    let paid: Vec<i64> = order.lines.iter().map(|l| l.paid_minor).collect();
    let coupon_extra = applied.as_ref().map_or(0, |a| crate::checkout::coupon_extra_points(program, a, &paid));
    let (earned, growth, note) = match account.status {
        MemberStatus::Active => {
            let earned = mult.checked_apply(base).and_then(|p| p.checked_add(coupon_extra));
            let earned = Points::new(crate::limits::check_earned("lines", earned)?);
            (earned, crate::tiers::order_growth(program, eligible.get()), None)
        }
        s => (Points::ZERO, 0, Some(format!("member was {s}: nothing earned"))),
    };
    account.check_credit("lines", earned)?;
    account.check_growth("lines", growth)?;
    let tier_earned = if earned.is_positive() { earned.get() - coupon_extra } else { 0 };
    let mut benefits =
        crate::usage::order_benefits(program, (&account.tier.code, plan), &order, base, tier_earned, &why);
    if let Some(a) = &applied {
        for r in a.applied() {
            let extra = if r.kind == "points_multiplier" && earned.is_positive() { coupon_extra } else { 0 };
            // A coupon of a plan's monthly pack is the plan's: it counts in the member's savings.
            let from_pack = offers
                .iter()
                .any(|(c, _)| c.coupon_id.as_str() == r.coupon_id && c.source == crate::coupons::Channel::Membership);
            benefits.push(BenefitUse {
                code: format!("{}{}", crate::usage::COUPON_PREFIX, r.template_id),
                value_minor: r.discount_minor + r.shipping_waived_minor,
                extra_points: extra,
                tier: account.tier.code.clone(),
                plan: plan.filter(|_| from_pack).map(|p| p.code.clone()),
            });
        }
    }
    let lot_no = account.earn(program, (SourceKind::Order, order.id.as_str()), earned, order.paid_at, now);
    account.add_growth(program, crate::tiers::GrowthKind::Order, order.id.as_str(), growth, order.paid_at, now);
    Ok(Order {
        order,
        earned_points: earned,
        clawed_back_points: Points::ZERO,
        refunded_minor: Money::ZERO,
        lot_no,
        created_at: now,
        note,
        growth,
        growth_clawed_back: 0,
        multiplier_milli: if earned.is_positive() { mult.0 } else { 1000 },
        benefits,
        tasks: Vec::new(),
    })
}
