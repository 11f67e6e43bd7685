//! `best_coupons` through the real server, on SQLite and (with `LOYALTY_TEST_DATABASE_URL`)
//! PostgreSQL: evaluate picks the combination that saves most among the coupons named or, with
//! none named, among every coupon the member holds available; ties go to fewer coupons, then to
//! the smaller ids; and the order that uses the pick agrees with evaluate to the fen and point.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Member price is list price (one tier at 100%) and no date-dependent multipliers, so what a
/// cart saves is the coupons' alone and can be worked out by hand.
const PROGRAMME: &str = "[member_day]\nday_of_month = 0\n[birthday]\npoints_multiplier = 1.0\n\
[[tiers.levels]]\ncode = \"base\"\nname = \"普通会员\"\nentry = 0\ndiscount_percent = 100\n";

/// The templates: ¥10 off and 10% off, both stackable, which together take 1,000 + 900 (10% of
/// the 9,000 left) = 1,900 off a ¥100 cart; and ¥25, ¥15 and ¥19 off that stack with nothing.
async fn templates(app: &TestApp) {
    let amount = |v: i64| json!({"kind": "amount_off", "value_minor": v});
    let all = [
        ("amt10", amount(1_000), true),
        ("pct10", json!({"kind": "percent_off", "percent_off": 10}), true),
        ("big25", amount(2_500), false),
        ("big15", amount(1_500), false),
        ("big19", amount(1_900), false),
    ];
    for (id, benefit, stackable) in all {
        let t = json!({"id": id, "name": id, "benefit": benefit, "stackable": stackable,
                       "validity": {"relative": {"days": 7, "end_of_day": true}}});
        let (s, p) = app.post("/v1/coupon-templates", t).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
}

/// Registers `member` with one coupon of each template named, the coupon's id `{member}-{template}`
/// (or the id given after a `:`).
async fn holder(app: &TestApp, member: &str, coupons: &[&str]) {
    app.member(member).await;
    for c in coupons {
        let (template, id) = c.split_once(':').map_or((*c, format!("{member}-{c}")), |(t, i)| (t, i.to_owned()));
        let (s, p) = app
            .post(&format!("/v1/members/{member}/coupons"), json!({"template": template, "source": "issue", "id": id}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
}

/// A ¥100 cart, asking for the best of the coupons named.
fn cart(member: &str, coupons: &[String]) -> Value {
    json!({
        "member_id": member,
        "lines": [
            {"sku": "A", "category": "shoes", "quantity": 1, "unit_price_minor": 6_000},
            {"sku": "B", "category": "bags", "quantity": 2, "unit_price_minor": 2_000}
        ],
        "shipping_minor": 800,
        "coupons": coupons,
        "best_coupons": true,
    })
}

/// Evaluates `member`'s cart with the best of `named`; the coupons picked (sorted) and the answer.
async fn best(app: &TestApp, member: &str, named: &[&str]) -> (Vec<String>, Value) {
    let named: Vec<String> = named.iter().map(|c| format!("{member}-{c}")).collect();
    let (s, e) = app.post("/v1/checkout/evaluate", cart(member, &named)).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let coupons = e["coupons"].as_array().unwrap();
    assert!(coupons.iter().all(|c| c["applied"] == true), "only the pick is applied: {e}");
    let mut picked: Vec<String> = coupons.iter().map(|c| c["coupon_id"].as_str().unwrap().to_owned()).collect();
    picked.sort();
    (picked, e)
}

/// Places the order a store makes from evaluate's answer `e` with the coupons it picked, and
/// checks it against `e`: each line's paid, the points, and what each coupon took, to the fen.
async fn order_agrees(app: &TestApp, e: &Value, id: &str, member: &str) {
    let picked: Vec<Value> = e["coupons"].as_array().unwrap().iter().map(|c| c["coupon_id"].clone()).collect();
    let lines: Vec<Value> = e["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            json!({"sku": l["sku"], "category": l["category"], "quantity": l["quantity"],
                   "unit_price_minor": l["unit_price_minor"], "paid_minor": l["paid_minor"]})
        })
        .collect();
    let order = json!({
        "id": id, "member_id": member, "paid_at": jiff::Timestamp::now().to_string(), "lines": lines,
        "shipping_minor": 800, "shipping_waived_minor": e["shipping_waived_minor"], "coupons": picked,
    });
    let (s, o) = app.post("/v1/orders", order).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let goods = e["goods_minor"].as_i64().unwrap();
    assert_eq!(o["paid_minor"].as_i64(), Some(goods - e["coupon_discount_minor"].as_i64().unwrap()), "{o} vs {e}");
    assert_eq!(o["earned_points"], e["points_earned"], "{o} vs {e}");
    assert_eq!(o["coupons"], json!(picked), "{o}");
    // What the order recorded each coupon took is what evaluate said it takes.
    for c in e["coupons"].as_array().unwrap() {
        let (s, r) = app.get(&format!("/v1/coupon-templates/{}/report", c["template_id"].as_str().unwrap())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!((r["orders"].as_i64(), &r["discount_minor"]), (Some(1), &c["discount_minor"]), "{c}: {r}");
    }
}

#[tokio::test]
async fn best_coupons_picks_what_saves_most_whether_named_or_not_and_the_order_agrees() {
    let app = spawn_app_with(PROGRAMME).await;
    templates(&app).await;
    holder(&app, "ann", &["amt10", "pct10", "big25", "big15"]).await;

    // Named: ¥25 alone beats the stackable pair's ¥19; against ¥15 the pair wins.
    let (picked, e) = best(&app, "ann", &["amt10", "pct10", "big25"]).await;
    assert_eq!((picked, &e["coupon_discount_minor"]), (vec!["ann-big25".to_owned()], &json!(2_500)), "{e}");
    let (picked, e) = best(&app, "ann", &["amt10", "pct10", "big15"]).await;
    assert_eq!(picked, ["ann-amt10", "ann-pct10"], "{e}");
    assert_eq!(e["coupon_discount_minor"], 1_900, "¥10 off, then 10% of the ¥90 left: {e}");
    let by_id = |id: &str| e["coupons"].as_array().unwrap().iter().find(|c| c["coupon_id"] == id).unwrap().clone();
    assert_eq!(
        (&by_id("ann-amt10")["discount_minor"], &by_id("ann-pct10")["discount_minor"]),
        (&json!(1_000), &json!(900))
    );

    // None named: every available coupon is a candidate, so ¥25 wins.
    let (picked, e) = best(&app, "ann", &[]).await;
    assert_eq!(picked, ["ann-big25"], "{e}");
    order_agrees(&app, &e, "ann-1", "ann").await;
    // Used, it is no candidate any more: of what is left the pair saves most.
    let (picked, e) = best(&app, "ann", &[]).await;
    assert_eq!(picked, ["ann-amt10", "ann-pct10"], "{e}");
    order_agrees(&app, &e, "ann-2", "ann").await;
    app.assert_verified().await;
}

#[tokio::test]
async fn best_coupons_breaks_ties_by_fewer_coupons_then_smaller_ids() {
    let app = spawn_app_with(PROGRAMME).await;
    templates(&app).await;
    // ¥19 twice (ids b and a) and the pair, which also saves ¥19: one coupon beats two, and of
    // two equal ones the smaller id wins, however the coupons were named or issued.
    holder(&app, "carl", &["big19:carl-b", "amt10", "pct10", "big19:carl-a"]).await;
    for named in [&[][..], &["b", "amt10", "pct10", "a"], &["pct10", "a", "amt10", "b"]] {
        let (picked, e) = best(&app, "carl", named).await;
        assert_eq!(picked, ["carl-a"], "{named:?}: {e}");
        assert_eq!(e["coupon_discount_minor"], 1_900, "{e}");
    }
    let (_, e) = best(&app, "carl", &[]).await;
    order_agrees(&app, &e, "carl-1", "carl").await;
    app.assert_verified().await;
}
