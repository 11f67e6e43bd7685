//! What the benefits an order used were worth, recorded with the order so that operations
//! can see how much each benefit is used and what it costs (`GET /v1/benefits/usage`).

use crate::checkout::{add_use, price_line};
use crate::order::{BenefitUse, ValidOrder};
use crate::program::Program;
use crate::tiers;
use serde::Serialize;

// One vocabulary of benefit codes (README, "The usage report's benefit codes"): what a tier
// lists (`GET /v1/members/{id}/benefits`), what checkout applies, what an order records and
// what the usage report counts all say the same benefit the same way.

/// Benefit codes of the discounts, whose value is money off the list price.
pub const MEMBER_DISCOUNT: &str = "member_discount";
pub const CATEGORY_DISCOUNT: &str = "category_discount";
pub const BRAND_DISCOUNT: &str = "brand_discount";
pub const MEMBER_DAY_DISCOUNT: &str = "member_day_discount";
/// The benefit code of shipping waived.
pub const FREE_SHIPPING: &str = "free_shipping";
/// Benefit codes (the part before any `:`) of the multipliers, whose value is extra points.
pub const TIER_MULTIPLIER: &str = "tier_multiplier";
pub const MEMBER_DAY_MULTIPLIER: &str = "member_day";
pub const BIRTHDAY_MULTIPLIER: &str = "birthday_month";
/// The benefit code of a free-sample claim (counted per claim, no money value).
pub const FREE_SAMPLE: &str = "free_sample";
/// Benefits a tier gives that no order records a value for: they are listed and shown on a
/// priced line, never counted.
pub const FREE_RETURNS: &str = "free_returns";
pub const PRIORITY_SERVICE: &str = "priority_service";
pub const EARLY_ACCESS: &str = "early_access";
/// A coupon's benefit code is this prefix and its template id (`coupon:spring-200-20`); its
/// value is what it took off the goods and the shipping it waived.
pub const COUPON_PREFIX: &str = "coupon:";

/// The code of a category or brand discount: `category_discount:beauty`, `brand_discount:acme`
/// (a discount naming both is the category's, as it is priced).
pub fn special_discount_code(d: &tiers::SpecialDiscount) -> String {
    match (&d.category, &d.brand) {
        (Some(c), _) => format!("{CATEGORY_DISCOUNT}:{c}"),
        (None, Some(b)) => format!("{BRAND_DISCOUNT}:{b}"),
        (None, None) => unreachable!("the programme's validation requires a category or a brand"),
    }
}

/// A benefit a tier gives, as the member's benefits list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierBenefit {
    pub code: String,
    pub description: String,
}

/// What `level` gives, by the codes orders and the usage report use, each with a line that
/// says it to the member. Only what the tier gives is listed: a member price of 100%, a ×1
/// multiplier or no free samples is no benefit.
pub fn tier_benefits(program: &Program, level: &tiers::Level) -> Vec<TierBenefit> {
    let mut out = Vec::new();
    let mut add = |code: String, description: String| out.push(TierBenefit { code, description });
    if level.discount_percent < 100 {
        add(MEMBER_DISCOUNT.into(), format!("member price: {}% of list", level.discount_percent));
    }
    for d in &level.special_discounts {
        let what =
            d.category.as_ref().map(|c| format!("category {c}")).or(d.brand.as_ref().map(|b| format!("brand {b}")));
        let when = if d.weekdays.is_empty() && d.dates.is_empty() { "" } else { " on chosen days" };
        add(special_discount_code(d), format!("{}: {}% of list{when}", what.unwrap_or_default(), d.percent));
    }
    let times = |m: tiers::Multiplier| format!("points ×{}", f64::from(m));
    if level.points_multiplier != tiers::Multiplier::ONE {
        add(format!("{TIER_MULTIPLIER}:{}", level.code), times(level.points_multiplier));
    }
    match level.free_shipping_over_minor {
        Some(0) => add(FREE_SHIPPING.into(), "free shipping on every order".into()),
        Some(x) => add(FREE_SHIPPING.into(), format!("free shipping from {x} (minor units) of goods")),
        None => {}
    }
    if level.free_samples_per_month > 0 {
        let n = level.free_samples_per_month;
        add(FREE_SAMPLE.into(), format!("{n} free sample{} a month", if n == 1 { "" } else { "s" }));
    }
    if level.free_returns {
        add(FREE_RETURNS.into(), "free returns".into());
    }
    if level.priority_service {
        add(PRIORITY_SERVICE.into(), "priority customer service".into());
    }
    let md = &program.file.member_day;
    if md.day_of_month > 0 && (md.tiers.is_empty() || md.tiers.contains(&level.code)) {
        let day = format!("member day (day {} of each month)", md.day_of_month);
        if md.points_multiplier != tiers::Multiplier::ONE {
            add(MEMBER_DAY_MULTIPLIER.into(), format!("{day}: {}", times(md.points_multiplier)));
        }
        if md.extra_percent < 100 {
            add(MEMBER_DAY_DISCOUNT.into(), format!("{day}: {}% of the member price", md.extra_percent));
        }
    }
    if program.file.birthday.points_multiplier != tiers::Multiplier::ONE {
        add(BIRTHDAY_MULTIPLIER.into(), format!("birthday month: {}", times(program.file.birthday.points_multiplier)));
    }
    let rung = tiers::level_index(program, &level.code);
    let early: Vec<&str> = (program.file.early_access.iter())
        .filter(|e| tiers::level_index(program, &e.min_tier).is_some_and(|min| rung.is_some_and(|r| r >= min)))
        .map(|e| e.sku.as_str())
        .collect();
    if !early.is_empty() {
        add(EARLY_ACCESS.into(), format!("early access to {}", early.join(", ")));
    }
    out
}

/// The kind of a benefit code: `category_discount:shoes` → `category_discount`.
pub fn kind(code: &str) -> &str {
    code.split_once(':').map_or(code, |(k, _)| k)
}

/// Whether a benefit of this kind gives money (a discount or shipping waived), as opposed to
/// extra points (a multiplier) or a free sample: what the usage report's `given_minor` sums.
pub fn gives_money(kind: &str) -> bool {
    ![
        TIER_MULTIPLIER,
        MEMBER_DAY_MULTIPLIER,
        BIRTHDAY_MULTIPLIER,
        FREE_SAMPLE,
        crate::membership::perks::PLAN_MULTIPLIER,
    ]
    .contains(&kind)
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
    (tier, plan): (&str, Option<&crate::membership::Plan>),
    order: &ValidOrder,
    base_points: i64,
    earned_points: i64,
    multipliers: &[String],
) -> Vec<BenefitUse> {
    let pricing = crate::checkout::Pricing::at(program, tier, plan, order.paid_at);
    let level = pricing.level;
    let mut discounts: Vec<(String, i64)> = Vec::new();
    let mut goods = 0;
    for l in &order.lines {
        let list = l.quantity * l.unit_price_minor;
        let lp = price_line(program, &pricing, (&l.sku, l.category.as_deref(), l.brand.as_deref(), l.quantity), list);
        goods += lp.price;
        for (code, v) in lp.uses((list - l.paid_minor).max(0)) {
            add_use(&mut discounts, code, v);
        }
    }
    let use_of = |code: String, value_minor: i64, extra_points: i64| BenefitUse {
        plan: crate::membership::perks::plan_of(&code).map(str::to_owned),
        code,
        value_minor,
        extra_points,
        tier: level.code.clone(),
    };
    let mut out: Vec<BenefitUse> = discounts.into_iter().map(|(c, v)| use_of(c, v, 0)).collect();
    if order.shipping_waived_minor > 0 {
        // The tier's when it ships this order free; else the plan's when it ships every order
        // free; else the store's own waiver, recorded as the tier's as before.
        let tier_ships = level.free_shipping_over_minor.is_some_and(|x| goods >= x);
        let code = match plan.filter(|p| p.benefits.free_shipping && !tier_ships) {
            Some(p) => format!("{}:{}", crate::membership::perks::PLAN_FREE_SHIPPING, p.code),
            None => FREE_SHIPPING.into(),
        };
        out.push(use_of(code, order.shipping_waived_minor, 0));
    }
    let extra = earned_points - base_points;
    if extra > 0 && !multipliers.is_empty() {
        let n = multipliers.len() as i64;
        for (i, m) in multipliers.iter().enumerate() {
            let share = extra / n + if i == 0 { extra % n } else { 0 };
            out.push(use_of(m.clone(), program.points_value_minor(crate::Points::new(share)).get(), share));
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

    #[test]
    fn a_tier_lists_its_benefits_by_the_codes_orders_record() {
        let p = Program::default_program();
        let codes = |tier: &str| -> Vec<String> {
            let level = &p.file.tiers.levels[tiers::level_index(&p, tier).unwrap()];
            tier_benefits(&p, level).into_iter().map(|b| b.code).collect()
        };
        // The default ladder: member day on the 18th at ×2 points, birthday month ×2.
        assert_eq!(codes("base"), ["member_discount", "member_day", "birthday_month"]);
        let gold = ["member_discount", "tier_multiplier:gold", "free_shipping", "free_sample", "free_returns"];
        assert_eq!(codes("gold")[..5], gold);
        let vocabulary = [
            MEMBER_DISCOUNT,
            CATEGORY_DISCOUNT,
            BRAND_DISCOUNT,
            MEMBER_DAY_DISCOUNT,
            FREE_SHIPPING,
            TIER_MULTIPLIER,
            MEMBER_DAY_MULTIPLIER,
            BIRTHDAY_MULTIPLIER,
            FREE_SAMPLE,
            FREE_RETURNS,
            PRIORITY_SERVICE,
            EARLY_ACCESS,
        ];
        for level in &p.file.tiers.levels {
            for code in codes(&level.code) {
                assert!(vocabulary.contains(&kind(&code)), "{code}");
            }
        }
    }
}
