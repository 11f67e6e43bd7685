//! Proves that checkout and the order agree to the fen and the point with coupons: a store that
//! sends evaluate's `paid_minor` per line and the same coupons gets the order evaluate priced —
//! the same coupons applied, each worth what evaluate said, and the points it promised — for
//! random carts, tiers, days and coupons (kinds, thresholds, scopes, stacking), gifts included:
//! a gift that applies is a line of its SKU at price 0, which the store adds to the order or had
//! in the cart already.

use jiff::{SignedDuration, Timestamp};
use loyalty_core::account::Account;
use loyalty_core::checkout::{evaluate_with_coupons, Buyer, CartLine};
use loyalty_core::coupons::template::{Audience, Limits, Scope, Validity};
use loyalty_core::coupons::{issue, Benefit, Channel, Holder, TemplateInput};
use loyalty_core::ids::{CouponId, MemberId, OrderId};
use loyalty_core::ledger::MemberStatus;
use loyalty_core::order::{place_order_with_coupons, LineInput, ValidOrder};
use loyalty_core::Program;
use proptest::prelude::*;

/// A member stored at tier `code` since `at`, as the rules would have left one that joined
/// then and reached it.
fn at_tier(member: MemberId, code: &str, at: Timestamp) -> Account {
    let tier = loyalty_core::tiers::TierState { code: code.to_owned(), since: Some(at), ..Default::default() };
    Account::from_stored(loyalty_core::account::StoredAccount {
        tier,
        ..loyalty_core::account::StoredAccount::new(member)
    })
}

const PROGRAMME: &str = "[member_day]\nday_of_month = 18\nextra_percent = 95\npoints_multiplier = 3.0\n\
[[tiers.levels]]\ncode = \"base\"\nname = \"普通会员\"\nentry = 0\ndiscount_percent = 95\n\
[[tiers.levels]]\ncode = \"gold\"\nname = \"金卡\"\nentry = 5000\ndiscount_percent = 85\npoints_multiplier = 1.5\n";

/// The gift coupons' SKU.
const GIFT: &str = "gift";

/// The gift's line, at price 0, in category `c{category}` (none for 0), so scopes may admit it.
fn gift_line(category: u8) -> CartLine {
    CartLine {
        sku: GIFT.into(),
        category: (category > 0).then(|| format!("c{category}")),
        brand: None,
        quantity: 1,
        unit_price_minor: 0,
    }
}

fn line() -> impl Strategy<Value = CartLine> {
    (0u8..3, 1i64..4, 1i64..100_000).prop_map(|(c, q, p)| CartLine {
        sku: String::new(),
        category: (c > 0).then(|| format!("c{c}")),
        brand: None,
        quantity: q,
        unit_price_minor: p,
    })
}

fn benefit() -> impl Strategy<Value = Benefit> {
    prop_oneof![
        (1i64..20_000, 0i64..3, any::<bool>()).prop_map(|(v, k, step)| Benefit::AmountOff {
            value_minor: v,
            threshold_minor: v * k,
            step: step && k > 0,
            max_off_minor: None
        }),
        (1i64..100, 0i64..50_000, proptest::option::of(1i64..10_000)).prop_map(|(p, t, m)| Benefit::PercentOff {
            percent_off: p,
            max_off_minor: m,
            threshold_minor: t
        }),
        (0i64..50_000).prop_map(|t| Benefit::FreeShipping { threshold_minor: t }),
        (101i64..400).prop_map(|m| Benefit::PointsMultiplier { multiplier_percent: m, threshold_minor: 0 }),
        (0i64..50_000, 1i64..10_000).prop_map(|(t, v)| Benefit::Gift {
            sku: GIFT.into(),
            value_minor: v,
            threshold_minor: t
        }),
    ]
}

fn coupon_input() -> impl Strategy<Value = (Benefit, u8, bool, bool)> {
    (benefit(), 0u8..3, any::<bool>(), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn evaluate_and_order_agree_with_coupons(
        mut lines in proptest::collection::vec(line(), 1..6),
        coupons in proptest::collection::vec(coupon_input(), 1..4),
        gold in any::<bool>(),
        day_offset in 0i64..60,
        (gift_in_cart, gift_category) in (any::<bool>(), 0u8..3),
    ) {
        let program = Program::from_toml(PROGRAMME).unwrap();
        for (i, l) in lines.iter_mut().enumerate() {
            l.sku = format!("sku{i}");
        }
        // Some stores send the gift's line with the cart; the others add it to the order.
        if gift_in_cart {
            lines.push(gift_line(gift_category));
        }
        let at: Timestamp = "2026-01-01T12:00:00+08:00".parse::<Timestamp>().unwrap()
            .checked_add(SignedDuration::from_hours(24 * day_offset)).unwrap();
        let code = if gold { "gold" } else { "base" };
        let member = MemberId::parse("m").unwrap();
        let mut held = Vec::new();
        for (i, (b, cat, stackable, allow_points)) in coupons.into_iter().enumerate() {
            let mut scope = Scope::default();
            if cat > 0 {
                scope.include.categories = vec![format!("c{cat}")];
            }
            let input = TemplateInput {
                id: format!("t{i}"), name: format!("t{i}"), benefit: b, scope, audience: Audience::default(),
                validity: Validity::Relative { days: 30, end_of_day: true }, stock: None, limits: Limits::default(),
                channels: vec![Channel::Issue], code: None, stackable, allow_points, restore_on_refund: true,
            };
            let mut t = input.validate(&program, at).unwrap();
            let holder = Holder { tier: code, active: true, insight: None, paid: false };
            let id = CouponId::parse(&format!("c{i}")).unwrap();
            let (c, _) = issue(&program, &mut t, &[], &holder, (&member, &id, Channel::Issue), at).unwrap();
            held.push((c, t));
        }
        let offers: Vec<_> = held.iter().map(|(c, t)| (c, t)).collect();
        let buyer = Buyer { tier: code, plan: None, birthday: None, status: MemberStatus::Active, available_points: loyalty_core::Points::ZERO };
        let e = evaluate_with_coupons(&program, &buyer, (&lines, 1_000), None, &offers, at).unwrap();
        prop_assert_eq!(e.lines.iter().map(|l| l.coupon_discount_minor).sum::<i64>(), e.coupon_discount_minor);
        prop_assert_eq!(e.lines.iter().map(|l| l.paid_minor).sum::<i64>(), e.goods_minor - e.coupon_discount_minor);
        prop_assert!(e.lines.iter().all(|l| l.paid_minor >= 0));
        // The order names the coupons that applied, in the order evaluate took them.
        let used: Vec<usize> = e.coupons.iter().enumerate().filter(|(_, r)| r.applied).map(|(i, _)| i).collect();
        let order_offers: Vec<_> = used.iter().map(|&i| offers[i]).collect();
        let mut order_lines: Vec<LineInput> = e.lines.iter().map(|l| LineInput { sku: l.sku.clone(), category: l.category.clone(), brand: l.brand.clone(), quantity: l.quantity, unit_price_minor: l.unit_price_minor, paid_minor: l.paid_minor }).collect();
        let gift = e.coupons.iter().any(|r| r.applied && r.gift_sku.as_deref() == Some(GIFT));
        if gift && !gift_in_cart {
            let g = gift_line(gift_category);
            order_lines.push(LineInput { sku: g.sku, category: g.category, brand: None, quantity: 1, unit_price_minor: 0, paid_minor: 0 });
        }
        for r in e.coupons.iter().filter(|r| r.applied && r.kind == "gift") {
            prop_assert_eq!((r.discount_minor, r.shipping_waived_minor, r.gift_sku.as_deref()), (0, 0, Some(GIFT)));
        }
        let order = ValidOrder {
            id: OrderId::parse("o").unwrap(),
            member_id: member.clone(),
            paid_at: at,
            currency: "CNY".into(),
            lines: order_lines,
            shipping_minor: 1_000,
            shipping_waived_minor: e.shipping_waived_minor,
            coupons: used.iter().map(|&i| held[i].0.coupon_id.clone()).collect(),
        };
        let mut acc = at_tier(member.clone(), code, at);
        let placed = place_order_with_coupons(&mut acc, &program, order, (None, None), &order_offers, at);
        let placed = placed.map_err(|e| TestCaseError::fail(format!("the order was refused: {e}")))?;
        prop_assert_eq!(placed.earned_points, e.points_earned);
        for &i in &used {
            let code = format!("coupon:{}", held[i].1.id);
            let r = &e.coupons[i];
            let recorded = placed.benefits.iter().find(|b| b.code == code).map(|b| b.value_minor);
            prop_assert_eq!(recorded, Some(r.discount_minor + r.shipping_waived_minor));
        }
    }
}
