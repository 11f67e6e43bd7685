use super::*;
use crate::coupons::template::{Audience, Limits};
use crate::coupons::Holder;
use crate::ids::{DrawId, MemberId};
use crate::program::Program;
use crate::DomainError;
use jiff::Timestamp;

fn now() -> Timestamp {
    "2026-12-02T04:00:00Z".parse().unwrap()
}

fn goods(stock: Option<i64>, limits: Limits) -> Reward {
    RewardInput {
        id: "mug".into(),
        name: "Mug".into(),
        item: RewardItem::Goods { sku: "MUG-1".into() },
        price_points: 500,
        price_cash_minor: 0,
        stock,
        limits,
        audience: Audience::default(),
        visible_from: None,
        visible_until: None,
    }
    .validate(&Program::default_program(), now())
    .unwrap()
}

fn address() -> Address {
    Address { name: "Li Lei".into(), phone: "13800000000".into(), line: "1 Road, Hangzhou".into(), postcode: None }
}

fn request(id: &str, quantity: i64) -> RedemptionRequest {
    RedemptionRequest::new(id, "mug", quantity, Some(address())).unwrap()
}

const HOLDER: Holder<'static> = Holder { tier: "member", active: true, insight: None, paid: false };

#[test]
fn a_redemption_takes_stock_and_keeps_to_the_members_limits() {
    let program = Program::default_program();
    let m = MemberId::parse("m").unwrap();
    let mut r = goods(Some(5), Limits { per_day: Some(2), ..Limits::default() });
    let first = redeem(&program, &mut r, &[], &HOLDER, (&m, &request("r1", 2)), now()).unwrap();
    assert_eq!((first.points, first.status, r.redeemed), (1_000, RedemptionStatus::Pending, 2));
    let err = redeem(&program, &mut r, std::slice::from_ref(&first), &HOLDER, (&m, &request("r2", 1)), now());
    assert_eq!(err.unwrap_err().code(), "reward_limit_reached");
    assert_eq!(r.redeemed, 2, "a refused redemption takes no stock");
    let other = MemberId::parse("n").unwrap();
    let third = MemberId::parse("o").unwrap();
    redeem(&program, &mut r, &[], &HOLDER, (&other, &request("r3", 2)), now()).unwrap();
    let err = redeem(&program, &mut r, &[], &HOLDER, (&third, &request("r4", 2)), now()).unwrap_err();
    assert_eq!(err, DomainError::RewardOutOfStock { reward: "mug".into(), left: 1, wanted: 2 });
    // Tomorrow (programme zone) the daily limit starts again.
    let tomorrow = crate::calendar::plus_secs(now(), 86_400);
    redeem(&program, &mut r, &[first], &HOLDER, (&m, &request("r5", 1)), tomorrow).unwrap();
    assert_eq!(r.redeemed, 5);
}

#[test]
fn goods_need_an_address_and_other_rewards_refuse_one() {
    let program = Program::default_program();
    let m = MemberId::parse("m").unwrap();
    let mut r = goods(None, Limits::default());
    let no_address = RedemptionRequest::new("r1", "mug", 1, None).unwrap();
    let err = redeem(&program, &mut r, &[], &HOLDER, (&m, &no_address), now()).unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable { ref field, .. } if field == "address"));
    let bad = Address { phone: String::new(), ..address() };
    let err = RedemptionRequest::new("r1", "mug", 1, Some(bad)).unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable { ref field, .. } if field == "address.phone"), "{err:?}");
    assert_eq!(RedemptionRequest::new("r1", "mug", 101, None).unwrap_err().code(), "validation_failed");
}

#[test]
fn a_shipped_redemption_moves_forward_and_only_an_undelivered_one_cancels() {
    let program = Program::default_program();
    let m = MemberId::parse("m").unwrap();
    let mut r = goods(None, Limits::default());
    let mut x = redeem(&program, &mut r, &[], &HOLDER, (&m, &request("r1", 1)), now()).unwrap();
    assert_eq!(x.apply(&Move::Deliver, now()).unwrap_err().code(), "redemption_state");
    assert_eq!(x.apply(&Move::Ship { tracking: Some("SF123".into()) }, now()).unwrap(), Moved::Changed);
    assert_eq!(x.apply(&Move::Ship { tracking: None }, now()).unwrap(), Moved::Already, "a retried move");
    assert_eq!(x.apply(&Move::Address(address()), now()).unwrap_err().code(), "redemption_state");
    assert_eq!(x.apply(&Move::Deliver, now()).unwrap(), Moved::Changed);
    assert_eq!(x.apply(&Move::Cancel, now()).unwrap_err().code(), "redemption_state", "delivered stays");
    let mut y = redeem(&program, &mut r, &[], &HOLDER, (&m, &request("r2", 1)), now()).unwrap();
    assert_eq!(y.apply(&Move::Cancel, now()).unwrap(), Moved::Changed);
    assert_eq!(y.apply(&Move::Cancel, now()).unwrap(), Moved::Already);
}

#[test]
fn reward_terms_are_refused_naming_the_field() {
    let program = Program::default_program();
    let mut input = goods(None, Limits::default()).terms;
    input.price_points = 0;
    let err = input.validate(&program, now()).unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable { ref field, .. } if field == "price_points"));
    let mut input = goods(None, Limits::default()).terms;
    input.visible_from = Some("2026-12-10T00:00:00Z".into());
    input.visible_until = Some("2026-12-01T00:00:00Z".into());
    let err = input.validate(&program, now()).unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable { ref field, .. } if field == "visible_until"));
    let mut input = goods(None, Limits::default()).terms;
    input.audience.min_tier = Some("platinum-x".into());
    let err = input.validate(&program, now()).unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable { ref field, .. } if field == "audience.min_tier"));
}

fn prize(id: &str, weight: i64, item: PrizeItem, stock: Option<i64>) -> PrizeInput {
    PrizeInput { id: id.into(), name: id.into(), weight, item, stock, cost_minor: None }
}

fn lottery(prizes: Vec<PrizeInput>, budget: Option<i64>) -> Lottery {
    LotteryInput {
        id: "spin".into(),
        name: "Spin".into(),
        cost_points: 10,
        free_draws_per_day: 1,
        max_draws_per_day: Some(3),
        budget_minor: budget,
        prizes,
        fallback: "thanks".into(),
        opens_at: None,
        closes_at: None,
    }
    .validate(&Program::default_program(), [7; 32], now())
    .unwrap()
}

fn standard() -> Vec<PrizeInput> {
    vec![
        prize("p100", 1, PrizeItem::Points { points: 100 }, None),
        prize("p10", 4, PrizeItem::Points { points: 10 }, None),
        prize("coupon", 10, PrizeItem::Coupon { template: "t".into() }, None),
        prize("goods", 5, PrizeItem::Goods { reward: "mug".into() }, None),
        prize("thanks", 80, PrizeItem::Nothing, None),
    ]
}

/// Over 100,000 draws the prizes come up in proportion to their weights: Pearson's χ² over
/// the five prizes (4 degrees of freedom) stays below 18.47, the 0.1% critical value. The
/// secret and draw ids are fixed, so the test gives the same answer every run.
#[test]
fn realised_frequencies_fit_the_weights() {
    let program = Program::default_program();
    let mut l = lottery(standard(), None);
    l.terms.max_draws_per_day = None;
    let m = MemberId::parse("m").unwrap();
    let n = 100_000;
    for i in 0..n {
        let d = DrawId::parse(&format!("d{i}")).unwrap();
        l.draw(&program, (&m, &d), 0, |_| Ok(()), now()).unwrap();
    }
    let total: i64 = l.weights().iter().sum();
    let chi2: f64 = l
        .given
        .iter()
        .zip(l.weights())
        .map(|(&o, w)| {
            let e = n as f64 * w as f64 / total as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    assert_eq!(l.given.iter().sum::<i64>(), n);
    assert!(chi2 < 18.47, "χ² = {chi2:.2} for {:?}", l.given);
}

#[test]
fn a_draw_is_a_function_of_the_secret_and_the_draw_and_can_be_rederived() {
    let program = Program::default_program();
    let m = MemberId::parse("m").unwrap();
    let d = DrawId::parse("d1").unwrap();
    let (mut a, mut b) = (lottery(standard(), None), lottery(standard(), None));
    let x = a.draw(&program, (&m, &d), 0, |_| Ok(()), now()).unwrap();
    let y = b.draw(&program, (&m, &d), 0, |_| Ok(()), now()).unwrap();
    assert_eq!((x.roll.clone(), x.picked.clone()), (y.roll, y.picked));
    assert_eq!(a.rederive(&x), (x.picked.clone(), true));
    let mut forged = x.clone();
    forged.picked = if x.picked == "p100" { "thanks".into() } else { "p100".into() };
    assert!(!a.rederive(&forged).1, "a stored pick the secret does not give is caught");
    let other = LotteryInput { ..a.terms.clone() }.validate(&program, [8; 32], now()).unwrap();
    assert_ne!(other.roll_for(&m, &d), a.roll_for(&m, &d), "another secret, another roll");
    assert_eq!(a.commitment().len(), 64);
}

#[test]
fn out_of_stock_over_budget_or_ungivable_prizes_fall_back() {
    let program = Program::default_program();
    let m = MemberId::parse("m").unwrap();
    // Only points prizes, none in stock: every draw falls to the fallback.
    let prizes = vec![
        prize("p100", 50, PrizeItem::Points { points: 100 }, Some(0)),
        prize("thanks", 1, PrizeItem::Nothing, None),
    ];
    let mut l = lottery(prizes, None);
    l.terms.max_draws_per_day = None;
    for i in 0..50 {
        let d = DrawId::parse(&format!("d{i}")).unwrap();
        let x = l.draw(&program, (&m, &d), 0, |_| Ok(()), now()).unwrap();
        assert_eq!(x.prize, "thanks");
        if x.picked == "p100" {
            assert_eq!(x.fell_back.as_deref(), Some("out of stock"));
        }
    }
    // A budget of what three 100-point prizes cost: the fourth falls back.
    let prizes =
        vec![prize("p100", 1, PrizeItem::Points { points: 100 }, None), prize("thanks", 1, PrizeItem::Nothing, None)];
    let cost = program.points_value_minor(crate::Points::new(100)).get();
    let mut l = lottery(prizes, Some(3 * cost));
    l.terms.max_draws_per_day = None;
    let mut won = 0;
    for i in 0..200 {
        let d = DrawId::parse(&format!("d{i}")).unwrap();
        let x = l.draw(&program, (&m, &d), 0, |_| Ok(()), now()).unwrap();
        won += i64::from(x.prize == "p100");
        assert!(l.spent_minor <= 3 * cost);
    }
    assert_eq!(won, 3);
    let mut l = lottery(standard(), None);
    let d = DrawId::parse("d1").unwrap();
    let x = l.draw(&program, (&m, &d), 0, |_| Err("no".into()), now()).unwrap();
    assert_eq!((x.prize.as_str(), x.cost_minor), ("thanks", 0));
}

#[test]
fn free_draws_come_first_and_the_daily_limit_holds() {
    let program = Program::default_program();
    let m = MemberId::parse("m").unwrap();
    let mut l = lottery(standard(), None);
    let d = |i: i64| DrawId::parse(&format!("d{i}")).unwrap();
    let first = l.draw(&program, (&m, &d(0)), 0, |_| Ok(()), now()).unwrap();
    assert!(first.free && first.points_spent == 0);
    let second = l.draw(&program, (&m, &d(1)), 1, |_| Ok(()), now()).unwrap();
    assert!(!second.free && second.points_spent == 10);
    let err = l.draw(&program, (&m, &d(3)), 3, |_| Ok(()), now()).unwrap_err();
    assert_eq!(err, DomainError::DrawLimitReached { lottery: "spin".into(), limit: 3 });
}

#[test]
fn lottery_terms_are_refused_naming_the_field() {
    let program = Program::default_program();
    let base = lottery(standard(), None).terms;
    let check = |f: &dyn Fn(&mut LotteryInput), field: &str| {
        let mut t = base.clone();
        f(&mut t);
        let err = t.validate(&program, [1; 32], now()).unwrap_err();
        assert!(matches!(err, DomainError::Unprocessable { field: ref g, .. } if g == field), "{field}: {err:?}");
    };
    check(&|t| t.fallback = "nope".into(), "fallback");
    check(&|t| t.fallback = "p100".into(), "fallback");
    check(&|t| t.prizes[4].stock = Some(5), "fallback");
    check(&|t| t.prizes[1].weight = 0, "prizes[1].weight");
    check(&|t| t.prizes[1].id = "p100".into(), "prizes[1].id");
    check(&|t| t.prizes.clear(), "prizes");
    check(&|t| t.cost_points = -1, "cost_points");
    check(&|t| t.max_draws_per_day = Some(0), "max_draws_per_day");
}

#[test]
fn a_requested_move_carries_tracking_only_when_shipped() {
    use crate::rewards::Move;
    assert_eq!(Move::requested("shipped", Some("SF1".into())), Ok(Move::Ship { tracking: Some("SF1".into()) }));
    assert_eq!(Move::requested("delivered", None), Ok(Move::Deliver));
    assert_eq!(Move::requested("cancelled", None), Ok(Move::Cancel));
    let field = |r: Result<Move, DomainError>| match r {
        Err(DomainError::Invalid { field, .. } | DomainError::Unprocessable { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let contradictory = Move::requested("delivered", Some("SF1".into()));
    assert!(matches!(contradictory, Err(DomainError::Unprocessable { .. })), "a 422: {contradictory:?}");
    assert_eq!(field(contradictory), "tracking");
    assert_eq!(field(Move::requested("pending", None)), "status");
    assert_eq!(field(Move::requested("lost", None)), "status");
}
