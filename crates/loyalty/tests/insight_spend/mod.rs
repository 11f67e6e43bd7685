//! The spend model against `lifetimes` on the same transactions. The orders and refunds of
//! `loyalty-insight/tests/fixtures/gamma_gamma_transactions.tsv` go through the engine, as the
//! importer sends them; member insight runs as of the fixture's instant; each member's history
//! and m̄, the fitted p, q, γ and each member's expected order value are compared with what
//! `loyalty-insight/tests/gamma_gamma_check.py` had `lifetimes` compute from those transactions
//! (summary_data_from_transaction_data with freq='D', then GammaGammaFitter).

use super::*;
use loyalty_core::order::{OrderInput, RefundInput};
use loyalty_engine::{apply_batch, Command};
use loyalty_insight::gamma_gamma::GammaGammaParams;
use loyalty_report::models;

const TRANSACTIONS: &str = include_str!("../../../loyalty-insight/tests/fixtures/gamma_gamma_transactions.tsv");
const SUMMARY: &str = include_str!("../../../loyalty-insight/tests/fixtures/gamma_gamma_summary.tsv");
const PARAMS: &str = include_str!("../../../loyalty-insight/tests/fixtures/gamma_gamma_params.json");

/// What lifetimes made of one member: (frequency, recency, T, monetary_value, E[M | x, m̄]).
type Reference = (u32, f64, f64, f64, f64);

fn references() -> HashMap<String, Reference> {
    let rows = SUMMARY.lines().skip(1).map(|line| {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "malformed summary line {line:?}");
        let num = |i: usize| f[i].parse::<f64>().unwrap();
        (f[0].to_owned(), (f[1].parse().unwrap(), num(2), num(3), num(4), num(5)))
    });
    rows.collect()
}

/// The fixture's orders, then its refunds, as the engine's commands.
fn commands(program: &loyalty_core::Program, now: Timestamp) -> (Vec<Command>, Vec<Command>) {
    let (mut orders, mut refunds) = (Vec::new(), Vec::new());
    for line in TRANSACTIONS.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "malformed transaction line {line:?}");
        let (id, at, amount) = (f[1], f[4], f[5].parse::<i64>().unwrap());
        match f[0] {
            "order" => {
                let input: OrderInput = serde_json::from_value(json!({
                    "id": id, "member_id": f[2], "paid_at": at, "currency": "CNY", "shipping_minor": 0,
                    "lines": [{"sku": "SKU-1", "category": "shoes", "brand": "acme", "quantity": 1,
                               "unit_price_minor": amount, "paid_minor": amount}],
                }))
                .unwrap();
                let order = input.validate(program, now).unwrap();
                orders.push(Command::PlaceOrder { order, create_member: true });
            }
            "refund" => {
                let order_id = loyalty_core::ids::OrderId::parse(f[3]).unwrap();
                let input = RefundInput {
                    id: id.into(),
                    amount_minor: Some(amount),
                    lines: None,
                    refunded_at: Some(at.into()),
                };
                refunds.push(Command::Refund { order_id, input });
            }
            other => panic!("unknown transaction kind {other:?}"),
        }
    }
    (orders, refunds)
}

/// |got − want| within `relative` of |want| (or of 1 near zero).
fn close(got: f64, want: f64, relative: f64) -> bool {
    (got - want).abs() <= relative * want.abs().max(1.0)
}

#[tokio::test]
async fn spend_model_matches_lifetimes_on_the_same_transactions() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    let (orders, refunds) = commands(&app.program, now);
    for chunk in orders.chunks(1_000).chain(refunds.chunks(1_000)) {
        let replies = apply_batch(app.store.as_ref(), &app.program, chunk, now).await.unwrap();
        assert!(replies.iter().all(|r| r.is_ok()), "{:?}", replies.iter().find(|r| r.is_err()));
    }
    let expected: Value = serde_json::from_str(PARAMS).unwrap();
    let at: Timestamp = expected["at"].as_str().unwrap().parse().unwrap();
    let references = references();

    // Purchase days and m̄ as lifetimes counts them: its frequency, recency and T are the BG/NBD
    // history, its monetary_value (0 for no repeat purchase) is m̄.
    let activity = compute::read_activity(app.store.as_ref(), at, 365).await.unwrap();
    assert_eq!(activity.len(), references.len());
    for a in &activity {
        let (x, t_x, age, mean, _) = references[&*a.member_id];
        let h = models::history(a, at).unwrap().expect("every fixture member bought by the instant");
        assert_eq!((h.x(), h.t_x(), h.age()), (x, t_x, age), "history of {}", a.member_id);
        let ours = models::repeat_mean(&h, a).unwrap_or(0.0);
        assert!(close(ours, mean, 1e-12), "m̄ of {}: {ours}, lifetimes {mean}", a.member_id);
    }

    let outcome = compute::run(app.store.as_ref(), &InsightConfig::default(), at).await.unwrap();
    let fits = app.store.insight_models(&outcome.run).await.unwrap();
    let fit = fits.iter().find(|f| f.model == "gamma_gamma").unwrap();
    assert!(fit.converged, "{fit:?}");
    assert_eq!(fit.members, expected["members"].as_i64().unwrap());
    let ours: GammaGammaParams = serde_json::from_str(fit.params.as_deref().unwrap()).unwrap();
    for (name, got) in [("p", ours.p()), ("q", ours.q()), ("v", ours.v())] {
        let want = expected[name].as_f64().unwrap();
        assert!(close(got, want, 0.01), "{name} = {got}, lifetimes {want} ({:+.2e})", got / want - 1.0);
    }
    let ll = expected["independent_mle"]["log_likelihood"].as_f64().unwrap();
    assert!(close(fit.log_likelihood.unwrap(), ll, 1e-6), "ln L {:?}, reference {ll}", fit.log_likelihood);

    // E[M | x, m̄] per member from our fit, against lifetimes' from its own.
    for (id, (x, .., value)) in &references {
        let m = app.store.member_insight(&outcome.run, id).await.unwrap().unwrap();
        assert_eq!(m.repeat_purchases, i64::from(*x));
        let got = m.expected_order_value_minor.unwrap_or_else(|| panic!("{id} has an expected order value"));
        assert!(close(got, *value, 0.01), "E[M] of {id}: {got}, lifetimes {value}");
    }
}
