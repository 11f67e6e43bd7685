//! Proves that checkout evaluation and order earning agree to the point on any cart: a store
//! that sends the evaluated `paid_minor` of each line gets exactly the points evaluate
//! promised, for any tier, paid plan (or none), day (member day or not), birthday and redemption.

use jiff::{SignedDuration, Timestamp};
use loyalty_core::account::Account;
use loyalty_core::checkout::{evaluate, Buyer, CartLine};
use loyalty_core::ids::{MemberId, OrderId};
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
[tiers]\nmultipliers = \"max\"\n\
[[tiers.levels]]\ncode = \"base\"\nname = \"普通会员\"\nentry = 0\ndiscount_percent = 95\n\
[[tiers.levels.special_discounts]]\ncategory = \"c1\"\npercent = 80\nweekdays = [3, 6]\n\
[[tiers.levels]]\ncode = \"silver\"\nname = \"银卡\"\nentry = 1000\ndiscount_percent = 90\npoints_multiplier = 1.2\nfree_shipping_over_minor = 9900\n\
[[tiers.levels.special_discounts]]\nbrand = \"b2\"\npercent = 85\ndates = [\"11-11\", \"06-18\"]\n\
[[tiers.levels]]\ncode = \"gold\"\nname = \"金卡\"\nentry = 5000\ndiscount_percent = 85\npoints_multiplier = 1.5\nfree_shipping_over_minor = 0\n\
[[plans]]\ncode = \"plus\"\nname = \"PLUS\"\nprice_minor = 19800\nterm = \"year\"\n\
benefits = { discount_percent = 88, category_discounts = [{ category = \"c2\", percent = 75 }], member_prices = [{ sku = \"sku1\", price_minor = 500 }], points_multiplier = 2.5, free_shipping = true }\n\
[[plans]]\ncode = \"lite\"\nname = \"Lite\"\nprice_minor = 900\nterm = \"month\"\nbenefits = { discount_percent = 97, points_multiplier = 1.1 }\n";

fn line() -> impl Strategy<Value = CartLine> {
    (0u8..4, 0u8..3, 1i64..6, 1i64..200_000).prop_map(|(c, b, q, p)| CartLine {
        sku: String::new(),
        category: (c > 0).then(|| format!("c{c}")),
        brand: (b > 0).then(|| format!("b{b}")),
        quantity: q,
        unit_price_minor: p,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn evaluate_and_order_agree(
        mut lines in proptest::collection::vec(line(), 1..6),
        tier in 0usize..3,
        day_offset in 0i64..400,
        birthday_month in 1i8..13,
        available in 0i64..100_000,
        redeem_share in 0i64..101,
        plan in 0usize..3,
    ) {
        let program = Program::from_toml(PROGRAMME).unwrap();
        for (i, l) in lines.iter_mut().enumerate() {
            l.sku = format!("sku{i}");
        }
        let at: Timestamp = "2026-01-01T12:00:00+08:00".parse::<Timestamp>().unwrap().checked_add(SignedDuration::from_hours(24 * day_offset)).unwrap();
        let code = ["base", "silver", "gold"][tier];
        let birthday = jiff::civil::Date::new(1990, birthday_month, 1).ok();
        let plan = [None, Some(&program.file.plans[0]), Some(&program.file.plans[1])][plan];
        let buyer = Buyer { tier: code, plan, birthday, status: MemberStatus::Active, available_points: loyalty_core::Points::new(available) };
        let max = evaluate(&program, &buyer, &lines, 1_000, None, at).unwrap().redemption.max_points.get();
        let want = max * redeem_share / 100;
        let redeem = (want >= program.file.redemption.min_points).then_some(want);
        let e = evaluate(&program, &buyer, &lines, 1_000, redeem, at).unwrap();
        prop_assert_eq!(e.lines.iter().map(|l| l.paid_minor).sum::<i64>() + e.redemption.value_minor.get(), e.goods_minor);
        prop_assert!(e.lines.iter().all(|l| l.paid_minor >= 0 && l.member_price_minor <= l.list_minor));

        let mut acc = at_tier(MemberId::parse("m").unwrap(), code, at);
        let order = ValidOrder {
            id: OrderId::parse("o").unwrap(),
            member_id: MemberId::parse("m").unwrap(),
            paid_at: at,
            currency: "CNY".into(),
            lines: e.lines.iter().map(|l| LineInput { sku: l.sku.clone(), category: l.category.clone(), brand: l.brand.clone(), quantity: l.quantity, unit_price_minor: l.unit_price_minor, paid_minor: l.paid_minor }).collect(),
            shipping_minor: e.shipping_minor,
            shipping_waived_minor: e.shipping_waived_minor,
            coupons: Vec::new(),
        };
        let placed = place_order_with_coupons(&mut acc, &program, order, (birthday, plan), &[], at).expect("carts within the limits earn");
        prop_assert_eq!(placed.earned_points, e.points_earned);
        prop_assert_eq!(placed.growth, e.growth_earned);
        // The order records the discounts and shipping checkout named, to the fen, and the
        // multipliers' extra points add up to what the multiplier earned.
        let given: Vec<(String, i64)> = e.benefits.iter().filter(|b| b.value_minor > 0).map(|b| (b.code.clone(), b.value_minor)).collect();
        let recorded: Vec<(String, i64)> = placed.benefits.iter().filter(|b| b.extra_points == 0 && b.value_minor > 0).map(|b| (b.code.clone(), b.value_minor)).collect();
        prop_assert_eq!(recorded, given);
        let base = program.points_for(loyalty_core::Money::new(e.lines.iter().map(|l| l.paid_minor).sum()));
        prop_assert_eq!(placed.benefits.iter().map(|b| b.extra_points).sum::<i64>(), (placed.earned_points - base).get());
        prop_assert!(placed.benefits.iter().all(|b| b.tier == code));
        // A plan's benefit is marked as the plan's, and only then.
        for b in &placed.benefits {
            let of_plan = loyalty_core::membership::perks::plan_of(&b.code);
            prop_assert_eq!(b.plan.as_deref(), of_plan);
            prop_assert!(of_plan.is_none() || of_plan == plan.map(|p| p.code.as_str()));
        }
    }
}

#[test]
fn invalid_ladders_are_refused_naming_the_field() {
    let cases = [
        ("[[tiers.levels]]\ncode = \"a\"\nname = \"A\"\nentry = 0\n[[tiers.levels]]\ncode = \"b\"\nname = \"B\"\nentry = 0\n", "tiers.levels[1].entry"),
        ("[[tiers.levels]]\ncode = \"a\"\nname = \"A\"\nentry = 0\n[[tiers.levels]]\ncode = \"b\"\nname = \"B\"\nentry = 100\nretention = 200\n", "tiers.levels[1].retention"),
        ("[member_day]\ntiers = [\"platinum\"]\n", "member_day.tiers[0]"),
        ("[[early_access]]\nsku = \"X\"\nmin_tier = \"nope\"\n", "early_access[0].min_tier"),
        ("[[tiers.levels]]\ncode = \"a\"\nname = \"A\"\nentry = 10\n", "tiers.levels[0].entry"),
        ("[[tiers.levels]]\ncode = \"a\"\nname = \"A\"\nentry = 0\npoints_multiplier = 1.2345\n", "points_multiplier"),
    ];
    for (toml, field) in cases {
        let err = Program::from_toml(toml).unwrap_err();
        assert!(err.0.iter().any(|i| i.field.contains(field) || i.reason.contains(field)), "{field}: {err}");
    }
}
