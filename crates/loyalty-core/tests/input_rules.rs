//! Input the rules refuse before anything is written (issue 14 §4), whichever edge it came
//! through: the HTTP handlers, the CSV importer and the simulators call these same functions.

use jiff::Timestamp;
use loyalty_core::account::Account;
use loyalty_core::checkout::{evaluate, Buyer, CartLine};
use loyalty_core::ids::MemberId;
use loyalty_core::ledger::MemberStatus;
use loyalty_core::order::{place_order, refund_order, LineInput, OrderInput, RefundInput, RefundLineInput};
use loyalty_core::tiers::{Action, ActionKind, ActivityInput};
use loyalty_core::{DomainError, Program};

fn now() -> Timestamp {
    "2026-06-01T12:00:00+08:00".parse().unwrap()
}

fn line(sku: &str, quantity: i64, unit: i64, paid: i64) -> LineInput {
    LineInput { sku: sku.into(), category: None, brand: None, quantity, unit_price_minor: unit, paid_minor: paid }
}

fn order(lines: Vec<LineInput>) -> OrderInput {
    OrderInput {
        id: "o-1".into(),
        member_id: "m-1".into(),
        paid_at: "2026-05-20T10:00:00+08:00".into(),
        currency: None,
        lines,
        shipping_minor: 0,
        shipping_waived_minor: 0,
        coupons: Vec::new(),
    }
}

/// The field and reason of a refusal.
fn refusal<T: std::fmt::Debug>(r: Result<T, DomainError>) -> (String, String) {
    match r {
        Err(DomainError::Unprocessable { field, reason }) => (field, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_line_may_be_paid_up_to_its_list_price_and_no_more() {
    let p = Program::default_program();
    assert!(order(vec![line("A", 3, 100, 300), line("B", 1, 50, 0)]).validate(&p, now()).is_ok());
    let (field, reason) = refusal(order(vec![line("A", 1, 100, 1_000_000)]).validate(&p, now()));
    assert_eq!(
        (field.as_str(), reason.as_str()),
        ("lines[0].paid_minor", "1000000 is more than the line's list price 100 × 1 = 100")
    );
    let (field, _) = refusal(order(vec![line("A", 1, 100, 100), line("B", 2, 50, 101)]).validate(&p, now()));
    assert_eq!(field, "lines[1].paid_minor");
}

#[test]
fn order_text_is_printable_and_its_instant_sane() {
    let p = Program::default_program();
    let mut o = order(vec![line("A\u{0}", 1, 100, 100)]);
    assert!(refusal(o.validate(&p, now())).1.contains("control character U+0000"));
    o.lines[0].sku = "A".into();
    o.lines[0].brand = Some("\u{1b}[1m".into());
    assert_eq!(refusal(o.validate(&p, now())).0, "lines[0].brand");
    o.lines[0].brand = None;
    o.paid_at = "1900-01-01T00:00:00+08:00".into();
    assert!(refusal(o.validate(&p, now())).1.contains("is before 1970-01-01T00:00:00Z"));
    o.paid_at = "9999-12-31T23:59:59Z".into();
    assert_eq!(refusal(o.validate(&p, now())).1, "9999-12-31T23:59:59Z is in the future");
    o.paid_at = "2026-05-20T10:00:00+25:00".into();
    assert!(refusal(o.validate(&p, now())).1.contains("offset +25:00 is beyond ±14:00"));
}

#[test]
fn a_refund_line_of_zero_or_fewer_units_is_refused_as_such() {
    let p = Program::default_program();
    let mut acc = Account::new(MemberId::parse("m-1").unwrap());
    let valid = order(vec![line("A", 2, 100, 200)]).validate(&p, now()).unwrap();
    let mut placed = place_order(&mut acc, &p, valid, None, now()).expect("placed");
    for q in [-1, 0, i64::MIN] {
        let input = RefundInput {
            id: "r-1".into(),
            amount_minor: None,
            lines: Some(vec![RefundLineInput { sku: "A".into(), quantity: q }]),
            refunded_at: None,
        };
        let (field, reason) = refusal(refund_order(&mut acc, &p, &mut placed, &[], &input, now()));
        assert_eq!(field, "lines[0].quantity");
        assert_eq!(reason, format!("{q} must be at least 1: the number of units of \"A\" to refund"));
    }
    let input = RefundInput {
        id: "r-1".into(),
        amount_minor: None,
        lines: Some(vec![RefundLineInput { sku: "A".into(), quantity: i64::MAX }]),
        refunded_at: None,
    };
    let (_, reason) = refusal(refund_order(&mut acc, &p, &mut placed, &[], &input, now()));
    assert!(reason.contains("is more than the 2 units of \"A\" left to refund"), "{reason}");
}

#[test]
fn a_cart_line_is_checked_like_an_order_line() {
    let p = Program::default_program();
    let buyer = Buyer {
        tier: "base",
        plan: None,
        birthday: None,
        status: MemberStatus::Active,
        available_points: loyalty_core::Points::ZERO,
    };
    let cart = |category: &str| {
        vec![CartLine {
            sku: "A".into(),
            category: Some(category.into()),
            brand: None,
            quantity: 1,
            unit_price_minor: 1,
        }]
    };
    assert!(evaluate(&p, &buyer, &cart("shoes"), 0, None, now()).is_ok());
    assert_eq!(refusal(evaluate(&p, &buyer, &cart("sh\u{7}oes"), 0, None, now())).0, "lines[0].category");
}

#[test]
fn an_activity_is_parsed_at_the_edge_and_a_retry_compared_field_by_field() {
    let parse = |id: &str, reference: Option<&str>, at: &str| ActivityInput::parse(id, "review", at, reference, now());
    let at = "2026-06-01T09:00:00+08:00";
    assert!(refusal(parse("a 1", None, at)).1.contains("an activity id"));
    assert_eq!(refusal(parse("a-1", Some("\u{0}"), at)).0, "reference");
    assert_eq!(
        refusal(parse("a-1", None, "2026-06-02T00:00:00+08:00")).1,
        "2026-06-02T00:00:00+08:00 is in the future"
    );
    assert!(refusal(parse("a-1", None, "1969-12-31T00:00:00Z")).1.contains("1970-01-01T00:00:00Z"));

    let input = parse("a-1", Some("sku 1"), at).unwrap();
    let recorded = Action {
        kind: ActionKind::Activity,
        action_id: "a-1".into(),
        action_type: "review".into(),
        occurred_at: input.occurred_at,
        reference: Some("sku 1".into()),
        growth: 20,
        points: 10,
        note: None,
        created_at: now(),
    };
    assert!(recorded.differences(&input).is_empty(), "the same body is a replay");
    let other = ActivityInput::parse("a-1", "share", "2026-06-01T10:00:00+08:00", None, now()).unwrap();
    assert_eq!(recorded.differences(&other), ["type", "occurred_at", "reference"]);
}
