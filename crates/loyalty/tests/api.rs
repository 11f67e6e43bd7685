//! Contract tests over real HTTP on a fresh database (SQLite, or PostgreSQL when
//! LOYALTY_TEST_DATABASE_URL is set): what a store integrating us relies on.

mod common;
use common::*;
use loyalty_engine::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_walkthrough_register_order_hold_capture_refund_ledger() {
    let app = spawn_app().await;
    let (s, m) =
        app.put("/v1/members/alice", json!({"name": "Alice", "phone": "13800000000", "birthday": "1990-05-18"})).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["balances"]["available"], 0);

    // Paid ¥1,234.56 for goods ten days ago: 1,234 points, already out of the return window.
    let (s, o) = app.post("/v1/orders", order("o-1", "alice", 123_456, 10)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["earned_points"], 1_234);
    assert_eq!(app.balances("alice").await["available"], 1_234);

    // Redeem 600 points (¥6) on a ¥50 order: within the 50% cap.
    let (s, h) = app
        .post("/v1/members/alice/points/holds", json!({"points": 600, "order_amount_minor": 5_000, "order_id": "o-2"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    assert_eq!(h["value_minor"], 600);
    let b = app.balances("alice").await;
    assert_eq!((b["available"].as_i64(), b["held"].as_i64()), (Some(634), Some(600)));
    let (s, c) =
        app.post(&format!("/v1/members/alice/points/holds/{}/capture", h["id"].as_str().unwrap()), json!({})).await;
    assert_eq!((s, c["status"].as_str()), (StatusCode::OK, Some("captured")));

    // Refund half the goods: half the points come back out.
    let (s, r) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-1", "amount_minor": 61_728})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["clawed_back_points"], 617);
    assert_eq!(app.balances("alice").await["available"], 1_234 - 600 - 617);

    let (s, l) = app.get("/v1/members/alice/ledger").await;
    assert_eq!(s, StatusCode::OK);
    let kinds: Vec<&str> = l["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["clawback", "capture", "hold", "activate", "earn"]);
    assert_eq!(l["items"][0]["balances_after"]["available"], 17);
    assert!(l["items"][0]["at"].as_str().unwrap().ends_with("+08:00"), "times are in the programme's zone");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_retried_order_credits_nothing_and_a_changed_one_is_a_409_naming_the_difference() {
    let app = spawn_app().await;
    app.member("bob").await;
    let body = order("o-1", "bob", 10_000, 10);
    let (s1, a) = app.post("/v1/orders", body.clone()).await;
    let (s2, b) = app.post("/v1/orders", body.clone()).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(a, b, "the retry returns the same result");
    let mut changed = body.clone();
    changed["lines"][0]["paid_minor"] = json!(9_000);
    let (s, p) = app.post("/v1/orders", changed).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(p["code"], "order_conflict");
    assert_eq!(p["differences"], json!(["lines[0].paid_minor"]));
    assert_eq!(app.balances("bob").await["available"], 100);
    app.assert_verified().await;
}

#[tokio::test]
async fn concurrent_duplicates_of_orders_and_refunds_count_once() {
    let app = spawn_app().await;
    app.member("carol").await;
    let body = order("o-dup", "carol", 50_000, 10);
    let sends = (0..25).map(|_| app.post("/v1/orders", body.clone()));
    let results = futures_util::future::join_all(sends).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1);
    assert!(results.iter().all(|(s, _)| s.is_success()));
    let refund = json!({"id": "r-dup", "amount_minor": 10_000});
    let sends = (0..25).map(|_| app.post("/v1/orders/o-dup/refunds", refund.clone()));
    let results = futures_util::future::join_all(sends).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1);
    let (_, o) = app.get("/v1/orders/o-dup").await;
    assert_eq!(
        (o["earned_points"].as_i64(), o["clawed_back_points"].as_i64(), o["refunded_minor"].as_i64()),
        (Some(500), Some(100), Some(10_000))
    );
    assert_eq!(app.balances("carol").await["available"], 400);
    app.assert_verified().await;
}

#[tokio::test]
async fn a_hundred_concurrent_holds_against_a_balance_for_ten_let_exactly_ten_through() {
    let app = spawn_app().await;
    app.member("dave").await;
    app.post("/v1/orders", order("o-1", "dave", 100_000, 10)).await; // 1,000 points
    let holds = (0..100).map(|i| {
        app.post(
            "/v1/members/dave/points/holds",
            json!({"points": 100, "order_amount_minor": 100_000, "order_id": format!("c-{i}")}),
        )
    });
    let results = futures_util::future::join_all(holds).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == StatusCode::CONFLICT).collect();
    assert_eq!(ok, 10);
    assert_eq!(refused.len(), 90);
    assert!(refused.iter().all(|(_, p)| p["code"] == "insufficient_points"));
    let b = app.balances("dave").await;
    assert_eq!((b["available"].as_i64(), b["held"].as_i64()), (Some(0), Some(1_000)));
    app.assert_verified().await;
}

#[tokio::test]
async fn holds_enforce_the_minimum_and_the_share_cap_and_release_returns_points() {
    let app = spawn_app().await;
    app.member("erin").await;
    app.post("/v1/orders", order("o-1", "erin", 200_000, 10)).await; // 2,000 points
    let hold = |points: i64, amount: i64, id: &str| {
        app.post(
            "/v1/members/erin/points/holds",
            json!({"points": points, "order_amount_minor": amount, "order_id": id}),
        )
    };
    let (s, p) = hold(99, 100_000, "c-min").await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("points")));
    let (s, p) = hold(600, 1_000, "c-cap").await; // ¥10 order: at most ¥5 = 500 points
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["detail"].as_str().unwrap().contains("at most 500"), "{p}");
    let (s, h) = hold(500, 1_000, "c-ok").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, again) = hold(500, 1_000, "c-ok").await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &h["id"]), "a retried hold for the same order is the same hold");
    let id = h["id"].as_str().unwrap();
    let (s, r) = app.post(&format!("/v1/members/erin/points/holds/{id}/release"), json!({})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("released")));
    let (s, p) = app.post(&format!("/v1/members/erin/points/holds/{id}/capture"), json!({})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("hold_not_open")));
    assert_eq!(app.balances("erin").await["available"], 2_000);
    let (s, _) = app.post("/v1/members/erin/points/holds/h999/capture", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.assert_verified().await;
}

#[tokio::test]
async fn a_hold_times_out_and_its_points_come_back() {
    let clock = loyalty_engine::ManualClock::at(jiff::Timestamp::now());
    let app = spawn_app_on(STABLE, clock.clone()).await;
    app.member("fay").await;
    app.post("/v1/orders", order("o-1", "fay", 100_000, 10)).await;
    let (s, _) = app
        .post(
            "/v1/members/fay/points/holds",
            json!({"points": 300, "order_amount_minor": 100_000, "order_id": "c-1", "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(app.balances("fay").await["held"], 300);
    clock.advance(jiff::SignedDuration::from_millis(1_300));
    let b = app.balances("fay").await;
    assert_eq!(
        (b["available"].as_i64(), b["held"].as_i64()),
        (Some(1_000), Some(0)),
        "reads are right before the job runs"
    );
    let r = loyalty_engine::jobs::run_due(app.store.as_ref(), &app.program, clock.now()).await.unwrap();
    assert_eq!(r.members, 1);
    let (_, l) = app.get("/v1/members/fay/ledger?kind=release").await;
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    app.assert_verified().await;
}

#[tokio::test]
async fn partial_refunds_claw_back_proportionally_and_never_beyond_what_was_paid() {
    let app = spawn_app().await;
    app.member("gus").await;
    let mut body = order("o-1", "gus", 0, 3);
    body["lines"] = json!([
        {"sku": "A", "quantity": 3, "unit_price_minor": 10_000, "paid_minor": 29_999},
        {"sku": "B", "quantity": 1, "unit_price_minor": 7_001, "paid_minor": 7_001}
    ]);
    let (_, o) = app.post("/v1/orders", body).await;
    assert_eq!(o["earned_points"], 370);
    assert_eq!(app.balances("gus").await["pending"], 370, "inside the 7-day return window");
    // One unit of A: floor(29,999 / 3) = 9,999 fen; clawback floor(370 × 9,999 / 37,000) = 99.
    let (s, o) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-1", "lines": [{"sku": "A", "quantity": 1}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!((o["refunded_minor"].as_i64(), o["clawed_back_points"].as_i64()), (Some(9_999), Some(99)));
    // The other two units: the last unit takes the remainder, so A refunds to the fen.
    let (_, o) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-2", "lines": [{"sku": "A", "quantity": 2}]})).await;
    assert_eq!((o["refunded_minor"].as_i64(), o["clawed_back_points"].as_i64()), (Some(29_999), Some(299)));
    let (s, p) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-3", "lines": [{"sku": "A", "quantity": 1}]})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[0].quantity")));
    let (s, p) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-4", "amount_minor": 8_000})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "7,001 goods + 800 shipping are left: {p}");
    let (s, o) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-5", "amount_minor": 7_801})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        (o["refunded_minor"].as_i64(), o["clawed_back_points"].as_i64()),
        (Some(37_800), Some(370)),
        "never more than earned"
    );
    let (s, p) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-5", "amount_minor": 1})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("refund_conflict")));
    let b = app.balances("gus").await;
    assert_eq!(
        (b["pending"].as_i64(), b["available"].as_i64()),
        (Some(0), Some(0)),
        "the order's own pending points are taken first"
    );
    let (s, _) = app.post("/v1/orders/nope/refunds", json!({"id": "r", "amount_minor": 1})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.assert_verified().await;
}

#[tokio::test]
async fn a_refund_after_spending_leaves_a_debt_that_the_next_earning_settles() {
    let app = spawn_app().await;
    app.member("hal").await;
    app.post("/v1/orders", order("o-1", "hal", 100_000, 10)).await;
    let (_, h) = app
        .post("/v1/members/hal/points/holds", json!({"points": 800, "order_amount_minor": 100_000, "order_id": "c"}))
        .await;
    app.post(&format!("/v1/members/hal/points/holds/{}/capture", h["id"].as_str().unwrap()), json!({})).await;
    app.post("/v1/orders/o-1/refunds", json!({"id": "r-1", "amount_minor": 100_000})).await;
    let b = app.balances("hal").await;
    assert_eq!((b["available"].as_i64(), b["debt"].as_i64()), (Some(-800), Some(800)));
    let (s, p) = app
        .post("/v1/members/hal/points/holds", json!({"points": 100, "order_amount_minor": 100_000, "order_id": "c2"}))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_points")));
    app.post("/v1/orders", order("o-2", "hal", 50_000, 10)).await;
    let b = app.balances("hal").await;
    assert_eq!((b["available"].as_i64(), b["debt"].as_i64()), (Some(-300), Some(300)));
    let (_, l) = app.get("/v1/members/hal/ledger?kind=debt_settle").await;
    assert_eq!(l["items"][0]["points"], -500);
    app.assert_verified().await;
}

#[tokio::test]
async fn under_the_clamp_policy_a_refund_stops_at_zero_and_records_what_was_forgiven() {
    let app = spawn_app_with(&format!("refund_policy = \"clamp\"\n{STABLE}")).await;
    app.member("ida").await;
    app.post("/v1/orders", order("o-1", "ida", 100_000, 10)).await;
    let (_, h) = app
        .post("/v1/members/ida/points/holds", json!({"points": 800, "order_amount_minor": 100_000, "order_id": "c"}))
        .await;
    app.post(&format!("/v1/members/ida/points/holds/{}/capture", h["id"].as_str().unwrap()), json!({})).await;
    let (_, o) = app.post("/v1/orders/o-1/refunds", json!({"id": "r-1", "amount_minor": 100_000})).await;
    assert_eq!(o["refunds"][0]["forgiven_points"], 800);
    assert_eq!(o["refunds"][0]["clawback_points"], 200);
    let b = app.balances("ida").await;
    assert_eq!((b["available"].as_i64(), b["debt"].as_i64()), (Some(0), Some(0)));
    app.assert_verified().await;
}

#[tokio::test]
async fn points_activate_after_the_return_window_and_expire_on_time() {
    let app = spawn_app_with(&format!("pending_days = 7\n{STABLE}[expiry]\npolicy = \"rolling\"\ndays = 30\n")).await;
    app.member("jo").await;
    app.post("/v1/orders", order("o-old", "jo", 10_000, 40)).await; // activated 33 days ago, expired 3 days ago
    app.post("/v1/orders", order("o-mid", "jo", 20_000, 20)).await; // activated 13 days ago, expires in 17
    app.post("/v1/orders", order("o-new", "jo", 40_000, 2)).await; // pending for 5 more days
    let b = app.balances("jo").await;
    assert_eq!((b["available"].as_i64(), b["pending"].as_i64()), (Some(200), Some(400)));
    assert_eq!(b["expiring"][0]["points"], 200, "expiring within 30 days");
    let (_, lots) = app.get("/v1/members/jo/lots").await;
    let statuses: Vec<&str> = lots["items"].as_array().unwrap().iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "active", "expired"]);
    // Six days on, the newest lot activates; twenty days on, the middle one has expired.
    let later = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * 20)).unwrap();
    loyalty_engine::jobs::run_due(app.store.as_ref(), &app.program, later).await.unwrap();
    let (_, l) = app.get("/v1/members/jo/ledger?kind=expire,activate").await;
    let kinds: Vec<&str> = l["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["expire", "activate", "activate", "expire", "activate"], "{l}");
    let r = loyalty_engine::jobs::run_due(app.store.as_ref(), &app.program, later).await.unwrap();
    assert_eq!(r.entries, 0, "running the jobs again changes nothing");
    app.assert_verified().await;
}

#[tokio::test]
async fn adjustments_need_admin_a_reason_and_an_id_and_record_the_actor() {
    let app = spawn_app().await;
    app.member("kay").await;
    let (s, a) = app
        .send(
            Method::POST,
            "/v1/members/kay/points/adjustments",
            Some(&json!({"points": 250, "reason": "goodwill"})),
            Some(ADMIN),
            Some("adj-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!((a["actor"].as_str(), a["balances"]["available"].as_i64()), (Some("bootstrap-admin"), Some(250)));
    let (s, p) = app.post("/v1/members/kay/points/adjustments", json!({"points": 10, "reason": "x"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("id")));
    let (s, p) =
        app.post("/v1/members/kay/points/adjustments", json!({"id": "adj-2", "points": 10, "reason": " "})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
    let (s, p) =
        app.post("/v1/members/kay/points/adjustments", json!({"id": "adj-3", "points": -500, "reason": "fix"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_points")));
    let (s, _) =
        app.post("/v1/members/kay/points/adjustments", json!({"id": "adj-4", "points": -50, "reason": "fix"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) =
        app.post("/v1/members/kay/points/adjustments", json!({"id": "adj-4", "points": -50, "reason": "fix"})).await;
    assert_eq!(s, StatusCode::OK, "the same adjustment id is applied once");
    assert_eq!(app.balances("kay").await["available"], 200);
    let key = integration_key(&app).await;
    let (s, p) = app
        .send(
            Method::POST,
            "/v1/members/kay/points/adjustments",
            Some(&json!({"id": "adj-5", "points": 1, "reason": "x"})),
            Some(&key),
            None,
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    app.assert_verified().await;
}

async fn integration_key(app: &TestApp) -> String {
    let key = "lk_integration_test_key";
    app.store
        .insert_api_key(&loyalty_http::auth::hash_key(key), "shop", "integration", jiff::Timestamp::now())
        .await
        .unwrap();
    key.to_owned()
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let app = spawn_app().await;
    let (s, p) = app.send(Method::GET, "/v1/members/x", None, None, None).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (s, _) = app.send(Method::GET, "/v1/members/x", None, Some("wrong"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let key = integration_key(&app).await;
    let (s, _) = app.send(Method::PUT, "/v1/members/x", Some(&json!({})), Some(&key), None).await;
    assert_eq!(s, StatusCode::CREATED, "integration keys register members");
    let (s, _) = app.send(Method::POST, "/v1/orders", Some(&order("o", "x", 100, 1)), Some(&key), None).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_stored_response_and_refuses_another_body() {
    let app = spawn_app().await;
    app.member("lee").await;
    let body = order("o-1", "lee", 10_000, 1);
    let (s1, a) = app.send(Method::POST, "/v1/orders", Some(&body), Some(ADMIN), Some("k-1")).await;
    let (s2, b) = app.send(Method::POST, "/v1/orders", Some(&body), Some(ADMIN), Some("k-1")).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED), "the stored response, status included");
    assert_eq!(a, b);
    let (s, p) =
        app.send(Method::POST, "/v1/orders", Some(&order("o-2", "lee", 10_000, 1)), Some(ADMIN), Some("k-1")).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));
    let (_, o) = app.get("/v1/orders/o-2").await;
    assert_eq!(o["code"], "order_not_found", "the refused request wrote nothing");
    // The answer went out before the writer kept it; it is in the store soon after.
    let mut kept = None;
    for _ in 0..100 {
        kept = app.store.idem_get("bootstrap-admin", "k-1").await.unwrap();
        if kept.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let kept = kept.expect("the response is kept in the store");
    assert_eq!((kept.status, serde_json::from_str::<serde_json::Value>(&kept.body).unwrap()), (201, a));
}

#[tokio::test]
async fn malformed_input_gets_a_4xx_problem_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    app.member("mo").await;
    let good = order("o-1", "mo", 10_000, 1);
    let with = |path: &str, v: serde_json::Value| {
        let mut b = good.clone();
        let (head, last) = path.rsplit_once('.').map(|(h, l)| (Some(h), l)).unwrap_or((None, path));
        let target = match head {
            Some("lines[0]") => &mut b["lines"][0],
            _ => &mut b,
        };
        target[last] = v;
        b
    };
    let cases = [
        (with("lines[0].paid_minor", json!(-1)), "lines[0].paid_minor", 422),
        (with("lines[0].paid_minor", json!(10_000_000_000_000_i64)), "lines[0].paid_minor", 422),
        (with("lines[0].paid_minor", json!("100")), "lines[0].paid_minor", 400),
        (with("lines[0].paid_minor", json!(1.5)), "lines[0].paid_minor", 400),
        (with("lines[0].quantity", json!(0)), "lines[0].quantity", 422),
        (with("shipping_minor", json!(-5)), "shipping_minor", 422),
        (with("paid_at", json!("yesterday")), "paid_at", 422),
        (with("paid_at", json!("2999-01-01T00:00:00+08:00")), "paid_at", 422),
        (with("currency", json!("USD")), "currency", 422),
        (with("id", json!("has space")), "id", 422),
        (with("id", json!("x".repeat(129))), "id", 422),
        (with("lines", json!([])), "lines", 422),
        (with("surprise", json!(1)), "surprise", 400),
        (with("member_id", json!("nobody")), "", 404),
    ];
    for (body, field, status) in cases {
        let (s, p) = app.post("/v1/orders", body.clone()).await;
        assert_eq!(s.as_u16(), status, "{field}: {p}");
        if !field.is_empty() {
            assert!(p["field"].as_str().unwrap_or("").contains(field), "{field}: {p}");
        }
    }
    let (s, p) = app.post_raw("/v1/orders", "{\"id\": ").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let (s, _) = app.post_raw("/v1/orders", "[]").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, p) = app.put("/v1/members/bad%20id", json!({})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("member_id")));
    let (s, p) = app.put("/v1/members/mo", json!({"birthday": "1990-13-01"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("birthday")));
    let (s, p) = app.put("/v1/members/mo", json!({"status": "gone"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("status")));
    let (s, p) = app
        .post("/v1/members/mo/points/holds", json!({"points": "many", "order_amount_minor": 1, "order_id": "c"}))
        .await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("points")));
    let (s, p) = app.get("/v1/members/mo/ledger?limit=0").await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));
    let (s, p) = app.get("/v1/members/mo/ledger?kind=bogus").await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")));
    let (s, _) = app.get("/v1/members/mo/ledger?limit=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let big = "x".repeat(1_100_000);
    let resp = app
        .client
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(format!("{{\"id\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let totals = app.store.totals().await.unwrap();
    assert_eq!((totals.members, totals.orders, totals.entries), (1, 0, 0), "nothing was written");
}

#[tokio::test]
async fn a_frozen_member_cannot_spend_and_earns_nothing() {
    let app = spawn_app().await;
    app.member("ned").await;
    app.post("/v1/orders", order("o-1", "ned", 100_000, 10)).await;
    let (s, m) = app.put("/v1/members/ned", json!({"status": "frozen"})).await;
    assert_eq!((s, m["status"].as_str()), (StatusCode::OK, Some("frozen")));
    let (s, p) = app
        .post("/v1/members/ned/points/holds", json!({"points": 100, "order_amount_minor": 100_000, "order_id": "c"}))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("member_inactive")));
    let (s, o) = app.post("/v1/orders", order("o-2", "ned", 100_000, 10)).await;
    assert_eq!((s, o["earned_points"].as_i64()), (StatusCode::CREATED, Some(0)));
    assert_eq!(app.balances("ned").await["available"], 1_000);
    app.assert_verified().await;
}

#[tokio::test]
async fn ledger_pages_with_a_cursor_and_filters_by_time() {
    let app = spawn_app().await;
    app.member("ola").await;
    for i in 0..7 {
        app.post("/v1/orders", order(&format!("o-{i}"), "ola", 1_000, 1)).await;
    }
    let (_, p1) = app.get("/v1/members/ola/ledger?limit=4").await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 4);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = app.get(&format!("/v1/members/ola/ledger?limit=4&cursor={cursor}")).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 3);
    assert!(p2["next_cursor"].is_null());
    let (_, none) = app.get("/v1/members/ola/ledger?to=2000-01-01T00:00:00Z").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_service_describes_itself() {
    let app = spawn_app().await;
    let get = |p: &str| app.client.get(format!("{}{p}", app.base)).send();
    let r = get("/healthz").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/v1/orders", "/v1/members/{id}/points/holds", "/v1/orders/{id}/refunds", "/v1/members/{id}/ledger"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert_eq!(get("/docs/").await.unwrap().status(), StatusCode::OK);
    app.member("pat").await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("loyalty_http_requests_total"));
}

/// Loads read rows packed as JSON text (`convert::Packed`): text that looks like JSON, quotes,
/// backslashes and non-ASCII must come back byte for byte, and the largest amounts exactly.
#[tokio::test]
async fn stored_text_and_the_largest_amounts_come_back_exactly() {
    let app = spawn_app().await;
    let name = r#"王"小"明 \ {"a":[1,null]} 😀 ';--"#;
    let (s, m) = app
        .put("/v1/members/m.x:1-_", json!({"name": name, "email": "a\\b@example.com", "channel": "[\"tmall\"]"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let mut o = order("o.1:big", "m.x:1-_", 0, 10);
    let big = loyalty_core::order::MAX_AMOUNT_MINOR - 800;
    o["lines"] = json!([{"sku": "S\"K\\U-会员", "category": "鞋\\靴", "brand": "{\"b\":1}", "quantity": 1,
        "unit_price_minor": big, "paid_minor": big}]);
    let (s, placed) = app.post("/v1/orders", o).await;
    assert_eq!(s, StatusCode::CREATED, "{placed}");
    let (s, r) = app.post("/v1/orders/o.1:big/refunds", json!({"id": "r\"1", "amount_minor": 1})).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST, "refund id with a quote: {s} {r}");
    let (s, r) = app.post("/v1/orders/o.1:big/refunds", json!({"id": "r-1", "amount_minor": big - 1})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    let (s, m) = app.get("/v1/members/m.x:1-_").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["name"], name);
    assert_eq!(m["email"], "a\\b@example.com");
    assert_eq!(m["channel"], "[\"tmall\"]");
    let (s, got) = app.get("/v1/orders/o.1:big").await;
    assert_eq!(s, StatusCode::OK, "{got}");
    let line = &got["lines"][0];
    assert_eq!(
        (line["sku"].as_str(), line["category"].as_str(), line["brand"].as_str()),
        (Some("S\"K\\U-会员"), Some("鞋\\靴"), Some("{\"b\":1}"))
    );
    assert_eq!(got["refunded_minor"].as_i64(), Some(big - 1), "{got}");
    assert_eq!(got["earned_points"], placed["earned_points"]);
    // A second load of the same account (a write batch, then a read) agrees with the first.
    let (s, again) = app.post("/v1/orders", order("o-2", "m.x:1-_", 10_000, 10)).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(app.get("/v1/members/m.x:1-_").await.1["name"], name);
    app.assert_verified().await;
}
