//! The points mall and the points lottery through the real server, on SQLite and (with
//! `LOYALTY_TEST_DATABASE_URL`) PostgreSQL: stock and per-member limits under concurrency,
//! points spent through the ledger and given back on cancellation, the lottery's budget, prize
//! stock and daily limits under concurrency, re-derivable draws, bad input, and `verify`.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn address() -> Value {
    json!({"name": "李雷", "phone": "13800000000", "line": "浙江省杭州市西湖区文三路 1 号"})
}

fn goods(id: &str, extra: Value) -> Value {
    let mut r = json!({"id": id, "name": "保温杯", "item": {"kind": "goods", "sku": "CUP-1"}, "price_points": 500});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

async fn funded(app: &TestApp, member: &str, points: i64) {
    app.member(member).await;
    let (s, a) = app
        .post(
            &format!("/v1/members/{member}/points/adjustments"),
            json!({"id": format!("seed-{member}"), "points": points, "reason": "seed"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
}

/// Sends `n` requests at once: `make(i)` gives each its path and body. Answers each status
/// and problem code.
async fn at_once(app: &TestApp, n: usize, make: impl Fn(usize) -> (String, Value)) -> Vec<(StatusCode, String)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (path, body) = make(i);
        let (client, base) = (app.client.clone(), app.base.clone());
        tasks.push(tokio::spawn(async move {
            let r = client.post(format!("{base}{path}")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            (status, v["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(answers: &[(StatusCode, String)], status: StatusCode) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test]
async fn concurrent_redemptions_never_oversell_nor_pass_a_members_limit_and_each_is_paid_once() {
    let app = spawn_app().await;
    let (s, r) = app.post("/v1/rewards", goods("cup", json!({"stock": 7, "limits": {"lifetime": 2}}))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    for i in 0..30 {
        funded(&app, &format!("m{i}"), 10_000).await;
    }
    // 120 requests: 30 members, 4 each with different ids.
    let answers = at_once(&app, 120, |i| {
        let body = json!({"id": format!("r{i}"), "reward": "cup", "address": address()});
        (format!("/v1/members/m{}/redemptions", i % 30), body)
    })
    .await;
    for (s, code) in &answers {
        assert!(
            *s == StatusCode::CREATED
                || (*s == StatusCode::CONFLICT && (code == "reward_out_of_stock" || code == "reward_limit_reached")),
            "{s} {code}"
        );
    }
    assert_eq!(count(&answers, StatusCode::CREATED), 7, "exactly the stock");
    let (_, r) = app.get("/v1/rewards/cup").await;
    assert_eq!((r["redeemed"].as_i64(), r["stock_left"].as_i64()), (Some(7), Some(0)), "{r}");
    let mut spent = 0;
    for i in 0..30 {
        let (_, list) = app.get(&format!("/v1/members/m{i}/redemptions")).await;
        let n = list["items"].as_array().unwrap().len() as i64;
        assert!(n <= 2, "the lifetime limit");
        let b = app.balances(&format!("m{i}")).await;
        assert_eq!(b["available"].as_i64().unwrap(), 10_000 - 500 * n, "paid once per redemption");
        spent += 500 * n;
    }
    assert_eq!(spent, 3_500);
    // One member, 20 at once, limit 2.
    let (s, _) = app.post("/v1/rewards", goods("pen", json!({"limits": {"per_day": 2}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    funded(&app, "solo", 100_000).await;
    let answers = at_once(&app, 20, |i| {
        ("/v1/members/solo/redemptions".into(), json!({"id": format!("p{i}"), "reward": "pen", "address": address()}))
    })
    .await;
    assert_eq!(count(&answers, StatusCode::CREATED), 2, "{answers:?}");
    assert!(answers.iter().all(|(s, c)| *s == StatusCode::CREATED || c == "reward_limit_reached"));
    app.assert_verified().await;
}

#[tokio::test]
async fn a_redemption_spends_through_the_ledger_ships_and_a_cancellation_gives_the_points_back() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/rewards", goods("cup", json!({"stock": 3, "price_cash_minor": 990}))).await;
    assert_eq!(s, StatusCode::CREATED);
    funded(&app, "li", 1_200).await;
    let body = json!({"id": "r1", "reward": "cup", "quantity": 2, "address": address()});
    let (s, r) = app.post("/v1/members/li/redemptions", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["points"].as_i64(), r["cash_minor"].as_i64(), r["status"].as_str()),
        (Some(1_000), Some(1_980), Some("pending"))
    );
    assert_eq!(r["balances"]["available"], 200);
    let (s, again) = app.post("/v1/members/li/redemptions", body).await;
    assert_eq!((s, again["points"].as_i64()), (StatusCode::OK, Some(1_000)), "a retry replays, charging nothing");
    assert_eq!(app.balances("li").await["available"], 200);
    let (s, p) = app
        .post("/v1/members/li/redemptions", json!({"id": "r1", "reward": "cup", "quantity": 1, "address": address()}))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{p}");
    let (_, ledger) = app.get("/v1/members/li/ledger?limit=5").await;
    let top = &ledger["items"][0];
    assert_eq!(
        (top["kind"].as_str(), top["points"].as_i64(), top["source"].as_str(), top["source_id"].as_str()),
        (Some("spend"), Some(-1_000), Some("redemption"), Some("r1")),
        "{ledger}"
    );

    // Too few points: refused, no stock taken.
    let (s, p) =
        app.post("/v1/members/li/redemptions", json!({"id": "r2", "reward": "cup", "address": address()})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_points")), "{p}");
    let (_, cup) = app.get("/v1/rewards/cup").await;
    assert_eq!(cup["stock_left"], 1);

    // Ship, deliver; a delivered redemption cannot be cancelled.
    let status = |st: &str| json!({"status": st});
    let (s, p) = app.post("/v1/members/li/redemptions/r1/status", status("delivered")).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("redemption_state")), "{p}");
    let (s, r) =
        app.post("/v1/members/li/redemptions/r1/status", json!({"status": "shipped", "tracking": "SF1234"})).await;
    assert_eq!(
        (s, r["status"].as_str(), r["tracking"].as_str()),
        (StatusCode::OK, Some("shipped"), Some("SF1234")),
        "{r}"
    );
    let (s, r) = app.post("/v1/members/li/redemptions/r1/status", status("delivered")).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("delivered")));
    let (s, p) = app.post("/v1/members/li/redemptions/r1/status", status("cancelled")).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("redemption_state")), "{p}");

    // A pending one cancelled: points back to their lots, units back to the stock, once.
    funded(&app, "han", 600).await;
    let (s, _) =
        app.post("/v1/members/han/redemptions", json!({"id": "h1", "reward": "cup", "address": address()})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(app.balances("han").await["available"], 100);
    for _ in 0..2 {
        let (s, r) = app.post("/v1/members/han/redemptions/h1/status", status("cancelled")).await;
        assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{r}");
        assert_eq!(app.balances("han").await["available"], 600, "given back exactly once");
    }
    let (_, lots) = app.get("/v1/members/han/lots").await;
    assert_eq!(lots["items"][0]["remaining"], 600, "back in the lot it came from: {lots}");
    let (_, cup) = app.get("/v1/rewards/cup").await;
    assert_eq!(cup["stock_left"], 1);
    let (_, report) = app.get("/v1/rewards/cup/report").await;
    assert_eq!(
        (report["units"].as_i64(), report["cancelled_units"].as_i64(), report["points_consumed"].as_i64()),
        (Some(2), Some(1), Some(1_000)),
        "{report}"
    );
    app.assert_verified().await;
}

#[tokio::test]
async fn coupon_rewards_issue_coupons_and_bad_input_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let template = json!({"id": "t20", "name": "满200减20", "benefit": {"kind": "amount_off", "value_minor": 2000, "threshold_minor": 20000},
        "validity": {"relative": {"days": 30}}, "channels": ["points"], "limits": {"lifetime": 3}});
    let (s, t) = app.post("/v1/coupon-templates", template).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (s, _) = app
        .post(
            "/v1/coupon-templates",
            json!({"id": "claim-only", "name": "x", "benefit": {"kind": "free_shipping"},
        "validity": {"relative": {"days": 1}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let coupon = |id: &str, tpl: &str| json!({"id": id, "name": "20元券", "item": {"kind": "coupon", "template": tpl}, "price_points": 200});
    let (s, r) = app.post("/v1/rewards", coupon("c20", "t20")).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    funded(&app, "wu", 1_000).await;
    let (s, r) = app.post("/v1/members/wu/redemptions", json!({"id": "x1", "reward": "c20", "quantity": 2})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::CREATED, Some("fulfilled")), "{r}");
    assert_eq!(r["coupons"].as_array().unwrap().len(), 2);
    let (_, list) = app.get("/v1/members/wu/coupons").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list["items"][0]["source"], "points");
    // The template's own lifetime limit (3) binds the third and fourth coupon.
    let (s, p) = app.post("/v1/members/wu/redemptions", json!({"id": "x2", "reward": "c20", "quantity": 2})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("coupon_limit_reached")), "{p}");
    assert_eq!(app.balances("wu").await["available"], 600, "nothing charged for the refused one");

    let bad = [
        (coupon("b0", "claim-only"), "item.template"),
        (coupon("b1", "nope"), "item.template"),
        (goods("b2", json!({"price_points": 0})), "price_points"),
        (goods("b3", json!({"stock": -1})), "stock"),
        (
            goods("b4", json!({"visible_from": "2026-12-10T00:00:00Z", "visible_until": "2026-12-01T00:00:00Z"})),
            "visible_until",
        ),
        (goods("b5", json!({"audience": {"min_tier": "nope"}})), "audience.min_tier"),
        (goods("b6", json!({"limits": {"per_day": 0}})), "limits.per_day"),
    ];
    for (body, field) in bad {
        let id = body["id"].as_str().unwrap().to_owned();
        let (s, p) = app.post("/v1/rewards", body).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{p}");
        let (s, _) = app.get(&format!("/v1/rewards/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing written");
    }
    let (s, _) = app.post("/v1/rewards", goods("cup", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let tries = [
        (json!({"id": "y1", "reward": "cup"}), StatusCode::UNPROCESSABLE_ENTITY, "address"),
        (json!({"id": "y2", "reward": "c20", "address": address()}), StatusCode::UNPROCESSABLE_ENTITY, "address"),
        (
            json!({"id": "y3", "reward": "cup", "quantity": 0, "address": address()}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity",
        ),
        (
            json!({"id": "y4", "reward": "cup", "address": {"name": "", "phone": "1", "line": "x"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "address.name",
        ),
    ];
    for (body, status, field) in tries {
        let (s, p) = app.post("/v1/members/wu/redemptions", body).await;
        assert_eq!((s, p["field"].as_str()), (status, Some(field)), "{p}");
    }
    let (s, p) = app.post("/v1/members/wu/redemptions", json!({"id": "y5", "reward": "nope"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("reward_not_found")), "{p}");
    let (s, p) = app
        .send(reqwest::Method::PATCH, "/v1/rewards/cup", Some(&json!({"status": "paused"})), Some(ADMIN), None)
        .await;
    assert_eq!((s, p["offered"].as_bool()), (StatusCode::OK, Some(false)), "{p}");
    let (s, p) =
        app.post("/v1/members/wu/redemptions", json!({"id": "y6", "reward": "cup", "address": address()})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reward_not_eligible")), "{p}");
    assert_eq!(app.balances("wu").await["available"], 600);
    app.assert_verified().await;
}

fn lottery(id: &str, prizes: Value, extra: Value) -> Value {
    let mut l = json!({"id": id, "name": "幸运大转盘", "cost_points": 10, "prizes": prizes, "fallback": "thanks"});
    for (k, v) in extra.as_object().unwrap() {
        l[k] = v.clone();
    }
    l
}

fn thanks() -> Value {
    json!({"id": "thanks", "name": "谢谢参与", "weight": 1, "item": {"kind": "nothing"}})
}

#[tokio::test]
async fn concurrent_draws_keep_to_the_budget_prize_stock_and_daily_limit() {
    let app = spawn_app().await;
    // Almost every roll picks the 100-point prize; the budget pays for three of them (the
    // default programme values 100 points at ¥1).
    let prizes = json!([{"id": "p100", "name": "100积分", "weight": 1000000, "item": {"kind": "points", "points": 100}}, thanks()]);
    let (s, l) = app.post("/v1/lotteries", lottery("budget", prizes, json!({"budget_minor": 300}))).await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["prizes"][0]["cost_minor"], 100, "{l}");
    let stock = json!([{"id": "mug", "name": "杯子", "weight": 1000000, "item": {"kind": "points", "points": 1}, "stock": 4, "cost_minor": 0}, thanks()]);
    let (s, _) = app.post("/v1/lotteries", lottery("stock", stock, json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    for i in 0..20 {
        funded(&app, &format!("d{i}"), 1_000).await;
    }
    for lot in ["budget", "stock"] {
        let answers = at_once(&app, 60, |i| {
            (
                format!("/v1/lotteries/{lot}/draws"),
                json!({"id": format!("{lot}-{i}"), "member_id": format!("d{}", i % 20)}),
            )
        })
        .await;
        assert_eq!(count(&answers, StatusCode::CREATED), 60, "{answers:?}");
        let (_, report) = app.get(&format!("/v1/lotteries/{lot}/report")).await;
        let given: i64 = report["prizes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["prize"] != "thanks")
            .map(|p| p["given"].as_i64().unwrap())
            .sum();
        let want = if lot == "budget" { 3 } else { 4 };
        assert_eq!(given, want, "{report}");
        assert_eq!(report["draws"], 60);
        assert_eq!(report["points_consumed"], 600, "10 points a draw");
        if lot == "budget" {
            assert_eq!(report["prizes_cost_minor"], 300, "{report}");
        }
    }
    // One member, 10 at once, 3 a day (the first free).
    let prizes = json!([{"id": "p1", "name": "1积分", "weight": 1, "item": {"kind": "points", "points": 1}}, thanks()]);
    let (s, _) = app
        .post("/v1/lotteries", lottery("daily", prizes, json!({"max_draws_per_day": 3, "free_draws_per_day": 1})))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    funded(&app, "dx", 1_000).await;
    let answers =
        at_once(&app, 10, |i| ("/v1/lotteries/daily/draws".into(), json!({"id": format!("x{i}"), "member_id": "dx"})))
            .await;
    assert_eq!(count(&answers, StatusCode::CREATED), 3, "{answers:?}");
    assert!(answers.iter().all(|(s, c)| *s == StatusCode::CREATED || c == "draw_limit_reached"));
    let (_, draws) = app.get("/v1/members/dx/draws?lottery=daily").await;
    let items = draws["items"].as_array().unwrap();
    assert_eq!(items.iter().filter(|d| d["free"] == true).count(), 1, "{draws}");
    let spent: i64 = items.iter().map(|d| d["points_spent"].as_i64().unwrap()).sum();
    let won: i64 = items.iter().filter(|d| d["prize"] == "p1").count() as i64;
    assert_eq!(app.balances("dx").await["available"].as_i64().unwrap(), 1_000 - spent + won);
    assert_eq!(spent, 20);
    app.assert_verified().await;
}

#[tokio::test]
async fn draws_are_replayed_rederived_and_a_tampered_record_is_caught() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/rewards", goods("cup", json!({"stock": 10}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post(
            "/v1/coupon-templates",
            json!({"id": "t5", "name": "5元券", "benefit": {"kind": "amount_off", "value_minor": 500},
        "validity": {"relative": {"days": 7}}, "channels": ["points"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let prizes = json!([
        {"id": "pts", "name": "50积分", "weight": 3, "item": {"kind": "points", "points": 50}},
        {"id": "coupon", "name": "5元券", "weight": 3, "item": {"kind": "coupon", "template": "t5"}},
        {"id": "cup", "name": "保温杯", "weight": 3, "item": {"kind": "goods", "reward": "cup"}},
        thanks()
    ]);
    let (s, l) = app.post("/v1/lotteries", lottery("spin", prizes, json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["secret_sha256"].as_str().unwrap().len(), 64);
    assert!((l["prizes"][0]["chance"].as_f64().unwrap() - 0.3).abs() < 1e-9, "{l}");
    funded(&app, "zhao", 10_000).await;
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..40 {
        let body = json!({"id": format!("z{i}"), "member_id": "zhao"});
        let (s, d) = app.post("/v1/lotteries/spin/draws", body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        let (s, again) = app.post("/v1/lotteries/spin/draws", body).await;
        assert_eq!((s, &again["prize"], &again["roll"]), (StatusCode::OK, &d["prize"], &d["roll"]), "a retry replays");
        kinds.insert(d["prize"].as_str().unwrap().to_owned());
        match d["prize"].as_str().unwrap() {
            "coupon" => assert!(d["coupon"].is_string(), "{d}"),
            "cup" => {
                let rid = d["redemption"].as_str().unwrap().to_owned();
                let (_, red) = app.get(&format!("/v1/members/zhao/redemptions/{rid}")).await;
                assert_eq!((red["status"].as_str(), red["points"].as_i64()), (Some("pending"), Some(0)), "{red}");
                let (s, p) =
                    app.post(&format!("/v1/members/zhao/redemptions/{rid}/status"), json!({"status": "shipped"})).await;
                assert_eq!(
                    (s, p["code"].as_str()),
                    (StatusCode::CONFLICT, Some("redemption_state")),
                    "no address yet: {p}"
                );
                let (s, red) = app.put(&format!("/v1/members/zhao/redemptions/{rid}/address"), address()).await;
                assert_eq!((s, red["address"]["phone"].as_str()), (StatusCode::OK, Some("13800000000")), "{red}");
                let (s, _) =
                    app.post(&format!("/v1/members/zhao/redemptions/{rid}/status"), json!({"status": "shipped"})).await;
                assert_eq!(s, StatusCode::OK);
            }
            _ => {}
        }
        let (s, audit) = app.get(&format!("/v1/members/zhao/draws/z{i}/audit")).await;
        assert_eq!(
            (s, audit["matches"].as_bool(), &audit["rederived"]),
            (StatusCode::OK, Some(true), &d["picked"]),
            "{audit}"
        );
    }
    assert!(kinds.len() >= 3, "the prizes come up: {kinds:?}");
    let (s, p) = app.post("/v1/lotteries/nope/draws", json!({"id": "q", "member_id": "zhao"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("lottery_not_found")), "{p}");
    let (s, p) = app.post("/v1/lotteries/spin/draws", json!({"id": "q", "member_id": "nobody"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")), "{p}");
    let (s, _) = app
        .send(reqwest::Method::PATCH, "/v1/lotteries/spin", Some(&json!({"status": "paused"})), Some(ADMIN), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = app.post("/v1/lotteries/spin/draws", json!({"id": "q", "member_id": "zhao"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("lottery_not_open")), "{p}");
    let bad = [
        (json!({"fallback": "nope"}), "fallback"),
        (json!({"fallback": "pts"}), "fallback"),
        (json!({"cost_points": -1}), "cost_points"),
        (
            json!({"prizes": [{"id": "g", "name": "g", "weight": 1, "item": {"kind": "goods", "reward": "ghost"}}, thanks()]}),
            "prizes[0].item.reward",
        ),
        (
            json!({"prizes": [{"id": "w", "name": "w", "weight": 0, "item": {"kind": "nothing"}}, thanks()]}),
            "prizes[0].weight",
        ),
    ];
    for (i, (extra, field)) in bad.into_iter().enumerate() {
        let base =
            json!([{"id": "pts", "name": "50积分", "weight": 3, "item": {"kind": "points", "points": 50}}, thanks()]);
        let (s, p) = app.post("/v1/lotteries", lottery(&format!("bad{i}"), base, extra)).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{p}");
    }
    app.assert_verified().await;

    // An outcome edited in the table no longer re-derives; a stock count edited no longer adds up.
    app.store
        .execute_raw(
            "UPDATE draws SET picked = CASE WHEN picked = 'thanks' THEN 'pts' ELSE 'thanks' END WHERE draw_id = 'z0'",
        )
        .await
        .unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert!(
        r.violations.iter().any(|v| v.problem.contains("zhao/z0") && v.problem.contains("secret derives")),
        "{:?}",
        r.violations
    );
    let (_, audit) = app.get("/v1/members/zhao/draws/z0/audit").await;
    assert_eq!(audit["matches"], false);
    app.store
        .execute_raw(
            "UPDATE rewards SET redeemed = CASE WHEN redeemed > 0 THEN redeemed - 1 ELSE 1 END WHERE reward_id = 'cup'",
        )
        .await
        .unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert!(r.violations.iter().any(|v| v.problem.starts_with("reward cup")), "{:?}", r.violations);
}

/// `verify` checks an item's per-month limit on the mall's redemptions: one unit a month
/// redeemed is sound; the same redemption edited to two units is past the limit.
#[tokio::test]
async fn verify_catches_units_past_a_rewards_per_month_limit() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/rewards", goods("mug", json!({"limits": {"per_month": 1}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    funded(&app, "sun", 5_000).await;
    let body = |id: &str| json!({"id": id, "reward": "mug", "address": address()});
    let (s, r) = app.post("/v1/members/sun/redemptions", body("m1")).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (_, p) = app.post("/v1/members/sun/redemptions", body("m2")).await;
    assert_eq!((p["code"].as_str(), p["period"].as_str()), (Some("reward_limit_reached"), Some("month")), "{p}");
    app.assert_verified().await;
    app.store.execute_raw("UPDATE redemptions SET quantity = 2 WHERE redemption_id = 'm1'").await.unwrap();
    app.store.execute_raw("UPDATE rewards SET redeemed = 2 WHERE reward_id = 'mug'").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    let v = &r.violations[0];
    assert_eq!(v.member_id, "sun");
    assert!(
        v.problem.contains("2 units of reward mug redeemed in the month from")
            && v.problem.ends_with("over its per-month limit 1"),
        "{v}"
    );
}

/// The HTML report lists every template, item and lottery with what they gave and took.
#[tokio::test]
async fn the_report_shows_coupons_the_mall_and_the_lottery() {
    let app = spawn_app().await;
    let (s, _) = app.post("/v1/rewards", goods("cup", json!({"stock": 10}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let prizes =
        json!([{"id": "p100", "name": "100积分", "weight": 1, "item": {"kind": "points", "points": 100}}, thanks()]);
    let (s, _) = app.post("/v1/lotteries", lottery("spin", prizes, json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    funded(&app, "qian", 5_000).await;
    for i in 0..3 {
        let (s, _) = app
            .post("/v1/members/qian/redemptions", json!({"id": format!("r{i}"), "reward": "cup", "address": address()}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = app.post("/v1/lotteries/spin/draws", json!({"id": format!("d{i}"), "member_id": "qian"})).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let program = loyalty_core::Program::default_program();
    let data = loyalty_report::report::gather(app.store.as_ref(), &program, jiff::Timestamp::now()).await.unwrap();
    let html = loyalty_report::report::render(&data, &program);
    let section = &html[html.find("Coupons, points mall and lottery").expect("the section")..];
    // cup: 3 redemptions, 3 units, none cancelled, 1,500 points, 7 left.
    assert!(section.contains("<td>cup</td><td>保温杯</td><td>goods</td><td>500</td><td>3</td><td>3</td><td>0</td><td>1500</td><td>7</td>"), "{section}");
    // spin: 3 draws by 1 member for 30 points.
    assert!(section.contains("<td>spin</td><td>幸运大转盘</td><td>3</td><td>1</td><td>30</td>"), "{section}");
    // The points KPI counts what the mall and the lottery spent as redeemed.
    let redeemed: i64 = data.kpis.iter().map(|k| k.points.redeemed).sum();
    assert_eq!(redeemed, 1_530, "1,500 in the mall and 30 in the lottery");
    assert!(data.ledger.consistent, "the KPI ledger agrees with the balances");
}

/// `verify` checks a lottery's `max_draws_per_day` on the stored draws, by local day: a draw a
/// day on two days is sound; the second moved onto the first's day is one too many.
#[tokio::test]
async fn verify_catches_draws_past_a_lotterys_daily_limit() {
    let clock = loyalty_engine::ManualClock::at("2026-12-02T04:00:00Z".parse().unwrap());
    let app = spawn_app_on(STABLE, clock.clone()).await;
    let (s, l) = app.post("/v1/lotteries", lottery("once", json!([thanks()]), json!({"max_draws_per_day": 1}))).await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    funded(&app, "qian", 100).await;
    let draw = |id: &str| json!({"id": id, "member_id": "qian"});
    let (s, d) = app.post("/v1/lotteries/once/draws", draw("q1")).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (_, p) = app.post("/v1/lotteries/once/draws", draw("q2")).await;
    assert_eq!(p["code"], "draw_limit_reached", "{p}");
    clock.advance(jiff::SignedDuration::from_hours(24));
    let (s, d) = app.post("/v1/lotteries/once/draws", draw("q2")).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    app.assert_verified().await;
    app.store
        .execute_raw("UPDATE draws SET at = (SELECT at FROM draws WHERE draw_id = 'q1') WHERE draw_id = 'q2'")
        .await
        .unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    let v = &r.violations[0];
    assert_eq!(v.member_id, "qian");
    assert!(v.problem.contains("2 draws in lottery once") && v.problem.ends_with("max_draws_per_day 1"), "{v}");
}
