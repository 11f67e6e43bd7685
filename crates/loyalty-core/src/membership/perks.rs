//! How a plan's benefits stack with the tier's, the one rule checkout, orders and the usage
//! records share: per line the lower of the tier's price and the plan's (its percent, its
//! category's percent or the SKU's member price), the member-day extra after both; the larger
//! multiplier (the programme's `tiers.multipliers` rule, with the plan's as one more
//! candidate); free shipping when either gives it. What the plan adds over the tier is
//! recorded under its own codes, so a member's savings are exactly the plan's recorded uses.

use super::plan::Plan;

/// `plan_discount:{plan}`: the plan's percent off (everywhere or for a category).
pub const PLAN_DISCOUNT: &str = "plan_discount";
/// `plan_price:{plan}`: a SKU's member-only price.
pub const PLAN_PRICE: &str = "plan_price";
/// `plan_free_shipping:{plan}`: shipping the plan waived and the tier would not have.
pub const PLAN_FREE_SHIPPING: &str = "plan_free_shipping";
/// `plan_multiplier:{plan}`: extra points of the plan's multiplier.
pub const PLAN_MULTIPLIER: &str = "plan_multiplier";

/// The plan code a benefit code belongs to, when it is a plan's.
pub fn plan_of(code: &str) -> Option<&str> {
    let (kind, plan) = code.split_once(':')?;
    [PLAN_DISCOUNT, PLAN_PRICE, PLAN_FREE_SHIPPING, PLAN_MULTIPLIER].contains(&kind).then_some(plan)
}

/// The plan's price for a line of `quantity` × `unit` (`list` in all) and the code of the
/// benefit that sets it; `None` when the plan gives this line nothing.
pub fn line_price(
    plan: &Plan,
    (sku, category): (&str, Option<&str>),
    quantity: i64,
    list: i64,
) -> Option<(i64, String)> {
    let b = &plan.benefits;
    let mut percent = b.discount_percent;
    if let Some(c) = category {
        for d in b.category_discounts.iter().filter(|d| d.category == c) {
            percent = percent.min(d.percent);
        }
    }
    let mut best = (percent < 100).then(|| (list * percent / 100, format!("{PLAN_DISCOUNT}:{}", plan.code)));
    if let Some(m) = b.member_prices.iter().find(|m| m.sku == sku) {
        let price = m.price_minor.saturating_mul(quantity);
        if price < list && best.as_ref().is_none_or(|(p, _)| price < *p) {
            best = Some((price, format!("{PLAN_PRICE}:{}", plan.code)));
        }
    }
    best.filter(|(p, _)| *p < list)
}

/// The multiplier candidate the plan adds (`plan_multiplier:{plan}`), when it has one.
pub fn multiplier(plan: &Plan) -> Option<(crate::tiers::Multiplier, String)> {
    let m = plan.benefits.points_multiplier;
    (m != crate::tiers::Multiplier::ONE).then(|| (m, format!("{PLAN_MULTIPLIER}:{}", plan.code)))
}

/// What the plan gives, as the member's benefits list shows it.
pub fn listed(plan: &Plan) -> Vec<crate::usage::TierBenefit> {
    let b = &plan.benefits;
    let mut out = Vec::new();
    let mut add = |code: String, description: String| out.push(crate::usage::TierBenefit { code, description });
    let code = |kind: &str| format!("{kind}:{}", plan.code);
    if b.discount_percent < 100 || !b.category_discounts.is_empty() {
        let mut parts = Vec::new();
        if b.discount_percent < 100 {
            parts.push(format!("{}% of list", b.discount_percent));
        }
        for d in &b.category_discounts {
            parts.push(format!("{} {}%", d.category, d.percent));
        }
        add(code(PLAN_DISCOUNT), format!("{}: {}", plan.name, parts.join(", ")));
    }
    if !b.member_prices.is_empty() {
        add(code(PLAN_PRICE), format!("{}: member prices on {} SKUs", plan.name, b.member_prices.len()));
    }
    if let Some((m, c)) = multiplier(plan) {
        add(c, format!("{}: points ×{}", plan.name, f64::from(m)));
    }
    if b.free_shipping {
        add(code(PLAN_FREE_SHIPPING), format!("{}: free shipping on every order", plan.name));
    }
    if b.free_returns {
        add(crate::usage::FREE_RETURNS.into(), format!("{}: free returns", plan.name));
    }
    if b.priority_service {
        add(crate::usage::PRIORITY_SERVICE.into(), format!("{}: priority service", plan.name));
    }
    for item in &b.coupon_pack {
        add(
            format!("coupon_pack:{}", item.template),
            format!("{}: {} × coupon {} every month", plan.name, item.count, item.template),
        );
    }
    out
}
