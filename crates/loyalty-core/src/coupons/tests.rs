use super::template::*;
use super::*;
use crate::ids::{CouponId, MemberId, OrderId};
use crate::program::Program;
use jiff::Timestamp;

fn now() -> Timestamp {
    "2026-12-02T10:00:00Z".parse().unwrap()
}

fn input(id: &str, benefit: Benefit) -> TemplateInput {
    TemplateInput {
        id: id.into(),
        name: format!("template {id}"),
        benefit,
        scope: Scope::default(),
        audience: Audience::default(),
        validity: Validity::Relative { days: 7, end_of_day: false },
        stock: None,
        limits: Limits::default(),
        channels: vec![Channel::Claim, Channel::Issue],
        code: None,
        stackable: false,
        allow_points: true,
        restore_on_refund: true,
    }
}

fn amount_off(value: i64, threshold: i64) -> Benefit {
    Benefit::AmountOff { value_minor: value, threshold_minor: threshold, step: false, max_off_minor: None }
}

fn template(i: TemplateInput) -> Template {
    i.validate(&Program::default_program(), now()).unwrap()
}

fn coupon(id: &str, t: &mut Template) -> Coupon {
    let holder = Holder { tier: "member", active: true, insight: None, paid: false };
    let m = MemberId::parse("m1").unwrap();
    let p = Program::default_program();
    issue(&p, t, &[], &holder, (&m, &CouponId::parse(id).unwrap(), Channel::Claim), now()).unwrap().0
}

fn goods(prices: &[i64]) -> Vec<(String, i64)> {
    prices.iter().enumerate().map(|(i, p)| (format!("sku{i}"), *p)).collect()
}

fn cart(g: &[(String, i64)]) -> Vec<CartGoods<'_>> {
    g.iter().map(|(s, p)| CartGoods { sku: s, category: None, brand: None, price: *p }).collect()
}

#[test]
fn bad_terms_are_refused_naming_the_field() {
    let p = Program::default_program();
    let bad = |b: Benefit| input("t", b).validate(&p, now()).unwrap_err();
    let field = |e: crate::DomainError| match e {
        crate::DomainError::Unprocessable { field, .. } => field,
        e => panic!("{e}"),
    };
    assert_eq!(field(bad(amount_off(2_000, 1_000))), "benefit.threshold_minor", "threshold below the discount");
    assert_eq!(field(bad(amount_off(-1, 0))), "benefit.value_minor");
    let pct = Benefit::PercentOff { percent_off: 120, max_off_minor: None, threshold_minor: 0 };
    assert_eq!(field(bad(pct)), "benefit.percent_off", "a percent over 100");
    let mut overlap = input("t", amount_off(100, 0));
    overlap.scope.include.categories = vec!["shoes".into()];
    overlap.scope.exclude.categories = vec!["shoes".into()];
    assert_eq!(field(overlap.validate(&p, now()).unwrap_err()), "scope.exclude.categories");
    let mut tier = input("t", amount_off(100, 0));
    tier.audience.min_tier = Some("platinum-plus".into());
    assert_eq!(field(tier.validate(&p, now()).unwrap_err()), "audience.min_tier");
    let mut stock = input("t", amount_off(100, 0));
    stock.stock = Some(-1);
    assert_eq!(field(stock.validate(&p, now()).unwrap_err()), "stock");
}

#[test]
fn stock_and_per_member_limits_hold() {
    let p = Program::default_program();
    let mut i = input("t", amount_off(100, 0));
    i.stock = Some(2);
    i.limits.per_day = Some(1);
    let mut t = template(i);
    let holder = Holder { tier: "member", active: true, insight: None, paid: false };
    let (a, b) = (MemberId::parse("a").unwrap(), MemberId::parse("b").unwrap());
    let id = |s: &str| CouponId::parse(s).unwrap();
    let (first, _) = issue(&p, &mut t, &[], &holder, (&a, &id("c1"), Channel::Claim), now()).unwrap();
    let again = issue(&p, &mut t, std::slice::from_ref(&first), &holder, (&a, &id("c2"), Channel::Claim), now());
    assert!(matches!(again, Err(crate::DomainError::CouponLimitReached { limit: 1, period: "day", .. })), "{again:?}");
    let tomorrow = crate::calendar::plus_secs(now(), 86_400);
    issue(&p, &mut t, &[], &holder, (&b, &id("c3"), Channel::Claim), tomorrow).unwrap();
    let out = issue(&p, &mut t, &[], &holder, (&b, &id("c4"), Channel::Claim), tomorrow);
    assert!(matches!(out, Err(crate::DomainError::CouponOutOfStock { stock: 2, .. })), "{out:?}");
    assert_eq!(t.issued, 2);
}

#[test]
fn a_coupon_below_its_threshold_says_how_much_is_missing() {
    let mut t = template(input("t", amount_off(2_000, 19_900)));
    let c = coupon("c", &mut t);
    let g = goods(&[10_000, 7_600]);
    let a = apply(&cart(&g), 0, &[(&c, &t)], now());
    assert!(!a.results[0].applied);
    assert_eq!(a.results[0].why_not.as_deref(), Some("below_threshold"));
    assert_eq!(a.results[0].short_minor, Some(2_300));
    assert_eq!(a.discount_minor(), 0);
}

#[test]
fn discounts_are_spread_by_price_with_the_remainder_on_the_largest_line() {
    let mut t = template(input("t", amount_off(1_000, 0)));
    let c = coupon("c", &mut t);
    let g = goods(&[1, 1, 1, 3]);
    let a = apply(&cart(&g), 0, &[(&c, &t)], now());
    // 1,000 would exceed the 6 of goods: the coupon takes what there is.
    assert_eq!(a.line_discounts, vec![1, 1, 1, 3]);
    let g = goods(&[3_333, 3_333, 3_334]);
    let a = apply(&cart(&g), 0, &[(&c, &t)], now());
    assert_eq!(a.line_discounts.iter().sum::<i64>(), 1_000);
    assert_eq!(a.line_discounts, vec![333, 333, 334]);
}

#[test]
fn step_and_percent_coupons_compute_to_the_fen() {
    let step =
        Benefit::AmountOff { value_minor: 2_000, threshold_minor: 20_000, step: true, max_off_minor: Some(5_000) };
    assert_eq!(step.discount_on(19_999), 0);
    assert_eq!(step.discount_on(45_000), 4_000);
    assert_eq!(step.discount_on(1_000_000), 5_000, "capped");
    let pct = Benefit::PercentOff { percent_off: 15, max_off_minor: Some(1_000), threshold_minor: 0 };
    assert_eq!(pct.discount_on(3_333), 499);
    assert_eq!(pct.discount_on(100_000), 1_000);
}

#[test]
fn coupons_stack_only_when_both_say_so_and_never_two_of_a_kind() {
    let mut a = input("a", amount_off(1_000, 0));
    a.stackable = true;
    let mut b = input("b", Benefit::PercentOff { percent_off: 10, max_off_minor: None, threshold_minor: 0 });
    b.stackable = true;
    let mut c = input("c", amount_off(500, 0));
    c.stackable = true;
    let (mut ta, mut tb, mut tc) = (template(a), template(b), template(c));
    let (ca, cb, cc) = (coupon("ca", &mut ta), coupon("cb", &mut tb), coupon("cc", &mut tc));
    let g = goods(&[10_000]);
    let r = apply(&cart(&g), 0, &[(&cb, &tb), (&ca, &ta)], now());
    // Amount off first (1,000), then 10% of the 9,000 left.
    assert_eq!(r.discount_minor(), 1_900);
    let r = apply(&cart(&g), 0, &[(&ca, &ta), (&cc, &tc)], now());
    assert_eq!(r.results[1].why_not.as_deref(), Some("one_per_kind"));
    let mut lone =
        template(input("lone", Benefit::PercentOff { percent_off: 5, max_off_minor: None, threshold_minor: 0 }));
    let cl = coupon("cl", &mut lone);
    let r = apply(&cart(&g), 0, &[(&ca, &ta), (&cl, &lone)], now());
    assert_eq!(r.results[1].why_not.as_deref(), Some("not_stackable"));
    let picked = best(&cart(&g), 0, &[(&cc, &tc), (&cl, &lone), (&ca, &ta), (&cb, &tb)], now());
    let mut names: Vec<&str> = picked.iter().map(|&i| [&cc, &cl, &ca, &cb][i].coupon_id.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["ca", "cb"], "1,000 then 10% beats any other choice");
}

#[test]
fn best_never_spends_free_shipping_on_an_order_that_ships_free() {
    let mut ship = template(input("ship", Benefit::FreeShipping { threshold_minor: 0 }));
    let cs = coupon("cs", &mut ship);
    let g = goods(&[10_000]);
    assert_eq!(best(&cart(&g), 800, &[(&cs, &ship)], now()), vec![0], "it saves the 800 of shipping");
    assert_eq!(best(&cart(&g), 0, &[(&cs, &ship)], now()), Vec::<usize>::new(), "nothing to waive: kept");
}

#[test]
fn a_used_coupon_is_refused_and_a_full_refund_gives_it_back_once() {
    let mut t = template(input("t", amount_off(100, 0)));
    let mut c = coupon("c", &mut t);
    let order = OrderId::parse("o1").unwrap();
    c.use_for(&order, now());
    let g = goods(&[1_000]);
    let r = apply(&cart(&g), 0, &[(&c, &t)], now());
    assert_eq!(r.results[0].why_not.as_deref(), Some("used"));
    assert!(c.restore(&t, now()).is_some());
    assert!(c.restore(&t, now()).is_none(), "given back once");
    assert_eq!(c.version, 3, "issued, used, restored");
    let later = crate::calendar::plus_secs(now(), 8 * 86_400);
    assert_eq!(c.status_at(later), CouponStatus::Expired);
}

#[test]
fn points_multiplier_coupons_add_points_on_their_goods_only() {
    let mut i = input("t", Benefit::PointsMultiplier { multiplier_percent: 200, threshold_minor: 0 });
    i.scope.include.skus = vec!["sku0".into()];
    let mut t = template(i);
    let c = coupon("c", &mut t);
    let g = goods(&[10_000, 5_000]);
    let a = apply(&cart(&g), 0, &[(&c, &t)], now());
    let extra = crate::checkout::coupon_extra_points(&Program::default_program(), &a, &[10_000, 5_000]);
    assert_eq!(extra, Program::default_program().points_for(crate::Money::new(10_000)).get());
}
