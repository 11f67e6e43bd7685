//! A refused redemption names the limit that binds — the member's balance, the programme's
//! share cap of the cart, the minimum redemption — with its figures, and evaluate reports it.

use jiff::Timestamp;
use loyalty_core::checkout::{evaluate, Buyer, CartLine};
use loyalty_core::ledger::MemberStatus;
use loyalty_core::{DomainError, Program};

fn cart(unit: i64) -> Vec<CartLine> {
    vec![CartLine { sku: "A".into(), category: None, brand: None, quantity: 1, unit_price_minor: unit }]
}

fn refusal(program: &Program, available: i64, unit: i64, wanted: i64) -> (String, String) {
    let at: Timestamp = "2026-06-02T10:00:00Z".parse().unwrap();
    let buyer = Buyer {
        tier: "base",
        plan: None,
        birthday: None,
        status: MemberStatus::Active,
        available_points: loyalty_core::Points::new(available),
    };
    let limit = evaluate(program, &buyer, &cart(unit), 0, None, at).unwrap().redemption.limit;
    match evaluate(program, &buyer, &cart(unit), 0, Some(wanted), at) {
        Err(DomainError::Unprocessable { field, reason }) => {
            assert_eq!(field, "points_to_redeem");
            (limit, reason)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_binding_limit_is_named_with_its_figures() {
    let program = Program::default_program();
    let r = &program.file.redemption;
    // A large cart and a small balance: the balance binds.
    let (limit, why) = refusal(&program, 127, 10_000_000, 500);
    assert_eq!(limit, "balance");
    assert!(why.contains("has 127 points available"), "{why}");
    // A large balance and a small cart: the share cap binds.
    let unit = 100_000;
    let at: Timestamp = "2026-06-02T10:00:00Z".parse().unwrap();
    let rich = Buyer {
        tier: "base",
        plan: None,
        birthday: None,
        status: MemberStatus::Active,
        available_points: loyalty_core::Points::new(10_000_000),
    };
    // The cap is of the goods at member price.
    let cap = evaluate(&program, &rich, &cart(unit), 0, None, at).unwrap().redemption.max_points.get();
    assert!(cap >= r.min_points, "the cart is large enough for the minimum");
    let (limit, why) = refusal(&program, 10_000_000, unit, cap + 1);
    assert_eq!(limit, "share_cap");
    assert!(why.contains(&format!("{}%", r.max_share_percent)) && why.contains(&cap.to_string()), "{why}");
    // Fewer points than the minimum could apply: none may.
    if r.min_points > 1 {
        let (limit, why) = refusal(&program, r.min_points - 1, 10_000_000, r.min_points);
        assert_eq!(limit, "minimum");
        assert!(why.contains(&format!("minimum of {}", r.min_points)), "{why}");
    }
}
