use super::rules::{self, Payment, RefundRequest};
use super::*;
use crate::ids::MemberId;
use crate::Program;
use jiff::Timestamp;

const PLANS: &str = r#"
timezone = "Asia/Shanghai"
[memberships]
renewal_notice_days = 3
grace_days = 3

[[plans]]
code = "plus-month"
name = "PLUS 月卡"
price_minor = 3100
term = "month"
refund = "pro_rata"
trial = { days = 7, price_minor = 0 }
benefits = { discount_percent = 90, points_multiplier = 3.0, free_shipping = true, coupon_pack = [{ template = "plus-10", count = 2 }] }

[[plans]]
code = "plus-year"
name = "PLUS 年卡"
price_minor = 19900
term = "year"
refund = "pro_rata_minus_savings"
benefits = { discount_percent = 88, member_prices = [{ sku = "milk", price_minor = 500 }] }

[[plans]]
code = "black"
name = "黑卡"
price_minor = 99900
term = "year"
refund = "none"
min_tier = "gold"
invitation_only = true
"#;

fn program() -> Program {
    Program::from_toml(PLANS).unwrap()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn pay(id: &str, plan: &str, paid: i64, at: &str) -> Payment {
    Payment {
        id: id.into(),
        plan: plan.into(),
        paid_minor: paid,
        payment_ref: format!("ref-{id}"),
        started_at: t(at),
        trial: false,
    }
}

fn fresh() -> Membership {
    Membership::new(MemberId::parse("m1").unwrap(), "", t("2026-01-01T00:00:00Z"))
}

fn code(e: crate::DomainError) -> String {
    match e {
        crate::DomainError::Membership { code, .. } => code.into(),
        other => other.code().into(),
    }
}

#[test]
fn a_payment_starts_a_term_and_an_early_renewal_extends_it() {
    let p = program();
    let mut m = fresh();
    let now = t("2026-01-10T02:00:00Z");
    let (term, replayed) =
        rules::subscribe(&mut m, &p, &pay("p1", "plus-month", 3100, "2026-01-10T02:00:00Z"), ("base", None), now)
            .unwrap();
    assert!(!replayed);
    assert_eq!(term.ends_at, t("2026-02-10T02:00:00Z"));
    assert_eq!(m.status_at(now, 3), Some(Status::Active));
    // Early renewal: starts where the chain ends.
    let later = t("2026-02-05T00:00:00Z");
    let (r, _) =
        rules::subscribe(&mut m, &p, &pay("p2", "plus-month", 3100, "2026-02-05T00:00:00Z"), ("base", None), later)
            .unwrap();
    assert_eq!((r.starts_at, r.ends_at), (t("2026-02-10T02:00:00Z"), t("2026-03-10T02:00:00Z")));
    // The same period again (started_at inside p1 while p2 follows it) is a 409.
    let again =
        rules::subscribe(&mut m, &p, &pay("p3", "plus-month", 3100, "2026-02-04T00:00:00Z"), ("base", None), later);
    assert_eq!(code(again.unwrap_err()), "period_paid");
    // The same payment again is the recorded term; another body is a conflict naming fields.
    let (same, replayed) =
        rules::subscribe(&mut m, &p, &pay("p2", "plus-month", 3100, "2026-02-05T00:00:00Z"), ("base", None), later)
            .unwrap();
    assert!(replayed && same.term_id == "p2");
    let other =
        rules::subscribe(&mut m, &p, &pay("p2", "plus-month", 3000, "2026-02-05T00:00:00Z"), ("base", None), later);
    assert!(
        matches!(other, Err(crate::DomainError::Conflict { ref differences, .. }) if differences == &["paid_minor"])
    );
    assert_eq!(
        m.cover(3).unwrap(),
        Cover { plan: "plus-month".into(), from: t("2026-01-10T02:00:00Z"), until: t("2026-03-13T02:00:00Z") }
    );
}

#[test]
fn bad_payments_name_their_field() {
    let p = program();
    let mut m = fresh();
    let now = t("2026-01-10T00:00:00Z");
    let e = rules::subscribe(&mut m, &p, &pay("x", "gold-card", 100, "2026-01-10T00:00:00Z"), ("base", None), now)
        .unwrap_err();
    assert!(matches!(e, crate::DomainError::Unprocessable { ref field, .. } if field == "plan"), "{e}");
    let e = rules::subscribe(&mut m, &p, &pay("x", "plus-month", 3101, "2026-01-10T00:00:00Z"), ("base", None), now)
        .unwrap_err();
    assert!(matches!(e, crate::DomainError::Unprocessable { ref field, .. } if field == "paid_minor"), "{e}");
    let e = rules::subscribe(&mut m, &p, &pay("x", "plus-month", 3100, "2026-01-11T00:00:00Z"), ("base", None), now)
        .unwrap_err();
    assert!(matches!(e, crate::DomainError::Unprocessable { ref field, .. } if field == "started_at"), "{e}");
    let e = rules::subscribe(&mut m, &p, &pay("x", "black", 99900, "2026-01-10T00:00:00Z"), ("gold", None), now)
        .unwrap_err();
    assert_eq!(code(e), "plan_not_eligible");
    assert!(m.terms.is_empty() && m.new_events.is_empty(), "a refusal writes nothing");
}

#[test]
fn a_trial_converts_once_and_only_once() {
    let p = program();
    let mut m = fresh();
    let trial = Payment { trial: true, ..pay("t1", "plus-month", 0, "2026-03-01T00:00:00Z") };
    rules::subscribe(&mut m, &p, &trial, ("base", None), t("2026-03-01T00:00:00Z")).unwrap();
    assert_eq!(m.status_at(t("2026-03-03T00:00:00Z"), 3), Some(Status::Trial));
    let (paid, _) = rules::subscribe(
        &mut m,
        &p,
        &pay("p1", "plus-month", 3100, "2026-03-08T00:00:00Z"),
        ("base", None),
        t("2026-03-08T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(paid.starts_at, t("2026-03-08T00:00:00Z"), "the paid term follows the trial");
    assert_eq!(m.new_events.last().unwrap().kind, EventKind::Converted);
    // Lapse, then try the trial again.
    let late = t("2026-06-01T00:00:00Z");
    assert_eq!(m.status_at(late, 3), Some(Status::Lapsed));
    let again = Payment { trial: true, ..pay("t2", "plus-month", 0, "2026-06-01T00:00:00Z") };
    assert_eq!(code(rules::subscribe(&mut m, &p, &again, ("base", None), late).unwrap_err()), "trial_used");
}

#[test]
fn a_failed_renewal_is_in_grace_then_lapses_and_a_late_one_continues_the_chain() {
    let p = program();
    let mut m = fresh();
    rules::subscribe(
        &mut m,
        &p,
        &pay("p1", "plus-month", 3100, "2026-01-01T00:00:00Z"),
        ("base", None),
        t("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let end = t("2026-02-01T00:00:00Z");
    rules::advance(&mut m, &p, t("2026-01-29T00:00:00Z"));
    assert_eq!(m.new_events.last().unwrap().kind, EventKind::RenewalDue);
    assert_eq!(m.new_events.last().unwrap().at, t("2026-01-29T00:00:00Z"));
    rules::advance(&mut m, &p, t("2026-01-30T00:00:00Z"));
    assert_eq!(m.new_events.iter().filter(|e| e.kind == EventKind::RenewalDue).count(), 1, "noticed once");
    assert_eq!(m.status_at(t("2026-02-02T00:00:00Z"), 3), Some(Status::InGrace));
    let mut late = m.clone();
    let (r, _) = rules::subscribe(
        &mut late,
        &p,
        &pay("p2", "plus-month", 3100, "2026-02-02T00:00:00Z"),
        ("base", None),
        t("2026-02-02T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(r.starts_at, end, "a renewal in grace continues the chain");
    rules::advance(&mut m, &p, t("2026-02-05T00:00:00Z"));
    let kinds: Vec<_> = m.new_events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds[kinds.len() - 2..], [EventKind::InGrace, EventKind::Lapsed]);
    assert_eq!(m.status_at(t("2026-02-04T00:00:01Z"), 3), Some(Status::Lapsed));
    assert_eq!(rules::next_due(&m, &p), Some(t("2026-01-01T00:00:00Z")), "the first month's pack is still due");
}

#[test]
fn a_cancellation_keeps_the_benefits_to_the_end_without_grace() {
    let p = program();
    let mut m = fresh();
    rules::subscribe(
        &mut m,
        &p,
        &pay("p1", "plus-month", 3100, "2026-01-01T00:00:00Z"),
        ("base", None),
        t("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    assert!(rules::cancel(&mut m, &p, "too expensive", t("2026-01-05T00:00:00Z")).unwrap());
    assert!(!rules::cancel(&mut m, &p, "again", t("2026-01-06T00:00:00Z")).unwrap());
    assert_eq!(m.status_at(t("2026-01-31T23:59:59Z"), 3), Some(Status::Cancelled));
    assert_eq!(m.status_at(t("2026-02-01T00:00:00Z"), 3), Some(Status::Lapsed));
    assert_eq!(m.cover(3).unwrap().until, t("2026-02-01T00:00:00Z"));
}

#[test]
fn refunds_follow_the_plans_policy_to_the_fen() {
    let p = program();
    // pro_rata: 31-day month, refunded after 10 days and a bit: 20 whole days unused.
    let mut m = fresh();
    rules::subscribe(
        &mut m,
        &p,
        &pay("p1", "plus-month", 3100, "2026-01-01T00:00:00Z"),
        ("base", None),
        t("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let r = RefundRequest { id: "r1".into(), amount_minor: None, reason: "asked".into() };
    let (f, _) = rules::refund(&mut m, &p, &r, 999, t("2026-01-11T06:00:00Z")).unwrap();
    assert_eq!((f.term_days, f.unused_days, f.amount_minor), (31, 20, 3100 * 20 / 31));
    assert_eq!(m.status_at(t("2026-01-11T07:00:00Z"), 3), Some(Status::Lapsed), "a refund ends it, no grace");
    let (again, replayed) = rules::refund(&mut m, &p, &r, 0, t("2026-01-12T00:00:00Z")).unwrap();
    assert!(replayed && again.amount_minor == f.amount_minor);
    // pro_rata_minus_savings: a year (365 days) of 19900, 100 days used, 4321 saved.
    let mut y = fresh();
    rules::subscribe(
        &mut y,
        &p,
        &pay("y1", "plus-year", 19900, "2026-01-01T00:00:00Z"),
        ("base", None),
        t("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let q = rules::refund_quote(&y, &p, 4321, t("2026-04-11T00:00:00Z")).unwrap();
    assert_eq!((q.term_days, q.unused_days), (365, 265));
    assert_eq!(q.amount_minor, 19900 * 265 / 365 - 4321);
    assert_eq!(
        rules::refund_quote(&y, &p, 1_000_000, t("2026-04-11T00:00:00Z")).unwrap().amount_minor,
        0,
        "never below zero"
    );
    // An amount over the fee is refused by field, and writes nothing.
    let over = RefundRequest { id: "r2".into(), amount_minor: Some(19901), reason: "x".into() };
    let e = rules::refund(&mut y, &p, &over, 0, t("2026-04-11T00:00:00Z")).unwrap_err();
    assert!(matches!(e, crate::DomainError::Unprocessable { ref field, .. } if field == "amount_minor"), "{e}");
    assert!(y.terms[0].refund_id.is_none());
}

#[test]
fn an_upgrade_credits_the_unused_part_of_the_month() {
    let p = program();
    let mut m = fresh();
    rules::subscribe(
        &mut m,
        &p,
        &pay("p1", "plus-month", 3100, "2026-01-01T00:00:00Z"),
        ("base", None),
        t("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let at = "2026-01-21T00:00:00Z"; // 20 days used, 11 unused of 31
    let credit = rules::upgrade_credit(&m, t(at));
    assert_eq!(credit, 3100 * 11 / 31);
    let too_much = pay("u1", "plus-year", 19900, at);
    let e = rules::upgrade(&mut m, &p, &too_much, ("base", None), t(at)).unwrap_err();
    assert!(matches!(e, crate::DomainError::Unprocessable { ref field, .. } if field == "paid_minor"), "{e}");
    let (term, _) =
        rules::upgrade(&mut m, &p, &pay("u1", "plus-year", 19900 - credit, at), ("base", None), t(at)).unwrap();
    assert_eq!((term.credit_minor, term.starts_at, term.ends_at), (credit, t(at), t("2027-01-21T00:00:00Z")));
    assert_eq!(m.terms[0].credited_minor, credit);
    assert_eq!(m.plan, "plus-year");
    assert_eq!(m.status_at(t("2026-06-01T00:00:00Z"), 3), Some(Status::Active));
}

#[test]
fn packs_fall_due_at_the_start_of_every_month_of_a_paid_term() {
    let p = program();
    let mut m = fresh();
    rules::subscribe(
        &mut m,
        &p,
        &pay("p1", "plus-month", 3100, "2026-01-31T00:00:00Z"),
        ("base", None),
        t("2026-01-31T00:00:00Z"),
    )
    .unwrap();
    let due = rules::due_packs(&m, &p, t("2026-01-31T00:00:00Z"));
    assert_eq!(due.len(), 1);
    rules::pack_issued(&mut m, &due[0], 2, "2 coupons".into());
    assert!(rules::due_packs(&m, &p, t("2026-02-20T00:00:00Z")).is_empty(), "one month, one pack");
}

#[test]
fn a_plan_beats_the_tier_only_where_it_is_lower_and_says_so() {
    let p = program();
    let year = &p.file.plans[1];
    let priced = |plan, sku: &str, list| {
        let pricing = crate::checkout::Pricing::at(&p, "base", plan, t("2026-05-05T00:00:00Z"));
        crate::checkout::price_line(&p, &pricing, (sku, None, None, 2), list)
    };
    // base tier is 95%; the year plan 88%: the plan's extra is 95% → 88%.
    let lp = priced(Some(year), "tea", 10_000);
    assert_eq!((lp.after_tier, lp.after_plan, lp.plan_code.as_str()), (9_500, 8_800, "plan_discount:plus-year"));
    assert_eq!(
        lp.uses(1_200),
        [("member_discount", 500), ("plan_discount:plus-year", 700), ("member_day_discount", 0)]
    );
    // Member price: 2 × 500 against 88% of 2,000.
    let lp = priced(Some(year), "milk", 2_000);
    assert_eq!((lp.after_plan, lp.plan_code.as_str()), (1_000, "plan_price:plus-year"));
    assert_eq!(priced(None, "milk", 2_000).after_plan, 1_900);
}

#[test]
fn plan_errors_name_their_key() {
    let fields =
        |toml: &str| -> Vec<String> { Program::from_toml(toml).unwrap_err().0.into_iter().map(|i| i.field).collect() };
    let bad = r#"
[[plans]]
code = "p"
name = "P"
price_minor = 1000
term = "year"
min_tier = "platinum"
trial = { days = 0, price_minor = 2000 }
benefits = { discount_percent = 0, coupon_pack = [{ template = "t", count = 21 }] }
[[plans]]
code = "p"
name = "Q"
price_minor = -1
term = "year"
"#;
    assert_eq!(
        fields(bad),
        [
            "plans[0].benefits.discount_percent",
            "plans[0].trial.days",
            "plans[0].trial.price_minor",
            "plans[0].benefits.coupon_pack[0].count",
            "plans[0].min_tier",
            "plans[1].code",
            "plans[1].price_minor",
        ]
    );
    let e =
        Program::from_toml("[[plans]]\ncode = \"p\"\nname = \"P\"\nprice_minor = 1\nterm = \"week\"\n").unwrap_err();
    assert_eq!(e.0[0].field, "plans[0].term", "{e:?}");
    assert!(e.0[0].reason.contains("month, quarter, year"), "{e:?}");
    let e = Program::from_toml("[memberships]\ngrace_days = 400\n").unwrap_err();
    assert_eq!(e.0[0].field, "memberships.grace_days");
    // A pack's template of the file must be obtainable through the membership channel.
    let e = Program::from_toml(
        r#"
[[coupon_templates]]
id = "t"
name = "T"
benefit = { kind = "free_shipping" }
validity = { relative = { days = 1 } }
[[plans]]
code = "p"
name = "P"
price_minor = 1
term = "month"
benefits = { coupon_pack = [{ template = "t", count = 1 }] }
"#,
    )
    .unwrap_err();
    assert_eq!(e.0[0].field, "plans[0].benefits.coupon_pack[0].template", "{e:?}");
}

#[test]
fn an_invitation_opens_an_invitation_only_plan_to_its_tier() {
    let p = program();
    let mut m = fresh();
    let now = t("2026-01-10T00:00:00Z");
    assert!(rules::invite(&mut m, &p, "black", now).unwrap());
    assert!(!rules::invite(&mut m, &p, "black", now).unwrap(), "inviting again changes nothing");
    let e = rules::subscribe(&mut m, &p, &pay("b1", "black", 99900, "2026-01-10T00:00:00Z"), ("silver", None), now)
        .unwrap_err();
    assert_eq!(code(e), "plan_not_eligible", "invited, but below the plan's tier");
    let (term, _) = rules::subscribe(
        &mut m,
        &p,
        &pay("b1", "black", 99900, "2026-01-10T00:00:00Z"),
        ("gold", Some("champions")),
        now,
    )
    .unwrap();
    assert_eq!(
        (term.tier.as_str(), term.segment.as_deref()),
        ("gold", Some("champions")),
        "the cell the report compares in"
    );
    assert_eq!(m.status_at(now, 3), Some(Status::Active));
    // Auto-renew off and on again while it runs.
    assert!(rules::cancel(&mut m, &p, "x", now).unwrap());
    assert_eq!(m.status_at(now, 3), Some(Status::Cancelled));
    assert!(rules::resume(&mut m, &p, now).unwrap());
    assert_eq!(m.status_at(now, 3), Some(Status::Active));
    let kinds: Vec<EventKind> = m.new_events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Invited, EventKind::Started, EventKind::Cancelled, EventKind::Resumed]);
    assert_eq!(m.new_events[0].plan, "black");
}
