//! Coupons through the real server, on SQLite and (with `LOYALTY_TEST_DATABASE_URL`)
//! PostgreSQL: templates, issuing under concurrency (stock and per-member limits), checkout
//! with coupons, one coupon across concurrent orders, restore on a full refund, bad input, and
//! `verify` over the coupon tables.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn template(id: &str, extra: Value) -> Value {
    let mut t = json!({
        "id": id, "name": "满200减20",
        "benefit": {"kind": "amount_off", "value_minor": 2000, "threshold_minor": 20000},
        "validity": {"relative": {"days": 7, "end_of_day": true}},
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

async fn member_with_coupon(app: &TestApp, member: &str, tpl: &str, coupon: &str) {
    app.member(member).await;
    let (s, c) = app
        .post(&format!("/v1/members/{member}/coupons"), json!({"template": tpl, "source": "issue", "id": coupon}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
}

fn cart(member: &str, coupons: &[&str]) -> Value {
    json!({
        "member_id": member,
        "lines": [
            {"sku": "A", "category": "shoes", "quantity": 1, "unit_price_minor": 15000},
            {"sku": "B", "category": "bags", "quantity": 2, "unit_price_minor": 5000}
        ],
        "shipping_minor": 800,
        "coupons": coupons,
    })
}

fn order_from(eval: &Value, id: &str, member: &str, coupons: &[&str]) -> Value {
    let lines: Vec<Value> = eval["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            json!({"sku": l["sku"], "category": l["category"], "quantity": l["quantity"],
                   "unit_price_minor": l["unit_price_minor"], "paid_minor": l["paid_minor"]})
        })
        .collect();
    json!({
        "id": id, "member_id": member, "paid_at": jiff::Timestamp::now().to_string(),
        "lines": lines, "shipping_minor": 800, "shipping_waived_minor": eval["shipping_waived_minor"],
        "coupons": coupons,
    })
}

#[tokio::test]
async fn templates_are_validated_replayed_and_patched() {
    let app = spawn_app().await;
    let (s, t) = app.post("/v1/coupon-templates", template("spring", json!({"stock": 10}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["stock_left"], 10);
    let (s, _) = app.post("/v1/coupon-templates", template("spring", json!({"stock": 10}))).await;
    assert_eq!(s, StatusCode::OK, "the same terms again");
    let (s, p) = app.post("/v1/coupon-templates", template("spring", json!({"stackable": true}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{p}");

    let bad = [
        (json!({"benefit": {"kind": "percent_off", "percent_off": 120}}), "benefit.percent_off"),
        (json!({"benefit": {"kind": "amount_off", "value_minor": -5}}), "benefit.value_minor"),
        (
            json!({"benefit": {"kind": "amount_off", "value_minor": 5000, "threshold_minor": 3000}}),
            "benefit.threshold_minor",
        ),
        (json!({"scope": {"include": {"skus": ["X"]}, "exclude": {"skus": ["X"]}}}), "scope.exclude.skus"),
        (json!({"validity": {"relative": {"days": 0}}}), "validity.relative.days"),
        (json!({"audience": {"min_tier": "nope"}}), "audience.min_tier"),
    ];
    for (i, (extra, field)) in bad.into_iter().enumerate() {
        let (s, p) = app.post("/v1/coupon-templates", template(&format!("bad{i}"), extra)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["field"], field, "{p}");
        let (s, _) = app.get(&format!("/v1/coupon-templates/bad{i}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing written");
    }
    let (s, p) = app.post("/v1/coupon-templates", template("unknown", json!({"colour": "red"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");

    member_with_coupon(&app, "m1", "spring", "c1").await;
    let (s, p) = app
        .send(reqwest::Method::PATCH, "/v1/coupon-templates/spring", Some(&json!({"stock": 0})), Some(ADMIN), None)
        .await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("stock")), "{p}");
    let (s, p) = app
        .send(
            reqwest::Method::PATCH,
            "/v1/coupon-templates/spring",
            Some(&json!({"status": "paused"})),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((s, p["status"].as_str()), (StatusCode::OK, Some("paused")), "{p}");
    let (s, p) = app.post("/v1/members/m1/coupons", json!({"template": "spring", "source": "claim", "id": "c2"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("coupon_not_eligible")), "{p}");
    let (s, p) = app
        .send(
            reqwest::Method::PATCH,
            "/v1/coupon-templates/spring",
            Some(&json!({"stock": null, "status": "active"})),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((s, p["stock_left"].is_null()), (StatusCode::OK, true), "{p}");
    app.assert_verified().await;
}

#[tokio::test]
async fn two_hundred_concurrent_claims_never_exceed_stock_or_a_members_limit() {
    let app = spawn_app().await;
    let (s, _) =
        app.post("/v1/coupon-templates", template("grab", json!({"stock": 25, "limits": {"lifetime": 1}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    for i in 0..40 {
        app.member(&format!("g{i}")).await;
    }
    // 200 claims: 40 members, 5 attempts each with different ids.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, base) = (app.client.clone(), app.base.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"template": "grab", "source": "claim", "id": format!("claim-{i}")});
            let r = client
                .post(format!("{base}/v1/members/g{}/coupons", i % 40))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            (status, v["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (s, code) = t.await.unwrap();
        match s {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(code == "coupon_out_of_stock" || code == "coupon_limit_reached", "{code}"),
            other => panic!("{other} {code}"),
        }
    }
    assert_eq!(created, 25, "exactly the stock");
    let (_, t) = app.get("/v1/coupon-templates/grab").await;
    assert_eq!((t["issued"].as_i64(), t["stock_left"].as_i64()), (Some(25), Some(0)));
    for i in 0..40 {
        let (_, list) = app.get(&format!("/v1/members/g{i}/coupons")).await;
        assert!(list["items"].as_array().unwrap().len() <= 1, "one per member");
    }
    app.assert_verified().await;
}

#[tokio::test]
async fn checkout_and_the_order_agree_and_one_coupon_serves_one_order() {
    let app = spawn_app_with(STABLE).await;
    let (s, _) = app.post("/v1/coupon-templates", template("t200", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post(
            "/v1/coupon-templates",
            template(
                "bags10",
                json!({"benefit": {"kind": "percent_off", "percent_off": 10},
                "scope": {"include": {"categories": ["bags"]}}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    member_with_coupon(&app, "buyer", "t200", "c200").await;
    let (s, _) =
        app.post("/v1/members/buyer/coupons", json!({"template": "bags10", "source": "issue", "id": "cbags"})).await;
    assert_eq!(s, StatusCode::CREATED);

    // Two coupons that do not stack: the first named applies, the second says why not.
    let (s, e) = app.post("/v1/checkout/evaluate", cart("buyer", &["c200", "cbags"])).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["coupons"][0]["applied"], true, "{e}");
    assert_eq!(e["coupons"][1]["why_not"], "not_stackable", "{e}");
    assert_eq!(e["coupon_discount_minor"], 2000);
    let paid: i64 = e["lines"].as_array().unwrap().iter().map(|l| l["paid_minor"].as_i64().unwrap()).sum();
    assert_eq!(paid, e["goods_minor"].as_i64().unwrap() - 2000);
    // best_coupons picks the one that saves more (¥20 off ¥250 beats 10% of ¥100 of bags).
    let mut best = cart("buyer", &[]);
    best["best_coupons"] = json!(true);
    let (_, b) = app.post("/v1/checkout/evaluate", best).await;
    assert_eq!(b["coupons"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["coupons"][0]["coupon_id"], "c200");

    // Ten concurrent orders with the one coupon: exactly one uses it.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (client, base) = (app.client.clone(), app.base.clone());
        let body = order_from(&e, &format!("o{i}"), "buyer", &["c200"]);
        tasks.push(tokio::spawn(async move {
            let r = client.post(format!("{base}/v1/orders")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap())
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::CREATED => won.push(v),
            StatusCode::CONFLICT => assert_eq!(v["code"], "coupon_used", "{v}"),
            other => panic!("{other} {v}"),
        }
    }
    assert_eq!(won.len(), 1, "one order uses the coupon");
    let winner = won[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(won[0]["earned_points"], e["points_earned"], "order and evaluate agree: {} vs {e}", won[0]);
    for i in 0..10 {
        let (s, _) = app.get(&format!("/v1/orders/o{i}")).await;
        assert_eq!(s == StatusCode::OK, format!("o{i}") == winner, "a refused order wrote nothing");
    }
    let (_, used) = app.get("/v1/members/buyer/coupons?status=used").await;
    assert_eq!(used["items"][0]["order_id"], winner.as_str());

    // A partial refund keeps the coupon used; the refund of the rest gives it back, once.
    let total = won[0]["total_minor"].as_i64().unwrap();
    let (s, r) = app.post(&format!("/v1/orders/{winner}/refunds"), json!({"id": "r1", "amount_minor": 100})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (_, list) = app.get("/v1/members/buyer/coupons?status=available").await;
    assert!(list["items"].as_array().unwrap().iter().all(|c| c["id"] != "c200"));
    let (s, r) =
        app.post(&format!("/v1/orders/{winner}/refunds"), json!({"id": "r2", "amount_minor": total - 100})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (_, list) = app.get("/v1/members/buyer/coupons?status=available").await;
    assert!(list["items"].as_array().unwrap().iter().any(|c| c["id"] == "c200"), "{list}");
    let (s, _) =
        app.post(&format!("/v1/orders/{winner}/refunds"), json!({"id": "r2", "amount_minor": total - 100})).await;
    assert_eq!(s, StatusCode::OK, "a replayed refund restores nothing again");
    app.assert_verified().await;
    let (s, r) = app.get("/v1/coupon-templates/t200/report").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!((r["issued"].as_i64(), r["used"].as_i64(), r["available"].as_i64()), (Some(1), Some(0), Some(1)), "{r}");
    assert_eq!((r["uses"].as_i64(), r["restored"].as_i64(), r["orders"].as_i64()), (Some(1), Some(1), Some(1)), "{r}");
    assert_eq!(r["discount_minor"], 2000, "{r}");
    assert_eq!(r["goods_minor"].as_i64(), Some(paid), "{r}");

    // The coupon serves a new order, and an order naming a coupon that does not apply is refused.
    let (s, o) = app.post("/v1/orders", order_from(&e, "again", "buyer", &["c200"])).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let mut small = order_from(&e, "small", "buyer", &["cbags"]);
    small["lines"] =
        json!([{"sku": "A", "category": "shoes", "quantity": 1, "unit_price_minor": 100, "paid_minor": 100}]);
    let (s, p) = app.post("/v1/orders", small).await;
    assert_eq!(
        (s, p["code"].as_str(), p["why_not"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("coupon_not_applicable"), Some("no_eligible_goods")),
        "{p}"
    );
    let (s, p) = app.post("/v1/orders", order_from(&e, "ghost", "buyer", &["nope"])).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("coupon_not_found")), "{p}");
    app.assert_verified().await;
}

#[tokio::test]
async fn verify_catches_a_tampered_coupon_table() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/coupon-templates", template("t", json!({"stock": 5}))).await;
    assert_eq!(s, StatusCode::CREATED);
    member_with_coupon(&app, "m", "t", "c").await;
    app.assert_verified().await;
    app.store.execute_raw("UPDATE coupons SET status = 'used' WHERE coupon_id = 'c'").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert!(r.violations.iter().any(|v| v.problem.contains("m/c")), "{:?}", r.violations);
    app.store.execute_raw("UPDATE coupons SET status = 'available'").await.unwrap();
    app.store.execute_raw("INSERT INTO coupons (member_id, coupon_id, template_id, status, source, issued_at, valid_from, valid_until, version) VALUES ('m', 'forged', 't', 'available', 'issue', 0, 0, 1, 1)").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert!(r.violations.iter().any(|v| v.problem.contains("issued 1 but 2 coupons exist")), "{:?}", r.violations);
    app.store.execute_raw("DELETE FROM coupons WHERE coupon_id = 'forged'").await.unwrap();
    let (s, _) = app.post("/v1/coupon-templates", template("once", json!({"limits": {"lifetime": 1}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    member_with_coupon(&app, "m2", "once", "first").await;
    app.assert_verified().await;
    app.store.execute_raw("INSERT INTO coupons (member_id, coupon_id, template_id, status, source, issued_at, valid_from, valid_until, version) VALUES ('m2', 'second', 'once', 'available', 'issue', 0, 0, 1, 0)").await.unwrap();
    app.store.execute_raw("UPDATE coupon_templates SET issued = 2 WHERE template_id = 'once'").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert!(r.violations.iter().any(|v| v.problem.contains("over its lifetime limit 1")), "{:?}", r.violations);
}

/// `verify` counts a template's per-day limit by local day: a forged second coupon issued two
/// days before the first is within a limit of one a day; moved to the first one's instant, it
/// is past it, and `verify` names the member.
#[tokio::test]
async fn verify_catches_coupons_past_a_per_day_limit() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/coupon-templates", template("daily", json!({"limits": {"per_day": 1}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    member_with_coupon(&app, "d", "daily", "first").await;
    let (_, p) =
        app.post("/v1/members/d/coupons", json!({"template": "daily", "source": "issue", "id": "again"})).await;
    assert_eq!((p["code"].as_str(), p["period"].as_str()), (Some("coupon_limit_reached"), Some("day")), "{p}");
    app.store
        .execute_raw(
            "INSERT INTO coupons (member_id, coupon_id, template_id, status, source, issued_at, valid_from, valid_until, version) \
             SELECT member_id, 'second', template_id, status, source, issued_at - 172800000000, valid_from, valid_until, 0 \
             FROM coupons WHERE coupon_id = 'first'",
        )
        .await
        .unwrap();
    app.store.execute_raw("UPDATE coupon_templates SET issued = 2 WHERE template_id = 'daily'").await.unwrap();
    app.assert_verified().await;
    app.store
        .execute_raw(
            "UPDATE coupons SET issued_at = (SELECT c.issued_at FROM coupons c WHERE c.coupon_id = 'first') \
             WHERE coupon_id = 'second'",
        )
        .await
        .unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    let v = &r.violations[0];
    assert_eq!(v.member_id, "d");
    assert!(
        v.problem.contains("2 of template daily issued in the day from")
            && v.problem.ends_with("over its per-day limit 1"),
        "{v}"
    );
}

/// `verify` reads the coupons in keyset pages of 5,000: a member whose coupons begin on one
/// page and end on the next is counted whole. 4,999 coupons of an unlimited template for `a`,
/// then 3 of a two-a-day template for `b`, issued the same instant, the first on page one.
#[tokio::test]
async fn verify_counts_a_members_coupons_across_its_pages() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/coupon-templates", template("free", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app.post("/v1/coupon-templates", template("two", json!({"limits": {"per_day": 2}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let forge = |member: &str, template: &str, prefix: &str, n: i64| {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO coupons (member_id, coupon_id, template_id, status, source, issued_at, valid_from, valid_until, version) \
             SELECT '{member}', '{prefix}' || CAST(i AS TEXT), '{template}', 'available', 'issue', 1767225600000000, 0, 1, 0 FROM n"
        )
    };
    app.store.execute_raw(&forge("a", "free", "x", 4_999)).await.unwrap();
    app.store.execute_raw(&forge("b", "two", "x", 2)).await.unwrap();
    app.store.execute_raw("UPDATE coupon_templates SET issued = 4999 WHERE template_id = 'free'").await.unwrap();
    app.store.execute_raw("UPDATE coupon_templates SET issued = 2 WHERE template_id = 'two'").await.unwrap();
    app.assert_verified().await;
    app.store.execute_raw(&forge("b", "two", "y", 1)).await.unwrap();
    app.store.execute_raw("UPDATE coupon_templates SET issued = 3 WHERE template_id = 'two'").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    let problems: Vec<&str> = r.violations.iter().map(|v| v.problem.as_str()).collect();
    assert_eq!(
        problems,
        ["coupon b/*: 3 of template two issued in the day from 2026-01-01T00:00:00+08:00, over its per-day limit 2"]
    );
}

#[tokio::test]
async fn a_coupon_reserved_with_a_hold_is_kept_for_its_order_and_freed_by_a_release_or_a_time_out() {
    let clock = loyalty_engine::ManualClock::at(jiff::Timestamp::now());
    let app = spawn_app_on(STABLE, clock.clone()).await;
    let (s, _) = app.post("/v1/coupon-templates", template("t200", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    member_with_coupon(&app, "payer", "t200", "c1").await;
    let (s, a) = app
        .post("/v1/members/payer/points/adjustments", json!({"id": "seed", "points": 10_000, "reason": "seed"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let hold = |order: &str, ttl: i64| json!({"points": 500, "order_amount_minor": 25_000, "order_id": order, "ttl_seconds": ttl, "coupons": ["c1"]});
    let (s, h) = app.post("/v1/members/payer/points/holds", hold("cart-1", 60)).await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    assert_eq!(coupon_status(&app).await, "reserved");
    // Another checkout cannot take it meanwhile.
    let (s, p) = app.post("/v1/members/payer/points/holds", hold("cart-2", 60)).await;
    assert_eq!((s, p["why_not"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reserved")), "{p}");
    assert_eq!(app.balances("payer").await["held"], 500, "the refused hold held nothing");
    let (_, e) = app.post("/v1/checkout/evaluate", cart("payer", &["c1"])).await;
    assert_eq!(e["coupons"][0]["why_not"], "reserved", "{e}");
    // Released with its hold, it is available again.
    let hold_id = h["id"].as_str().unwrap().to_owned();
    let (s, _) = app.post(&format!("/v1/members/payer/points/holds/{hold_id}/release"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(coupon_status(&app).await, "available");
    // A hold that times out frees it too, with no job.
    let (s, _) = app.post("/v1/members/payer/points/holds", hold("cart-3", 1)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(coupon_status(&app).await, "reserved");
    clock.advance(jiff::SignedDuration::from_secs(2));
    assert_eq!(coupon_status(&app).await, "available");
    // Captured, it is kept for the order, which then uses it.
    let (s, h) = app.post("/v1/members/payer/points/holds", hold("cart-4", 60)).await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    let hold_id = h["id"].as_str().unwrap().to_owned();
    let (s, _) = app.post(&format!("/v1/members/payer/points/holds/{hold_id}/capture"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    clock.advance(jiff::SignedDuration::from_secs(120));
    assert_eq!(coupon_status(&app).await, "reserved", "past the hold's ttl, a captured reservation stays");
    let (_, e) = app.post("/v1/checkout/evaluate", cart("payer", &[])).await;
    let mut other = order_from(&e, "someone-else", "payer", &["c1"]);
    other["paid_at"] = json!(loyalty_engine::Clock::now(clock.as_ref()).to_string());
    let (s, p) = app.post("/v1/orders", other).await;
    assert_eq!((s, p["why_not"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reserved")), "{p}");
    let (_, e) = app.post("/v1/checkout/evaluate", cart("payer", &[])).await;
    let mut mine = order_from(&e, "cart-4", "payer", &["c1"]);
    mine["paid_at"] = json!(loyalty_engine::Clock::now(clock.as_ref()).to_string());
    let (s, o) = app.post("/v1/orders", mine).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(coupon_status(&app).await, "used");
    app.assert_verified().await;
}

/// A hold sent again for its order with the same coupons is the recorded one; with other
/// coupons (another, none, or one more) it is a 409 naming `coupons`, and it reserves nothing.
#[tokio::test]
async fn a_hold_asked_again_with_other_coupons_is_a_conflict_naming_them() {
    let app = spawn_app_with(STABLE).await;
    let (s, _) = app.post("/v1/coupon-templates", template("t200", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post(
            "/v1/coupon-templates",
            template("ship", json!({"benefit": {"kind": "free_shipping"}, "stackable": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    member_with_coupon(&app, "payer", "t200", "c1").await;
    let (s, c) =
        app.post("/v1/members/payer/coupons", json!({"template": "ship", "source": "issue", "id": "c2"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, a) = app
        .post("/v1/members/payer/points/adjustments", json!({"id": "seed", "points": 10_000, "reason": "seed"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let hold = |points: i64, coupons: &[&str]| json!({"points": points, "order_amount_minor": 25_000, "order_id": "cart", "ttl_seconds": 600, "coupons": coupons});
    let (s, h) = app.post("/v1/members/payer/points/holds", hold(500, &["c1"])).await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    let (s, again) = app.post("/v1/members/payer/points/holds", hold(500, &["c1"])).await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &h["id"]), "the same hold is replayed: {again}");
    for coupons in [&["c2"][..], &[], &["c1", "c2"]] {
        let (s, p) = app.post("/v1/members/payer/points/holds", hold(500, coupons)).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{coupons:?}: {p}");
        assert_eq!(p["differences"], json!(["coupons"]), "{coupons:?}: {p}");
    }
    let (_, p) = app.post("/v1/members/payer/points/holds", hold(400, &["c2"])).await;
    assert_eq!(p["differences"], json!(["points", "coupons"]), "{p}");
    let (_, list) = app.get("/v1/members/payer/coupons").await;
    let status = |id: &str| list["items"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["status"].clone();
    assert_eq!((status("c1"), status("c2")), (json!("reserved"), json!("available")), "{list}");
    assert_eq!(app.balances("payer").await["held"], 500, "one hold holds");
    // Released, the order may be held again with other coupons.
    let id = h["id"].as_str().unwrap();
    let (s, _) = app.post(&format!("/v1/members/payer/points/holds/{id}/release"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, h2) = app.post("/v1/members/payer/points/holds", hold(500, &["c2"])).await;
    assert_eq!(s, StatusCode::CREATED, "{h2}");
    app.assert_verified().await;
}

/// The store reads several templates by id in one statement (what a member's coupon list and
/// checkout read them with): those that exist, by id.
#[tokio::test]
async fn templates_are_read_by_id_together() {
    let app = spawn_app().await;
    for id in ["b", "a", "c"] {
        let (s, _) = app.post("/v1/coupon-templates", template(id, json!({"stock": 3}))).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let ids = ["c", "nope", "a"].map(|i| loyalty_core::ids::TemplateId::parse(i).unwrap());
    let got = app.store.templates_by_id(&ids).await.unwrap();
    let got: Vec<(String, Option<i64>)> = got.iter().map(|t| (t.id.to_string(), t.terms.stock)).collect();
    assert_eq!(got, [("a".to_owned(), Some(3)), ("c".to_owned(), Some(3))]);
    assert!(app.store.templates_by_id(&[]).await.unwrap().is_empty());
}

async fn coupon_status(app: &TestApp) -> String {
    app.get("/v1/members/payer/coupons").await.1["items"][0]["status"].as_str().unwrap().to_owned()
}
