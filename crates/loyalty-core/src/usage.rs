//! What the benefits an order used were worth, recorded with the order so that operations
//! can see how much each benefit is used and what it costs (`GET /v1/benefits/usage`).

use crate::checkout::{add_use, price_line};
use crate::order::{BenefitUse, ValidOrder};
use crate::program::Program;
use crate::tiers;

/// Benefit codes (the part before any `:`) of the multipliers, whose value is extra points.
pub const TIER_MULTIPLIER: &str = "tier_multiplier";
pub const MEMBER_DAY_MULTIPLIER: &str = "member_day";
pub const BIRTHDAY_MULTIPLIER: &str = "birthday_month";
/// The benefit code of a free-sample claim (counted per claim, no money value).
pub const FREE_SAMPLE: &str = "free_sample";

/// The kind of a benefit code: `category_discount:shoes` → `category_discount`.
pub fn kind(code: &str) -> &str {
    code.split_once(':').map_or(code, |(k, _)| k)
}

/// Whether a benefit of this kind gives money (a discount or shipping waived), as opposed to
/// extra points (a multiplier) or a free sample: what the usage report's `given_minor` sums.
pub fn gives_money(kind: &str) -> bool {
    ![TIER_MULTIPLIER, MEMBER_DAY_MULTIPLIER, BIRTHDAY_MULTIPLIER, FREE_SAMPLE].contains(&kind)
}

/// The benefits `order` used when placed by a member of `tier`: per line the tier's discount
/// (member price or a category/brand discount) and the member-day extra, each as the checkout
/// computes it for the same cart and instant but never more than the line was actually
/// discounted (list − paid; the rest is points redeemed or the store's own offers); shipping
/// the store waived; and the extra points of the multiplier (`earned − base`). Under the
/// `product` rule the extra points are split evenly over the multipliers that made them, the
/// remainder to the first, so that the recorded extras always add up to what was earned.
pub fn order_benefits(
    program: &Program,
    tier: &str,
    order: &ValidOrder,
    base_points: i64,
    earned_points: i64,
    multipliers: &[String],
) -> Vec<BenefitUse> {
    let idx = tiers::level_index(program, tier).unwrap_or(0);
    let level = &program.file.tiers.levels[idx];
    let date = order.paid_at.to_zoned(program.tz.clone()).date();
    let member_day = tiers::is_member_day(program, &level.code, order.paid_at);
    let mut discounts: Vec<(String, i64)> = Vec::new();
    for l in &order.lines {
        let list = l.quantity * l.unit_price_minor;
        let lp = price_line(program, level, member_day, (l.category.as_deref(), l.brand.as_deref()), list, date);
        for (code, v) in lp.uses((list - l.paid_minor).max(0)) {
            add_use(&mut discounts, code, v);
        }
    }
    let use_of = |code: String, value_minor: i64, extra_points: i64| BenefitUse {
        code,
        value_minor,
        extra_points,
        tier: level.code.clone(),
    };
    let mut out: Vec<BenefitUse> = discounts.into_iter().map(|(c, v)| use_of(c, v, 0)).collect();
    if order.shipping_waived_minor > 0 {
        out.push(use_of("free_shipping".into(), order.shipping_waived_minor, 0));
    }
    let extra = earned_points - base_points;
    if extra > 0 && !multipliers.is_empty() {
        let n = multipliers.len() as i64;
        for (i, m) in multipliers.iter().enumerate() {
            let share = extra / n + if i == 0 { extra % n } else { 0 };
            out.push(use_of(m.clone(), program.points_value_minor(share), share));
        }
    }
    out
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn kinds_split_at_the_colon_and_only_discounts_and_shipping_give_money() {
        assert_eq!(kind("category_discount:shoes"), "category_discount");
        assert_eq!(kind("free_shipping"), "free_shipping");
        assert!(gives_money("member_discount") && gives_money("free_shipping"));
        assert!(!gives_money(kind("tier_multiplier:gold")) && !gives_money(MEMBER_DAY_MULTIPLIER));
        assert!(!gives_money(BIRTHDAY_MULTIPLIER) && !gives_money(FREE_SAMPLE));
    }
}
