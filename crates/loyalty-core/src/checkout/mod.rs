//! Checkout evaluation: what a member pays for a cart, what they may redeem and what they
//! would earn. Pure; it changes nothing, and its prices and points agree to the fen with what
//! `place_order` credits for the same cart paid at the same instant. A line's price by the
//! tier's benefits is in `price`.

mod price;
pub use price::*;

use crate::amount::{Money, Points};
use crate::coupons::{Coupon, CouponResult, Template};
use crate::error::DomainError;
use crate::ledger::MemberStatus;
use crate::order::{check_amount, MAX_LINES, MAX_QUANTITY};
use crate::program::Program;
use crate::tiers::{self, level_index};
use crate::usage;
use jiff::{civil::Date, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CartLine {
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
}

/// The member's tier and available points at `now`, from one copy of the account brought up
/// to date (due activations, expiries and hold time-outs, then the tier review), as the
/// writer would leave it.
pub fn buyer_at(account: &crate::account::Account, program: &Program, now: Timestamp) -> (String, Points) {
    let mut view = account.clone();
    view.advance(now);
    view.join_tier(program, now);
    view.review_tier(program, now);
    let tier = level_index(program, &view.tier.code).unwrap_or(0);
    (program.file.tiers.levels[tier].code.clone(), view.buckets.available())
}

/// Who is buying what: the member's tier, paid plan (when its benefits apply at the
/// instant), birthday, status and available points.
pub struct Buyer<'a> {
    pub tier: &'a str,
    pub plan: Option<&'a crate::membership::Plan>,
    pub birthday: Option<Date>,
    pub status: MemberStatus,
    pub available_points: Points,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applied {
    pub code: String,
    pub reason: String,
    pub value_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PricedLine {
    pub sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub list_minor: i64,
    /// After member, category/brand and member-day discounts.
    pub member_price_minor: i64,
    /// What the coupons took off the line (see `coupons::apply` for how it is spread).
    pub coupon_discount_minor: i64,
    /// After the points redeemed are spread over the lines: send this as the order line's
    /// `paid_minor`.
    pub paid_minor: i64,
    /// The codes of the benefits that priced this line, as orders and the usage report name
    /// them: `member_discount` or `category_discount:{c}` / `brand_discount:{b}`, then
    /// `member_day_discount`, and `early_access`.
    pub benefits: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedLine {
    pub sku: String,
    pub reason: String,
    pub opens_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Redemption {
    /// The most points this cart may use (programme cap and the member's available points).
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub max_points: Points,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub max_value_minor: Money,
    /// What sets `max_points`: `balance` (the member's available points), `share_cap` (the
    /// programme's share of the goods points may pay), `minimum` (less than the minimum
    /// redemption could apply, so none does), `inactive` (a frozen or closed member), or
    /// `coupon` (a coupon of the cart does not allow points).
    pub limit: String,
    /// Points applied (the request's `points_to_redeem`, or 0).
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub points: Points,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub value_minor: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    pub tier: String,
    pub lines: Vec<PricedLine>,
    pub refused: Vec<RefusedLine>,
    pub list_minor: i64,
    pub goods_minor: i64,
    pub shipping_minor: i64,
    pub shipping_waived_minor: i64,
    pub redemption: Redemption,
    /// Goods after points plus shipping: what the member pays in money.
    pub payable_minor: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub points_earned: Points,
    pub growth_earned: i64,
    /// The points multiplier, e.g. 1.5.
    pub points_multiplier: f64,
    pub benefits: Vec<Applied>,
    /// Goods taken off by the coupons that applied.
    pub coupon_discount_minor: i64,
    /// Each coupon named (or picked by `best_coupons`): applied or not, and why.
    pub coupons: Vec<CouponResult>,
}

fn validate_line(i: usize, l: &CartLine) -> Result<(), DomainError> {
    let f = |n: &str| format!("lines[{i}].{n}");
    let text = |name: &str, v: &str| crate::text::check_text(&f(name), v, 1..=crate::order::MAX_TEXT);
    text("sku", &l.sku)?;
    if let Some(c) = &l.category {
        text("category", c)?;
    }
    if let Some(b) = &l.brand {
        text("brand", b)?;
    }
    if !(1..=MAX_QUANTITY).contains(&l.quantity) {
        return Err(DomainError::unprocessable(
            f("quantity"),
            format!("{} must be between 1 and {MAX_QUANTITY}", l.quantity),
        ));
    }
    check_amount(&f("unit_price_minor"), l.unit_price_minor)?;
    check_amount(&f("unit_price_minor"), l.unit_price_minor * l.quantity)
}

/// Whether `line` may be bought by this tier at `at`; the reason when not.
fn early_access(program: &Program, tier_idx: usize, sku: &str, at: Timestamp) -> Result<bool, RefusedLine> {
    let Some(e) = program.file.early_access.iter().find(|e| e.sku == sku) else { return Ok(false) };
    let opens = e.open_to_all_at.as_deref().and_then(|s| s.parse::<Timestamp>().ok());
    if level_index(program, &e.min_tier).is_some_and(|min| tier_idx >= min) {
        return Ok(true);
    }
    if opens.is_some_and(|o| o <= at) {
        return Ok(false);
    }
    let reason = format!("early access for {} and above", e.min_tier);
    Err(RefusedLine { sku: sku.to_owned(), reason, opens_at: opens.map(|o| o.to_string()) })
}

/// Evaluates a cart for `buyer` at instant `at`, without coupons.
pub fn evaluate(
    program: &Program,
    buyer: &Buyer<'_>,
    lines: &[CartLine],
    shipping_minor: i64,
    points_to_redeem: Option<i64>,
    at: Timestamp,
) -> Result<Evaluation, DomainError> {
    evaluate_with_coupons(program, buyer, (lines, shipping_minor), points_to_redeem, &[], at)
}

pub use crate::coupons::{coupon_extra_points, coupons_on};

/// Evaluates a cart for `buyer` at instant `at` with coupons (`offers`, as named); the
/// points redeemed come after the coupons, on what they left.
pub fn evaluate_with_coupons(
    program: &Program,
    buyer: &Buyer<'_>,
    (lines, shipping_minor): (&[CartLine], i64),
    points_to_redeem: Option<i64>,
    offers: &[(&Coupon, &Template)],
    at: Timestamp,
) -> Result<Evaluation, DomainError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(DomainError::unprocessable("lines", format!("must hold 1 to {MAX_LINES} lines")));
    }
    check_amount("shipping_minor", shipping_minor)?;
    let tier_idx = level_index(program, buyer.tier).unwrap_or(0);
    let pricing = Pricing::at(program, buyer.tier, buyer.plan, at);
    let level = pricing.level;
    let (mut priced, mut refused) = (Vec::new(), Vec::new());
    let mut discounts: Vec<(String, i64)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        validate_line(i, l)?;
        let early = match early_access(program, tier_idx, &l.sku, at) {
            Ok(e) => e,
            Err(r) => {
                refused.push(r);
                continue;
            }
        };
        let list = l.quantity * l.unit_price_minor;
        let lp = price_line(program, &pricing, (&l.sku, l.category.as_deref(), l.brand.as_deref(), l.quantity), list);
        let mut why = lp.codes();
        if early {
            why.push(usage::EARLY_ACCESS.into());
        }
        for (code, v) in lp.uses(list - lp.price) {
            add_use(&mut discounts, code, v);
        }
        let price = lp.price;
        priced.push(PricedLine {
            sku: l.sku.clone(),
            category: l.category.clone(),
            brand: l.brand.clone(),
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            list_minor: list,
            member_price_minor: price,
            coupon_discount_minor: 0,
            paid_minor: price,
            benefits: why,
        });
    }
    let list: i64 = priced.iter().map(|l| l.list_minor).sum();
    let goods: i64 = priced.iter().map(|l| l.member_price_minor).sum();
    check_amount("lines", list + shipping_minor)?;
    let tier_free_ship = level.free_shipping_over_minor.is_some_and(|x| goods >= x) && !priced.is_empty();
    let plan_free_ship = !tier_free_ship && buyer.plan.is_some_and(|p| p.benefits.free_shipping) && !priced.is_empty();
    let applied = coupons_on(&priced, shipping_minor, offers, at);
    for (l, d) in priced.iter_mut().zip(&applied.line_discounts) {
        l.coupon_discount_minor = *d;
        l.paid_minor = l.member_price_minor - d;
    }
    let coupon_discount = applied.discount_minor();
    let free_ship = tier_free_ship || plan_free_ship || applied.shipping_waived;
    let waived = if free_ship { shipping_minor } else { 0 };
    let active = buyer.status == MemberStatus::Active;
    if !applied.allow_points && points_to_redeem.is_some_and(|p| p > 0) {
        let by = applied.applied().map(|r| r.coupon_id.as_str()).collect::<Vec<_>>().join(", ");
        return Err(DomainError::unprocessable(
            "points_to_redeem",
            format!("points cannot be redeemed with coupon {by} on this order"),
        ));
    }
    let wanted = if applied.allow_points { points_to_redeem } else { None };
    let mut redemption = redeem(program, goods - coupon_discount, buyer.available_points, active, wanted)?;
    if !applied.allow_points {
        redemption.max_points = Points::ZERO;
        redemption.max_value_minor = Money::ZERO;
        redemption.limit = "coupon".into();
    }
    spread(&mut priced, redemption.value_minor.get());
    let paid: i64 = priced.iter().map(|l| l.paid_minor).sum();
    let (mult, mult_why) = tiers::earn_multiplier(program, buyer.tier, buyer.birthday, buyer.plan, at);
    let (points, growth) = if active {
        let paid_lines: Vec<i64> = priced.iter().map(|l| l.paid_minor).collect();
        let extra = coupon_extra_points(program, &applied, &paid_lines);
        let earned = mult.checked_apply(program.points_for(Money::new(paid)).get()).and_then(|p| p.checked_add(extra));
        let earned = crate::limits::check_earned("lines", earned)?;
        (Points::new(earned), tiers::order_growth(program, paid))
    } else {
        (Points::ZERO, 0)
    };
    let mut benefits = Vec::new();
    debug_assert_eq!(discounts.iter().map(|(_, v)| v).sum::<i64>(), list - goods);
    for (code, value) in discounts {
        let plan_name = buyer.plan.map_or("", |p| p.name.as_str());
        let reason = match code.split_once(':') {
            Some((kind, _)) if kind == crate::membership::perks::PLAN_DISCOUNT => format!("{plan_name} price"),
            Some((kind, _)) if kind == crate::membership::perks::PLAN_PRICE => format!("{plan_name} member price"),
            _ if code == usage::MEMBER_DAY_DISCOUNT => {
                format!("member day: {}% of the member price", program.file.member_day.extra_percent)
            }
            Some((_, what)) => format!("{} price on {what}", level.name),
            None => format!("{} member price {}%", level.name, level.discount_percent),
        };
        benefits.push(Applied { code, reason, value_minor: value });
    }
    if waived > 0 && tier_free_ship {
        benefits.push(Applied {
            code: usage::FREE_SHIPPING.into(),
            reason: format!("free shipping for {}", level.name),
            value_minor: waived,
        });
    }
    if waived > 0 && plan_free_ship {
        let plan = buyer.plan.expect("a plan waived it");
        benefits.push(Applied {
            code: format!("{}:{}", crate::membership::perks::PLAN_FREE_SHIPPING, plan.code),
            reason: format!("free shipping for {}", plan.name),
            value_minor: waived,
        });
    }
    for w in mult_why {
        benefits.push(Applied { code: w.clone(), reason: format!("points ×{}", f64::from(mult)), value_minor: 0 });
    }
    for r in applied.applied() {
        benefits.push(Applied {
            code: format!("{}{}", usage::COUPON_PREFIX, r.template_id),
            reason: format!("coupon {}: {}", r.coupon_id, r.reason),
            value_minor: r.discount_minor + if tier_free_ship || plan_free_ship { 0 } else { r.shipping_waived_minor },
        });
    }
    Ok(Evaluation {
        coupon_discount_minor: coupon_discount,
        coupons: applied.results,
        tier: level.code.clone(),
        lines: priced,
        refused,
        list_minor: list,
        goods_minor: goods,
        shipping_minor: shipping_minor - waived,
        shipping_waived_minor: waived,
        payable_minor: paid + shipping_minor - waived,
        redemption,
        points_earned: points,
        growth_earned: growth,
        points_multiplier: f64::from(mult),
        benefits,
    })
}

fn redeem(
    program: &Program,
    goods: i64,
    available: Points,
    active: bool,
    wanted: Option<i64>,
) -> Result<Redemption, DomainError> {
    let r = &program.file.redemption;
    let min = Points::new(r.min_points);
    let (cap, balance) = (program.max_redeemable(Money::new(goods)), available.at_least_zero());
    let mut max = cap.min(balance);
    let limit = if !active {
        "inactive"
    } else if max < min {
        "minimum"
    } else if balance < cap {
        "balance"
    } else {
        "share_cap"
    };
    if !active || max < min {
        max = Points::ZERO;
    }
    let points = match wanted.map(Points::new) {
        None => Points::ZERO,
        Some(p) if p.is_zero() => Points::ZERO,
        Some(p) if p < min => {
            return Err(DomainError::unprocessable(
                "points_to_redeem",
                format!("{p} is below the minimum of {} points", r.min_points),
            ));
        }
        Some(p) if p > max => {
            // Say which limit binds, with its figures: the balance is not the cart's fault.
            let why = match limit {
                "inactive" => "the member is not active, so no points can be redeemed".to_owned(),
                "minimum" => format!(
                    "at most {} points could apply (the balance {balance}, the cart's cap {cap}), below the minimum of {}",
                    cap.min(balance),
                    r.min_points
                ),
                "balance" => format!("the member has {balance} points available"),
                _ => format!(
                    "points may pay at most {}% of this cart's goods: {cap} points",
                    r.max_share_percent
                ),
            };
            return Err(DomainError::unprocessable(
                "points_to_redeem",
                format!("{p} points is more than may apply: {why}"),
            ));
        }
        Some(p) => p,
    };
    Ok(Redemption {
        limit: limit.to_owned(),
        max_points: max,
        max_value_minor: program.points_value_minor(max),
        points,
        value_minor: program.points_value_minor(points),
    })
}

/// Spreads `value` over the lines in proportion to what is left to pay of each (member price
/// less coupons), rounding down, then the
/// remaining fen one by one from the first line, so that Σ paid = Σ price − value exactly.
fn spread(lines: &mut [PricedLine], value: i64) {
    let total: i64 = lines.iter().map(|l| l.paid_minor).sum();
    if value == 0 || total == 0 {
        return;
    }
    assert!(value <= total, "redemption is capped below the goods amount");
    let mut left = value;
    for l in lines.iter_mut() {
        let share = i64::try_from(i128::from(value) * i128::from(l.paid_minor) / i128::from(total)).expect("bounded");
        l.paid_minor -= share;
        left -= share;
    }
    for l in lines.iter_mut() {
        let take = left.min(l.paid_minor);
        l.paid_minor -= take;
        left -= take;
    }
    debug_assert_eq!(left, 0);
}
