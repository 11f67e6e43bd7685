//! Checkout reads the member's coupons and their templates from the per-process checkout cache:
//! every write through this server shows in the next evaluation (a use, a restore, a new
//! coupon), and a member holding more coupons than the cache keeps is read from the store.

mod common;
use common::*;
use loyalty_engine::checkout_cache::MAX_KEPT_COUPONS;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn cart(member: &str, coupons: &[&str], best: bool) -> Value {
    json!({
        "member_id": member,
        "lines": [{"sku": "A", "category": "shoes", "quantity": 1, "unit_price_minor": 30000}],
        "shipping_minor": 0,
        "coupons": coupons,
        "best_coupons": best,
    })
}

async fn template(app: &TestApp, id: &str, value_minor: i64) {
    let (s, t) = app
        .post(
            "/v1/coupon-templates",
            json!({"id": id, "name": id, "benefit": {"kind": "amount_off", "value_minor": value_minor},
                   "validity": {"relative": {"days": 7}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
}

async fn issue(app: &TestApp, member: &str, tpl: &str, coupon: &str) {
    let (s, c) = app
        .post(&format!("/v1/members/{member}/coupons"), json!({"template": tpl, "source": "issue", "id": coupon}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
}

fn order(eval: &Value, id: &str, coupons: &[&str]) -> Value {
    json!({
        "id": id, "member_id": "m", "paid_at": jiff::Timestamp::now().to_string(),
        "lines": [{"sku": "A", "category": "shoes", "quantity": 1, "unit_price_minor": 30000,
                   "paid_minor": eval["lines"][0]["paid_minor"]}],
        "shipping_minor": 0, "coupons": coupons,
    })
}

#[tokio::test]
async fn every_write_through_the_server_shows_in_the_next_evaluation() {
    let app = spawn_app().await;
    app.member("m").await;
    template(&app, "t10", 1000).await;
    template(&app, "t30", 3000).await;
    issue(&app, "m", "t10", "c10").await;

    let (s, e) = app.post("/v1/checkout/evaluate", cart("m", &["c10"], false)).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["coupons"][0]["applied"], true, "{e}");
    // A coupon issued after the member's coupons were kept is a candidate at once.
    issue(&app, "m", "t30", "c30").await;
    let (_, b) = app.post("/v1/checkout/evaluate", cart("m", &[], true)).await;
    assert_eq!(b["coupons"][0]["coupon_id"], "c30", "{b}");
    assert_eq!(b["coupon_discount_minor"], 3000, "{b}");

    // Used by an order: the next evaluation says so.
    let (_, e) = app.post("/v1/checkout/evaluate", cart("m", &["c30"], false)).await;
    let paid = e["lines"][0]["paid_minor"].clone();
    let (s, o) = app.post("/v1/orders", order(&e, "o1", &["c30"])).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let (_, e) = app.post("/v1/checkout/evaluate", cart("m", &["c30"], false)).await;
    assert_eq!(
        (e["coupons"][0]["applied"].as_bool(), e["coupons"][0]["why_not"].as_str()),
        (Some(false), Some("used"))
    );
    let (_, b) = app.post("/v1/checkout/evaluate", cart("m", &[], true)).await;
    assert_eq!(b["coupons"][0]["coupon_id"], "c10", "the used one is no candidate: {b}");

    // Refunded in full: given back, and available to the next evaluation.
    let total = paid.as_i64().unwrap();
    let (s, r) = app.post("/v1/orders/o1/refunds", json!({"id": "r1", "amount_minor": total})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (_, e) = app.post("/v1/checkout/evaluate", cart("m", &["c30"], false)).await;
    assert_eq!(e["coupons"][0]["applied"], true, "{e}");

    // A coupon of another member, or none, is refused naming its place.
    let (s, p) = app.post("/v1/checkout/evaluate", cart("m", &["c10", "nobody"], false)).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::NOT_FOUND, Some("coupons[1]")), "{p}");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_member_holding_more_than_the_cache_keeps_is_read_from_the_store() {
    let app = spawn_app().await;
    app.member("m").await;
    template(&app, "t1", 100).await;
    template(&app, "t50", 5000).await;
    for i in 0..MAX_KEPT_COUPONS {
        issue(&app, "m", "t1", &format!("small-{i:03}")).await;
    }
    issue(&app, "m", "t50", "big").await;
    let (s, e) = app.post("/v1/checkout/evaluate", cart("m", &["big", "small-000"], false)).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["coupons"][0]["applied"], true, "{e}");
    assert_eq!(e["coupons"][1]["applied"], false, "two coupons of one kind: {e}");
    // best_coupons weighs the 200 available coupons that end soonest: here the small ones.
    let (_, b) = app.post("/v1/checkout/evaluate", cart("m", &[], true)).await;
    assert_eq!(b["coupon_discount_minor"], 100, "{b}");
    let (s, p) = app.post("/v1/checkout/evaluate", cart("m", &["missing"], false)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
}
