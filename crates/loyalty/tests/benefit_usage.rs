//! Benefit usage and cost (`GET /v1/benefits/usage`) over real HTTP: orders record the
//! benefits they used with the tier and their value, and the report sums them per benefit
//! and tier to the fen, on SQLite and (with `LOYALTY_TEST_DATABASE_URL`) PostgreSQL.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Two tiers; member day on the 18th (a further 5% off, points ×2); birthday month points ×3;
/// gold: 85%, points ×1.5, free shipping, 70% on beauty, two free samples a month.
const PROGRAMME: &str = r#"
[member_day]
day_of_month = 18
extra_percent = 95
points_multiplier = 2.0
[birthday]
points_multiplier = 3.0
[[tiers.levels]]
code = "base"
name = "普通会员"
entry = 0
discount_percent = 95
[[tiers.levels]]
code = "gold"
name = "金卡"
entry = 500000
discount_percent = 85
points_multiplier = 1.5
free_shipping_over_minor = 0
free_samples_per_month = 2
[[tiers.levels.special_discounts]]
category = "beauty"
percent = 70
"#;

fn line(sku: &str, category: &str, quantity: i64, unit: i64, paid: i64) -> Value {
    json!({"sku": sku, "category": category, "quantity": quantity, "unit_price_minor": unit, "paid_minor": paid})
}

async fn place(app: &TestApp, id: &str, member: &str, paid_at: &str, lines: Value, waived: i64) {
    let body = json!({"id": id, "member_id": member, "paid_at": paid_at, "lines": lines,
        "shipping_minor": 800 - waived.min(800), "shipping_waived_minor": waived});
    let (s, o) = app.post("/v1/orders", body).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
}

/// (uses, members, value_minor, extra_points)
type Sums = (i64, i64, i64, i64);
/// (tier, uses, members, value_minor, extra_points)
type TierSums = (String, i64, i64, i64, i64);

/// The report's row for `benefit` and its per-tier rows.
fn row(r: &Value, benefit: &str) -> (Sums, Vec<TierSums>) {
    let b = r["benefits"].as_array().unwrap().iter().find(|b| b["benefit"] == benefit);
    let b = b.unwrap_or_else(|| panic!("{benefit} missing from {r}"));
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap();
    let tiers = b["by_tier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tier"].as_str().unwrap().to_owned(),
                n(t, "uses"),
                n(t, "members"),
                n(t, "value_minor"),
                n(t, "extra_points"),
            )
        })
        .collect();
    ((n(b, "uses"), n(b, "members"), n(b, "value_minor"), n(b, "extra_points")), tiers)
}

fn codes(r: &Value) -> Vec<&str> {
    r["benefits"].as_array().unwrap().iter().map(|b| b["benefit"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn usage_sums_each_benefit_per_tier_to_the_fen() {
    let app = spawn_app_with(PROGRAMME).await;
    app.member("ann").await;
    app.put("/v1/members/bob", json!({"name": "Bob", "birthday": "1990-03-05"})).await;
    app.member("cat").await;
    for m in ["bob", "cat"] {
        let (s, a) =
            app.post(&format!("/v1/members/{m}/tier/assignments"), json!({"tier": "gold", "reason": "test"})).await;
        assert_eq!(s, StatusCode::OK, "{a}");
    }

    // ann, base, a plain day: 2 × ¥100 at 95% → member discount 1,000; 190 points, no extra.
    place(&app, "a1", "ann", "2026-03-10T12:00:00+08:00", json!([line("X", "shoes", 2, 10_000, 19_000)]), 0).await;
    // ann on member day: 9,500 then 95% → 9,025: member discount 500, member day 475;
    // points 90 × 2 = 180, 90 extra from member day.
    place(&app, "a2", "ann", "2026-03-18T12:00:00+08:00", json!([line("X", "shoes", 1, 10_000, 9_025)]), 0).await;
    // bob, gold, in his birthday month: beauty at 70% (6,000 off), shoes at 85% (1,500 off)
    // and 500 fen of points on top (not a benefit); shipping 800 waived. Points: 220 base,
    // birthday ×3 beats gold ×1.5 → 660, 440 extra.
    let b1 = json!([line("B", "beauty", 1, 20_000, 14_000), line("X", "shoes", 1, 10_000, 8_000)]);
    // Checkout names the same benefits with the same values for the same cart and instant.
    let cart = json!({"member_id": "bob", "at": "2026-03-10T12:00:00+08:00", "shipping_minor": 800, "lines": [
        {"sku": "B", "category": "beauty", "quantity": 1, "unit_price_minor": 20_000},
        {"sku": "X", "category": "shoes", "quantity": 1, "unit_price_minor": 10_000}]});
    let (s, e) = app.post("/v1/checkout/evaluate", cart).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let applied: Vec<(&str, i64)> = e["benefits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["code"].as_str().unwrap(), b["value_minor"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        applied,
        [
            ("category_discount:beauty", 6_000),
            ("member_discount", 1_500),
            ("free_shipping", 800),
            ("birthday_month", 0)
        ]
    );
    place(&app, "b1", "bob", "2026-03-10T12:00:00+08:00", b1, 800).await;
    // bob on April's member day: 8,500 then 95% → 8,075: 1,500 + 425; points 80 × 2, 80 extra.
    place(&app, "b2", "bob", "2026-04-18T12:00:00+08:00", json!([line("X", "shoes", 1, 10_000, 8_075)]), 0).await;
    // cat, gold, but the store gave only 10% off: the member discount counts 1,000, not 1,500;
    // points 90 × 1.5 = 135, 45 extra from the tier.
    place(&app, "c1", "cat", "2026-03-12T12:00:00+08:00", json!([line("X", "shoes", 1, 10_000, 9_000)]), 0).await;
    // A refund rewrites the order's totals; its benefits are counted once all the same.
    let (s, r) = app.post("/v1/orders/a1/refunds", json!({"id": "r1", "amount_minor": 1_000})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    let range = "from=2026-03-01T00:00:00%2B08:00&to=2026-05-01T00:00:00%2B08:00";
    let (s, r) = app.get(&format!("/v1/benefits/usage?{range}")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        codes(&r),
        [
            "birthday_month",
            "category_discount:beauty",
            "free_shipping",
            "member_day",
            "member_day_discount",
            "member_discount",
            "tier_multiplier:gold"
        ]
    );
    let t = |tier: &str, u, m, v, x| (tier.to_owned(), u, m, v, x);
    assert_eq!(
        row(&r, "member_discount"),
        ((5, 3, 1_000 + 500 + 1_500 + 1_500 + 1_000, 0), vec![t("base", 2, 1, 1_500, 0), t("gold", 3, 2, 4_000, 0)])
    );
    assert_eq!(row(&r, "category_discount:beauty"), ((1, 1, 6_000, 0), vec![t("gold", 1, 1, 6_000, 0)]));
    assert_eq!(
        row(&r, "member_day_discount"),
        ((2, 2, 900, 0), vec![t("base", 1, 1, 475, 0), t("gold", 1, 1, 425, 0)])
    );
    assert_eq!(row(&r, "free_shipping"), ((1, 1, 800, 0), vec![t("gold", 1, 1, 800, 0)]));
    // 100 points = ¥1, so an extra point is worth one fen.
    assert_eq!(row(&r, "member_day"), ((2, 2, 170, 170), vec![t("base", 1, 1, 90, 90), t("gold", 1, 1, 80, 80)]));
    assert_eq!(row(&r, "birthday_month"), ((1, 1, 440, 440), vec![t("gold", 1, 1, 440, 440)]));
    assert_eq!(row(&r, "tier_multiplier:gold"), ((1, 1, 45, 45), vec![t("gold", 1, 1, 45, 45)]));
    assert_eq!(r["totals"], json!({"given_minor": 5_500 + 6_000 + 900 + 800, "extra_points": 170 + 440 + 45}));
    let kinds: Vec<&str> = r["benefits"].as_array().unwrap().iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"category_discount") && kinds.contains(&"tier_multiplier"), "{kinds:?}");

    // One tier only; and March only (the range's end is exclusive, b2 falls out).
    let (_, r) = app.get(&format!("/v1/benefits/usage?{range}&tier=base")).await;
    assert_eq!(codes(&r), ["member_day", "member_day_discount", "member_discount"]);
    assert_eq!(row(&r, "member_discount").0, (2, 1, 1_500, 0));
    assert_eq!(r["tier"], "base");
    let (_, r) = app.get("/v1/benefits/usage?from=2026-03-01T00:00:00%2B08:00&to=2026-04-18T12:00:00%2B08:00").await;
    assert_eq!(row(&r, "member_discount").0, (4, 3, 4_000, 0));
    assert_eq!(row(&r, "member_day").0, (1, 1, 90, 90));

    // Free samples are counted by claim, this month by default.
    let (s, c) = app.post("/v1/members/cat/benefits/free-samples/claims", json!({"id": "fs-1"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, r) = app.get("/v1/benefits/usage").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(row(&r, "free_sample"), ((1, 1, 0, 0), vec![t("gold", 1, 1, 0, 0)]));
    assert_eq!(r["benefits"][0]["counted_in"], "claim");
}

#[tokio::test]
async fn usage_refuses_bad_parameters_naming_the_field() {
    let app = spawn_app_with(PROGRAMME).await;
    let cases = [
        ("from=yesterday", StatusCode::UNPROCESSABLE_ENTITY, "from"),
        ("to=2026-13-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY, "to"),
        ("from=2026-05-01T00:00:00Z&to=2026-04-01T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY, "to"),
        ("tier=platinum", StatusCode::UNPROCESSABLE_ENTITY, "tier"),
        ("teir=gold", StatusCode::BAD_REQUEST, "teir"),
    ];
    for (q, status, field) in cases {
        let (s, p) = app.get(&format!("/v1/benefits/usage?{q}")).await;
        assert_eq!((s, p["field"].as_str()), (status, Some(field)), "{q}: {p}");
    }
    let (s, p) = app.get("/v1/benefits/usage?tier=platinum").await;
    assert!(p["detail"].as_str().unwrap().contains("base, gold"), "{s} {p}");
    // An integration key may not read it.
    let (_, doc) = app.get("/openapi.json").await;
    assert!(doc["paths"]["/v1/benefits/usage"]["get"].is_object(), "the report is in the OpenAPI document");
    let key = "lk_integration_usage";
    app.store
        .insert_api_key(&loyalty_http::auth::hash_key(key), "shop", "integration", jiff::Timestamp::now())
        .await
        .unwrap();
    let (s, _) = app.send(reqwest::Method::GET, "/v1/benefits/usage", None, Some(key), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
