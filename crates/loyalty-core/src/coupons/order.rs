//! Coupons on a priced cart (what checkout and the order both run) and an order's coupons: the
//! order's lines priced at member price as checkout priced them, and the coupons judged on
//! them with the same rules, so the order and evaluate agree.

use crate::error::DomainError;
use crate::program::Program;
use jiff::Timestamp;

/// What coupons do to a cart: the member prices of `lines` (cart order) and the coupons.
pub fn coupons_on(
    lines: &[crate::checkout::PricedLine],
    shipping_minor: i64,
    offers: &[(&super::Coupon, &super::Template)],
    at: Timestamp,
) -> super::Applied {
    if offers.is_empty() {
        // Most carts name no coupon: they pay nothing for the coupon rules.
        return super::Applied { line_discounts: vec![0; lines.len()], allow_points: true, ..Default::default() };
    }
    let goods: Vec<super::CartGoods<'_>> = lines
        .iter()
        .map(|l| super::CartGoods {
            sku: &l.sku,
            category: l.category.as_deref(),
            brand: l.brand.as_deref(),
            price: l.member_price_minor,
        })
        .collect();
    super::apply(&goods, shipping_minor, offers, at)
}

/// Extra points a points-multiplier coupon gives: ⌊points_for(its lines' paid) × (m − 100) ÷ 100⌋.
pub fn coupon_extra_points(program: &Program, applied: &super::Applied, paid: &[i64]) -> i64 {
    let Some((percent, in_scope)) = &applied.multiplier else { return 0 };
    let base: i64 = paid.iter().zip(in_scope).filter(|(_, s)| **s).map(|(p, _)| *p).sum();
    let points = i128::from(program.points_for(crate::Money::new(base)).get());
    i64::try_from(points * i128::from(percent - 100) / 100).unwrap_or(i64::MAX)
}

/// The member prices of an order's lines at its `paid_at`, for the member's tier, as checkout
/// priced them: what the order's coupons are judged on.
pub fn member_prices(
    program: &Program,
    (tier, plan): (&str, Option<&crate::membership::Plan>),
    order: &crate::order::ValidOrder,
) -> Vec<crate::checkout::PricedLine> {
    let pricing = crate::checkout::Pricing::at(program, tier, plan, order.paid_at);
    order
        .lines
        .iter()
        .map(|l| {
            let list = l.quantity * l.unit_price_minor;
            let goods = (l.sku.as_str(), l.category.as_deref(), l.brand.as_deref(), l.quantity);
            let lp = crate::checkout::price_line(program, &pricing, goods, list);
            crate::checkout::PricedLine {
                sku: l.sku.clone(),
                category: l.category.clone(),
                brand: l.brand.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                list_minor: list,
                member_price_minor: lp.price,
                coupon_discount_minor: 0,
                paid_minor: l.paid_minor,
                benefits: Vec::new(),
            }
        })
        .collect()
}

/// What the order's coupons (`offers`, in the order's `coupons` order) do to it, refused with
/// `coupon_used` or `coupon_not_applicable` (and its reason) unless every one of them applies.
pub fn order_coupons(
    program: &Program,
    buyer: (&str, Option<&crate::membership::Plan>),
    order: &crate::order::ValidOrder,
    offers: &[(&super::Coupon, &super::Template)],
) -> Result<super::Applied, DomainError> {
    let priced = member_prices(program, buyer, order);
    let applied = crate::checkout::coupons_on(&priced, order.shipping_minor, offers, order.paid_at);
    for (r, (c, _)) in applied.results.iter().zip(offers) {
        if r.why_not.as_deref() == Some("used") {
            let by = c.order_id.as_ref().map_or_else(String::new, |o| o.to_string());
            return Err(DomainError::CouponUsed { coupon: r.coupon_id.clone(), order: by });
        }
        if let Some(why) = &r.why_not {
            return Err(DomainError::CouponNotApplicable {
                coupon: r.coupon_id.clone(),
                why_not: why.clone(),
                reason: r.reason.clone(),
            });
        }
    }
    Ok(applied)
}
