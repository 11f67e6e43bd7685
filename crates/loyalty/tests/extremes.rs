//! Every number a POST body carries, set to what a client can send at the extremes (i64::MIN
//! and MAX, -1, 0, 2^53, u64::MAX, 1e300, 116.0, the bounds and one past them, any i64), and
//! every instant to the ends of what parses: the server answers a 4xx problem naming the
//! field, never a 5xx, and still takes a valid write afterwards.

mod common;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Cases per endpoint: enough to meet every listed value on every field, few enough that the
/// file runs in seconds.
const CASES: u32 = 64;

fn extreme_number() -> impl Strategy<Value = Value> {
    let listed = vec![
        json!(i64::MIN),
        json!(i64::MIN + 1),
        json!(i64::MAX),
        json!(-1),
        json!(0),
        json!(1),
        json!(1_i64 << 53),
        json!(u64::MAX),
        json!(1e300),
        json!(-1e300),
        json!(116.0),
        json!(0.5),
        json!(-1_000_000_000_000_i64),
        json!(1_000_000_000_000_i64),
        json!(1_000_000_000_001_i64),
        json!(1_000_000_000_000_000_i64),
        json!(1_000_000),
        json!(1_000_001),
        json!(86_400),
        json!(86_401),
    ];
    prop_oneof![6 => prop::sample::select(listed), 2 => any::<i64>().prop_map(|v| json!(v))]
}

fn extreme_instant() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("-009999-01-02T01:59:59Z"),
        json!("9999-12-30T22:00:00Z"),
        json!("9999-12-31T23:59:59+08:00"),
        json!("0001-01-01T00:00:00+08:00"),
        json!("1970-01-01T00:00:00Z"),
        json!(i64::MAX),
    ])
}

#[derive(Clone, Copy)]
enum Kind {
    Number,
    Instant,
}
use Kind::*;

struct Endpoint {
    path: &'static str,
    /// A valid body for case `n` (ids made fresh with `n`).
    body: fn(u64) -> Value,
    /// JSON pointers of the fields thrown at, and what they hold.
    fields: &'static [(&'static str, Kind)],
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// A request whose answer may be anything: status, content type, body.
async fn request(app: &TestApp, method: Method, path: &str, body: &Value) -> (StatusCode, String, Value) {
    let resp = app.client.request(method, format!("{}{path}", app.base)).bearer_auth(ADMIN).json(body).send().await;
    let resp = resp.expect("the server answers");
    let status = resp.status();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.unwrap();
    (status, ct, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Member `m` with points to hold and an order `o-refund` of ten units to refund.
async fn arrange(app: &TestApp) {
    app.member("m").await;
    let (s, a) = app
        .post("/v1/members/m/points/adjustments", json!({"points": 1_000_000, "reason": "fuzz", "id": "setup"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let mut o = order("o-refund", "m", 1_000_000, 10);
    o["lines"][0]["quantity"] = json!(10);
    o["lines"][0]["unit_price_minor"] = json!(100_000);
    let (s, o) = app.post("/v1/orders", o).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
}

/// Throws `CASES` cases at `e`, each setting one to three of its fields, then places a valid
/// order and checks the ledger.
fn fuzz(e: Endpoint) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = rt.block_on(async {
        let app = spawn_app().await;
        arrange(&app).await;
        app
    });
    let n = AtomicU64::new(0);
    let pick = prop::collection::vec((0..e.fields.len(), extreme_number(), extreme_instant()), 1..=3);
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&pick, |changes| {
        let mut body = (e.body)(n.fetch_add(1, Ordering::Relaxed));
        for (i, number, instant) in changes {
            let (pointer, kind) = e.fields[i];
            *body.pointer_mut(pointer).expect("the template holds every field") = match kind {
                Number => number,
                Instant => instant,
            };
        }
        let (status, ct, answer) = rt.block_on(request(&app, Method::POST, e.path, &body));
        prop_assert!(!status.is_server_error(), "{} {body} -> {status} {answer}", e.path);
        if status.is_client_error() {
            prop_assert_eq!(ct.as_str(), "application/problem+json", "{} {} -> {}", e.path, body, answer);
            if matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY) {
                prop_assert!(answer["field"].is_string(), "names the field: {} {} -> {}", e.path, body, answer);
            }
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    rt.block_on(async {
        let (s, o) = app.post("/v1/orders", order("after", "m", 10_000, 0)).await;
        assert_eq!(s, StatusCode::CREATED, "a valid write goes through afterwards: {o}");
        app.assert_verified().await;
    });
}

#[test]
fn orders() {
    fuzz(Endpoint {
        path: "/v1/orders",
        body: |n| {
            json!({"id": format!("o-{n}"), "member_id": "m", "paid_at": now(), "shipping_minor": 800, "shipping_waived_minor": 0,
                "lines": [{"sku": "A", "quantity": 2, "unit_price_minor": 5_000, "paid_minor": 9_000},
                          {"sku": "B", "quantity": 1, "unit_price_minor": 3_000, "paid_minor": 3_000}]})
        },
        fields: &[
            ("/lines/0/quantity", Number),
            ("/lines/0/unit_price_minor", Number),
            ("/lines/0/paid_minor", Number),
            ("/lines/1/quantity", Number),
            ("/lines/1/unit_price_minor", Number),
            ("/lines/1/paid_minor", Number),
            ("/shipping_minor", Number),
            ("/shipping_waived_minor", Number),
            ("/paid_at", Instant),
        ],
    });
}

#[test]
fn refunds_by_amount() {
    fuzz(Endpoint {
        path: "/v1/orders/o-refund/refunds",
        body: |n| json!({"id": format!("r-{n}"), "amount_minor": 1, "refunded_at": now()}),
        fields: &[("/amount_minor", Number), ("/refunded_at", Instant)],
    });
}

#[test]
fn refunds_by_lines() {
    fuzz(Endpoint {
        path: "/v1/orders/o-refund/refunds",
        body: |n| json!({"id": format!("rl-{n}"), "lines": [{"sku": "SKU-1", "quantity": 1}], "refunded_at": now()}),
        fields: &[("/lines/0/quantity", Number), ("/refunded_at", Instant)],
    });
}

#[test]
fn holds() {
    fuzz(Endpoint {
        path: "/v1/members/m/points/holds",
        body: |n| json!({"points": 100, "order_amount_minor": 100_000, "order_id": format!("h-{n}"), "ttl_seconds": 60}),
        fields: &[("/points", Number), ("/order_amount_minor", Number), ("/ttl_seconds", Number)],
    });
}

#[test]
fn adjustments() {
    fuzz(Endpoint {
        path: "/v1/members/m/points/adjustments",
        body: |n| json!({"points": 1, "reason": "fuzz", "id": format!("a-{n}")}),
        fields: &[("/points", Number)],
    });
}

#[test]
fn activities() {
    fuzz(Endpoint {
        path: "/v1/members/m/activities",
        body: |n| json!({"id": format!("act-{n}"), "type": "review", "occurred_at": now()}),
        fields: &[("/occurred_at", Instant), ("/id", Number), ("/type", Number)],
    });
}

#[test]
fn tier_assignments() {
    fuzz(Endpoint {
        path: "/v1/members/m/tier/assignments",
        body: |_| json!({"tier": "gold", "reason": "fuzz", "until": "2099-01-01T00:00:00Z"}),
        fields: &[("/until", Instant), ("/tier", Number), ("/reason", Number)],
    });
}

#[test]
fn checkout_evaluate() {
    fuzz(Endpoint {
        path: "/v1/checkout/evaluate",
        body: |_| {
            json!({"member_id": "m", "at": now(), "shipping_minor": 800, "points_to_redeem": 100,
                "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 10_000},
                          {"sku": "B", "quantity": 3, "unit_price_minor": 2_000}]})
        },
        fields: &[
            ("/lines/0/quantity", Number),
            ("/lines/0/unit_price_minor", Number),
            ("/lines/1/quantity", Number),
            ("/lines/1/unit_price_minor", Number),
            ("/shipping_minor", Number),
            ("/points_to_redeem", Number),
            ("/at", Instant),
        ],
    });
}

#[test]
fn free_sample_claims() {
    fuzz(Endpoint {
        path: "/v1/members/m/benefits/free-samples/claims",
        body: |n| json!({"id": format!("c-{n}")}),
        fields: &[("/id", Number)],
    });
}

/// A programme with the highest rate (100,000 points per yen) and a 100× birthday month: the
/// largest order would earn 10^19 points, past `i64`. It is refused naming its lines, at the
/// order and at checkout alike, and the next order goes through.
#[tokio::test]
async fn an_order_that_would_earn_past_the_limits_is_refused_not_a_panic() {
    let app = spawn_app_with(
        "currency = \"JPY\"\n[earning]\npoints_per_unit = 100000\n[birthday]\npoints_multiplier = 100.0\n[member_day]\nday_of_month = 0\n",
    )
    .await;
    let month = jiff::Timestamp::now().to_zoned(app.program.tz.clone()).month();
    app.put("/v1/members/m", json!({"birthday": format!("1990-{month:02}-01")})).await;
    let mut big = order("big", "m", 1_000_000_000_000, 0);
    big["currency"] = json!("JPY");
    let (s, p) = app.post("/v1/orders", big).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines")), "{p}");
    let cart =
        json!({"member_id": "m", "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 1_000_000_000_000_i64}]});
    let (s, p) = app.post("/v1/checkout/evaluate", cart).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines")), "{p}");
    let mut small = order("small", "m", 100, 0);
    small["currency"] = json!("JPY");
    let (s, o) = app.post("/v1/orders", small).await;
    assert_eq!((s, o["earned_points"].as_i64()), (StatusCode::CREATED, Some(1_000_000_000)), "{o}");
    app.assert_verified().await;
}

/// A line of 10^6 units at 10^12 lists at 10^18: pricing takes a percentage of it, which
/// overflowed. The line is refused as checkout refuses it, naming the field.
#[tokio::test]
async fn an_order_line_listed_past_the_largest_amount_is_refused() {
    let app = spawn_app().await;
    app.member("m").await;
    let mut o = order("wide", "m", 1_000, 0);
    o["lines"][0]["quantity"] = json!(1_000_000);
    o["lines"][0]["unit_price_minor"] = json!(1_000_000_000_000_i64);
    let (s, p) = app.post("/v1/orders", o).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[0].unit_price_minor")), "{p}");
    let (s, o) = app.post("/v1/orders", order("narrow", "m", 1_000, 0)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
}
