//! Member insight on the real server and store (SQLite, or PostgreSQL when
//! LOYALTY_TEST_DATABASE_URL is set): RFM, segments and stages from paid orders; fitted models;
//! KPIs that add up with the ledger; the report and exports from the binary; bad parameters.

mod common;
mod insight_spend;
use common::*;
use jiff::{SignedDuration, Timestamp};
use loyalty_insight::rfm::{score_quintiles, MemberSummary};
use loyalty_insight::segments::{score_segments, value_segments};
use loyalty_report::compute;
use loyalty_report::config::InsightConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Fixed stages: no P(alive) demotion, so the expected stages do not depend on a fit to six members.
fn plain_config() -> InsightConfig {
    let mut c = InsightConfig::default();
    c.lifecycle.p_alive_floor = None;
    c
}

async fn run_insight(app: &TestApp, config: &InsightConfig) -> compute::RunOutcome {
    compute::run(app.store.as_ref(), config, Timestamp::now()).await.expect("insight run")
}

/// Every item of a segment, following cursors.
async fn all_members(app: &TestApp, path: &str) -> Vec<String> {
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..50 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=1&cursor={c}"),
            None => format!("{path}{sep}limit=1"),
        };
        let (s, page) = app.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        ids.extend(page["items"].as_array().unwrap().iter().map(|m| m["member_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
    panic!("cursor pages never ended");
}

/// (member, [(goods paid, days ago)]); each order also pays 800 shipping. Cat later gets 50,000 back.
const SEEDS: [(&str, &[(i64, i64)]); 6] = [
    ("amy", &[(20_000, 3), (20_000, 20), (20_000, 40), (20_000, 60), (20_000, 100)]),
    ("ben", &[(5_000, 200)]),
    ("cat", &[(100_000, 10), (100_000, 300)]),
    ("dan", &[(9_000, 500)]),
    ("eve", &[]),
    ("fay", &[(3_000, 5)]),
];

/// The summaries of the seeds computed here, independently of the store's aggregate query.
fn seed_summaries() -> Vec<MemberSummary> {
    let summary = |id: &str, orders: &[(i64, i64)], refunded: i64| {
        let window: Vec<_> = orders.iter().filter(|(_, d)| *d <= 365).collect();
        MemberSummary {
            member_id: id.into(),
            recency_days: window.iter().map(|(_, d)| *d as u32).min(),
            frequency: window.len() as u32,
            monetary_minor: window.iter().map(|(p, _)| p + 800).sum::<i64>() - refunded,
            first_order_age_days: orders.iter().map(|(_, d)| *d as u32).max(),
        }
    };
    SEEDS.iter().map(|(id, o)| summary(id, o, if *id == "cat" { 50_000 } else { 0 })).collect()
}

#[tokio::test]
async fn rfm_segments_and_stages_come_from_paid_orders_minus_refunds() {
    let app = spawn_app().await;
    for (member, orders) in SEEDS {
        app.member(member).await;
        for (i, (paid, days)) in orders.iter().enumerate() {
            let (s, o) = app.post("/v1/orders", order(&format!("{member}-{i}"), member, *paid, *days)).await;
            assert_eq!(s, StatusCode::CREATED, "{o}");
        }
    }
    let (s, r) = app.post("/v1/orders/cat-0/refunds", json!({"id": "r-1", "amount_minor": 50_000})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let outcome = run_insight(&app, &plain_config()).await;
    assert_eq!((outcome.members, outcome.buyers), (6, 4), "dan bought outside the window, eve never");

    // The crate scores the independently computed summaries: the API must show the same.
    let summaries = seed_summaries();
    let scores = score_quintiles(&summaries).unwrap();
    let values = value_segments(&summaries).unwrap().segments;
    let segments = score_segments(&scores);
    for (i, want) in summaries.iter().enumerate() {
        let (s, got) = app.get(&format!("/v1/members/{}/insight", want.member_id)).await;
        assert_eq!(s, StatusCode::OK, "{got}");
        assert_eq!(got["frequency"], want.frequency, "{got}");
        assert_eq!(got["monetary_minor"], want.monetary_minor, "{got}");
        assert_eq!(got["recency_days"], json!(want.recency_days), "{got}");
        assert_eq!(got["first_order_age_days"], json!(want.first_order_age_days), "{got}");
        let scored = scores[i].map(|s| json!({"r": s.r, "f": s.f, "m": s.m, "fm": s.fm()}));
        assert_eq!(got["scores"], scored.unwrap_or(Value::Null), "{got}");
        assert_eq!(got["value_segment"]["code"], values[i].code());
        assert_eq!(got["value_segment"]["label"], values[i].label_zh());
        assert_eq!(got["score_segment"]["code"], segments[i].code());
    }
    // Reading in ranges of two members, concurrently, gives what one range gives.
    let at = outcome.run.at;
    let small = compute::read_activity_in_pages(app.store.as_ref(), at, 365, 2).await.unwrap();
    assert_eq!(small, compute::read_activity(app.store.as_ref(), at, 365).await.unwrap());
    assert_eq!(small.iter().map(|a| &*a.member_id).collect::<Vec<_>>(), ["amy", "ben", "cat", "dan", "eve", "fay"]);
    let stages = ["active", "sleeping", "active", "lost", "never_bought", "new"];
    for (want, stage) in summaries.iter().zip(stages) {
        let (_, got) = app.get(&format!("/v1/members/{}/insight", want.member_id)).await;
        assert_eq!(got["stage"]["code"], stage, "{got}");
    }
}

#[tokio::test]
async fn segments_list_every_member_once_with_totals_and_page_by_cursor() {
    let app = spawn_app().await;
    for (member, orders) in SEEDS {
        app.member(member).await;
        for (i, (paid, days)) in orders.iter().enumerate() {
            app.post("/v1/orders", order(&format!("{member}-{i}"), member, *paid, *days)).await;
        }
    }
    app.post("/v1/orders/cat-0/refunds", json!({"id": "r-1", "amount_minor": 50_000})).await;
    run_insight(&app, &plain_config()).await;
    let money_total: i64 = seed_summaries().iter().map(|s| s.monetary_minor).sum();
    for scheme in ["value", "score", "lifecycle"] {
        let (s, v) = app.get(&format!("/v1/segments?scheme={scheme}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let segs = v["segments"].as_array().unwrap();
        assert_eq!(segs.iter().map(|g| g["members"].as_i64().unwrap()).sum::<i64>(), 6, "{v}");
        let money: i64 = segs.iter().map(|g| g["monetary_minor"].as_i64().unwrap()).sum();
        assert_eq!(money, money_total, "{v}");
    }
    let (_, v) = app.get("/v1/segments").await;
    assert_eq!(v["scheme"], "value", "the configured default scheme");
    assert_eq!(v["segments"].as_array().unwrap().len(), 9, "8 value segments and no_purchase, empty ones too");
    let no_purchase = all_members(&app, "/v1/segments/no_purchase/members?scheme=value").await;
    assert_eq!(no_purchase, ["dan", "eve"]);
    let active = all_members(&app, "/v1/segments/active/members?scheme=lifecycle").await;
    assert_eq!(active, ["amy", "cat"]);
}

#[tokio::test]
async fn bad_parameters_are_problems_naming_the_field() {
    let app = spawn_app().await;
    let (s, p) = app.get("/v1/segments").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("insight_not_computed")), "{p}");
    let (s, p) = app.get("/v1/models/clv").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("insight_not_computed")));
    app.member("zed").await;
    run_insight(&app, &InsightConfig::default()).await;
    let cases = [
        ("/v1/members/no%20such/insight", StatusCode::UNPROCESSABLE_ENTITY, "member_id"),
        ("/v1/segments?scheme=rfm", StatusCode::UNPROCESSABLE_ENTITY, "scheme"),
        ("/v1/segments?schema=value", StatusCode::BAD_REQUEST, "schema"),
        ("/v1/segments/vip/members", StatusCode::NOT_FOUND, "name"),
        ("/v1/segments/lost/members?scheme=value", StatusCode::NOT_FOUND, "name"),
        ("/v1/segments/lost/members?scheme=score&limit=0", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        ("/v1/segments/lost/members?scheme=score&limit=ten", StatusCode::BAD_REQUEST, "limit"),
        ("/v1/segments/lost/members?scheme=score&cursor=zz", StatusCode::UNPROCESSABLE_ENTITY, "cursor"),
        ("/v1/kpis?granularity=fortnight", StatusCode::UNPROCESSABLE_ENTITY, "granularity"),
        ("/v1/kpis?from=2026-13-01", StatusCode::UNPROCESSABLE_ENTITY, "from"),
        ("/v1/kpis?to=yesterday", StatusCode::UNPROCESSABLE_ENTITY, "to"),
        ("/v1/kpis?from=2026-03-01&to=2026-01-01", StatusCode::UNPROCESSABLE_ENTITY, "to"),
        ("/v1/kpis?from=2000-01-01&to=2026-01-01", StatusCode::UNPROCESSABLE_ENTITY, "to"),
        ("/v1/kpis?from=2025-01-01&to=2025-12-31&granularity=day", StatusCode::UNPROCESSABLE_ENTITY, "to"),
        ("/v1/kpis?window=3", StatusCode::BAD_REQUEST, "window"),
    ];
    for (path, status, field) in cases {
        let (s, p) = app.get(path).await;
        assert_eq!((s, p["field"].as_str()), (status, Some(field)), "{path}: {p}");
    }
    let (s, p) = app.get("/v1/members/nobody/insight").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")));
    app.member("late").await;
    let (s, p) = app.get("/v1/members/late/insight").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("insight_not_found")), "{p}");
    let (s, _) = app.send(reqwest::Method::GET, "/v1/segments", None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "insight needs a key");
    let (_, doc) = app.get("/openapi.json").await;
    for path in
        ["/v1/members/{id}/insight", "/v1/segments", "/v1/segments/{name}/members", "/v1/kpis", "/v1/models/clv"]
    {
        assert!(doc["paths"][path]["get"].is_object(), "{path} is documented");
    }
}

/// Places orders straight through the engine, as the importer does (faster than HTTP for hundreds).
async fn place(app: &TestApp, orders: Vec<Value>) {
    let now = Timestamp::now();
    let mut cmds = Vec::new();
    for o in orders {
        let input: loyalty_core::order::OrderInput = serde_json::from_value(o).unwrap();
        let order = input.validate(&app.program, now).unwrap();
        cmds.push(loyalty_engine::Command::PlaceOrder { order, create_member: true });
    }
    for chunk in cmds.chunks(1_000) {
        let replies = loyalty_engine::apply_batch(app.store.as_ref(), &app.program, chunk, now).await.unwrap();
        assert!(replies.iter().all(|r| r.is_ok()));
    }
}

#[tokio::test]
async fn purchase_and_spend_models_are_fitted_and_predict_per_member() {
    use rand::{Rng, SeedableRng};
    let app = spawn_app().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let truth = loyalty_insight::bgnbd::BgNbdParams::new(0.8, 40.0, 0.6, 2.5).unwrap();
    let ages: Vec<f64> = (0..300).map(|_| rng.random_range(60.0..360.0)).collect();
    let histories = loyalty_insight::bgnbd::simulate_ages(&truth, &ages, &mut rng).unwrap();
    let mut orders = Vec::new();
    for (i, h) in histories.iter().enumerate() {
        let member = format!("sim-{i:03}");
        let first = h.age().floor() as i64;
        let mut days = vec![first];
        if h.x() > 0 {
            let last = (h.age() - h.t_x()).floor() as i64;
            days.extend((1..h.x()).map(|_| rng.random_range(last..=first)));
            days.push(last);
        }
        // Spend levels differ between members (the Gamma-Gamma heterogeneity), orders scatter around them.
        let level = rng.random_range(1_000.0_f64..60_000.0);
        for (j, d) in days.iter().enumerate() {
            let paid = (level * rng.random_range(0.5..1.5)) as i64;
            orders.push(order(&format!("{member}-{j}"), &member, paid, *d));
        }
    }
    place(&app, orders).await;
    let outcome = run_insight(&app, &InsightConfig::default()).await;
    assert_eq!(outcome.buyers, 300);
    let (s, m) = app.get("/v1/models/clv").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["time_unit"], "day");
    let bg = &m["bgnbd"];
    assert_eq!(
        (bg["fitted"].as_bool(), bg["converged"].as_bool(), bg["members"].as_i64()),
        (Some(true), Some(true), Some(300)),
        "{m}"
    );
    for p in ["r", "alpha", "a", "b"] {
        assert!(bg["params"][p].as_f64().unwrap() > 0.0, "{m}");
    }
    assert!(bg["log_likelihood"].as_f64().unwrap() < 0.0);
    assert_eq!(m["gamma_gamma"]["fitted"], true, "{m}");
    assert!(m["gamma_gamma"]["detail"]["population_mean_order_value_minor"].as_f64().unwrap() > 0.0, "{m}");
    let (mut single, mut repeat) = (0, 0);
    for (i, h) in histories.iter().enumerate() {
        let (s, v) = app.get(&format!("/v1/members/sim-{i:03}/insight")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let p = v["p_alive"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{v}");
        assert!(v["expected_purchases"].as_f64().unwrap() >= 0.0 && v["clv_minor"].as_f64().unwrap() >= 0.0, "{v}");
        assert!(v["expected_order_value_minor"].as_f64().unwrap() > 0.0, "{v}");
        if v["repeat_purchases"] == 0 {
            assert_eq!(p, 1.0, "dropout only follows a repeat purchase");
            single += 1;
        } else {
            repeat += 1;
        }
        assert!(v["repeat_purchases"].as_u64().unwrap() <= u64::from(h.x()));
    }
    assert!(single > 0 && repeat > 0);
}

async fn sum_of_balances(app: &TestApp, members: &[&str]) -> i64 {
    let mut total = 0;
    for m in members {
        let b = app.balances(m).await;
        total += b["pending"].as_i64().unwrap() + b["available"].as_i64().unwrap() + b["held"].as_i64().unwrap();
    }
    total
}

#[tokio::test]
async fn kpis_add_up_with_the_ledger() {
    // Points expire 30 days after activation, so a 50-day-old order has expired points.
    let app = spawn_app_with(&format!("{STABLE}[expiry]\npolicy = \"rolling\"\ndays = 30\n")).await;
    for m in ["kim", "lee", "max"] {
        app.member(m).await;
    }
    let mut earned = HashMap::new();
    for (id, m, paid, days) in
        [("k1", "kim", 50_000, 50), ("k2", "kim", 30_000, 12), ("l1", "lee", 80_000, 9), ("m1", "max", 10_000, 1)]
    {
        let (s, o) = app.post("/v1/orders", order(id, m, paid, days)).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        earned.insert(id, o["earned_points"].as_i64().unwrap());
    }
    let (s, h) = app
        .post("/v1/members/lee/points/holds", json!({"points": 300, "order_amount_minor": 5_000, "order_id": "l2"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    app.post(&format!("/v1/members/lee/points/holds/{}/capture", h["id"].as_str().unwrap()), json!({})).await;
    let (s, r) = app.post("/v1/orders/l1/refunds", json!({"id": "r-l1", "amount_minor": 20_000})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let clawed = r["clawed_back_points"].as_i64().unwrap();
    app.post("/v1/members/max/points/adjustments", json!({"id": "adj-1", "points": 500, "reason": "goodwill"})).await;
    app.post("/v1/members/max/points/adjustments", json!({"id": "adj-2", "points": -120, "reason": "fix"})).await;
    loyalty_engine::jobs::run_due(app.store.as_ref(), &app.program, Timestamp::now()).await.unwrap();

    let today = Timestamp::now().to_zoned(app.program.tz.clone()).date();
    let from = today.checked_sub(jiff::Span::new().months(3)).unwrap();
    let (s, k) = app.get(&format!("/v1/kpis?from={from}&to={today}&granularity=month")).await;
    assert_eq!(s, StatusCode::OK, "{k}");
    let periods = k["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 4, "{k}");
    let last = periods.last().unwrap();
    let balances = sum_of_balances(&app, &["kim", "lee", "max"]).await;
    assert_eq!(last["points"]["outstanding"], balances, "outstanding points = Σ member balances: {k}");
    assert_eq!(k["ledger"]["ledger_outstanding"], balances);
    assert_eq!(k["ledger"]["consistent"], true);
    let sum = |f: &str| periods.iter().map(|p| p["points"][f].as_i64().unwrap()).sum::<i64>();
    let before = periods[0]["points"]["outstanding"].as_i64().unwrap()
        - (periods[0]["points"]["issued"].as_i64().unwrap()
            - periods[0]["points"]["redeemed"].as_i64().unwrap()
            - periods[0]["points"]["expired"].as_i64().unwrap()
            - periods[0]["points"]["clawed_back"].as_i64().unwrap()
            - periods[0]["points"]["adjusted_out"].as_i64().unwrap());
    let flows = sum("issued") - sum("redeemed") - sum("expired") - sum("clawed_back") - sum("adjusted_out");
    assert_eq!(before + flows, balances, "flows carry the outstanding balance from period to period");
    assert_eq!(sum("issued"), earned.values().sum::<i64>() + 500, "points earned by orders, plus the grant: {k}");
    assert_eq!((sum("redeemed"), sum("adjusted_out"), sum("expired")), (300, 120, earned["k1"]), "{k}");
    assert_eq!(sum("clawed_back"), clawed);
    let liability: i64 = last["liability_minor"].as_i64().unwrap();
    assert_eq!(liability, app.program.points_value_minor(loyalty_core::Points::new(balances)).get());
    let orders: i64 = periods.iter().map(|p| p["orders"].as_i64().unwrap()).sum();
    let paid: i64 = periods.iter().map(|p| p["paid_minor"].as_i64().unwrap()).sum();
    assert_eq!((orders, paid), (4, 170_000 + 4 * 800));
    assert_eq!(last["members_total"], 3);
    assert_eq!(last["members_by_tier"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum::<i64>(), 3);
    assert_eq!(periods.iter().map(|p| p["refunded_minor"].as_i64().unwrap()).sum::<i64>(), 20_000);
    assert_eq!((last["active_30d"].as_i64(), last["active_90d"].as_i64()), (Some(3), Some(3)), "{last}");
    let breakage = last["breakage_rate"].as_f64().unwrap();
    assert!(breakage > 0.0 && breakage < 1.0, "some activated points expired: {last}");
    let (s, w) = app.get(&format!("/v1/kpis?from={from}&to={today}&granularity=week")).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    // Instants are RFC 3339 with the programme's offset, as everywhere in the API (no zone annotation).
    for t in [&w["as_of"], &w["periods"][0]["start"], &w["periods"][0]["end"]] {
        let t = t.as_str().unwrap();
        assert!(t.ends_with("+08:00") && !t.contains('['), "{t}");
        t.parse::<Timestamp>().unwrap();
    }
    assert_eq!(w["periods"].as_array().unwrap().last().unwrap()["points"]["outstanding"], balances);
}

fn loyalty_cli(url: &str, args: &[&str]) -> (bool, String) {
    let (code, out, err) = loyalty_bin(url, args);
    (code == 0, format!("{out}{err}"))
}

#[tokio::test]
async fn the_cli_computes_exports_and_draws_a_self_contained_report() {
    let app = spawn_app().await;
    let mut orders = Vec::new();
    for i in 0..40 {
        let member = format!("c{i:02}");
        for j in 0..(i % 5) {
            orders.push(order(&format!("{member}-{j}"), &member, 1_000 * (i + 1), 3 + 37 * j + i));
        }
    }
    place(&app, orders).await;
    let at = (Timestamp::now() - SignedDuration::from_hours(1)).to_string();
    let (ok, out) = loyalty_cli(&app.url, &["insight", "--at", &at, "--window-days", "365"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("32 members, 32 buyers") && out.contains("bgnbd"),
        "members without orders were never created: {out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("s.csv");
    let (ok, out) =
        loyalty_cli(&app.url, &["export", "segments", "--format", "csv", "--out", csv_path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let csv_text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv_text.starts_with("member_id,recency_days,frequency,monetary_minor"), "{csv_text}");
    assert_eq!(csv_text.lines().count(), 33, "a header and every member");
    let pq = dir.path().join("s.parquet");
    let (ok, out) =
        loyalty_cli(&app.url, &["export", "segments", "--format", "parquet", "--out", pq.to_str().unwrap()]);
    assert!(ok, "{out}");
    let bytes = std::fs::read(&pq).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1") && bytes.len() > 500);

    let report = dir.path().join("report.html");
    let (ok, out) = loyalty_cli(&app.url, &["report", "--out", report.to_str().unwrap()]);
    assert!(ok, "{out}");
    let html = std::fs::read_to_string(&report).unwrap();
    for chart in [
        "tier-mix",
        "segment-sizes",
        "segment-value",
        "lifecycle",
        "kpi-members",
        "kpi-rates",
        "kpi-aov",
        "points",
        "p-alive",
    ] {
        let start = html.find(&format!("<figure id=\"{chart}\"")).unwrap_or_else(|| panic!("no {chart} chart"));
        let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<svg") && figure.contains("</svg>"), "{chart} is an inline SVG");
        assert!(!figure.contains("no data yet"), "{chart} is drawn from data: {figure}");
    }
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "no external assets");
    assert!(html.matches("<svg").count() >= 9);
}

#[tokio::test]
async fn the_programme_file_configures_insight_and_a_bad_insight_key_is_named() {
    let app = spawn_app().await;
    place(&app, vec![order("p-1", "pm1", 5_000, 3), order("p-2", "pm1", 7_000, 40), order("p-3", "pm2", 900, 10)])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("program.toml");
    std::fs::write(
        &good,
        "[insight]\nwindow_days = 30\nscheme = \"lifecycle\"\n\n[insight.rfm]\nmethod = \"fixed\"\n\
         recency_days = [7, 14, 21, 28]\nfrequency = [1, 2, 3, 4]\nmonetary_minor = [1000, 2000, 3000, 4000]\n",
    )
    .unwrap();
    let (ok, out) = loyalty_cli(&app.url, &["check-config", good.to_str().unwrap()]);
    assert!(ok, "{out}");
    let at = (Timestamp::now() - SignedDuration::from_hours(1)).to_string();
    let (ok, out) = loyalty_cli(&app.url, &["insight", "--program", good.to_str().unwrap(), "--at", &at]);
    assert!(ok, "{out}");
    assert!(out.contains("(30-day window)"), "the window comes from the programme file: {out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[insight]\nwindow_days = 0\n").unwrap();
    let (ok, out) = loyalty_cli(&app.url, &["check-config", bad.to_str().unwrap()]);
    assert!(!ok && out.contains("insight.window_days"), "{out}");
    std::fs::write(&bad, "[insight.lifecycle]\nnew_dayz = 3\n").unwrap();
    let (ok, out) = loyalty_cli(&app.url, &["check-config", bad.to_str().unwrap()]);
    assert!(!ok && out.contains("new_dayz"), "{out}");
    let (ok, out) = loyalty_cli(&app.url, &["insight", "--program", bad.to_str().unwrap()]);
    assert!(!ok && out.contains("new_dayz"), "a bad section stops the command too: {out}");
}

#[tokio::test]
async fn one_run_at_a_time_and_a_dead_run_does_not_block_the_next() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    let minutes = |m: i64| SignedDuration::from_mins(m);
    let first = app.store.insight_start(now, 365, "{}", now, now - minutes(15)).await.unwrap();
    let err = compute::run(app.store.as_ref(), &InsightConfig::default(), now).await.unwrap_err();
    assert!(err.to_string().contains("another insight run is in progress"), "{err}");
    // Twenty minutes without a heartbeat: the first run died, the next one takes over.
    let later = now + minutes(20);
    let second = app.store.insight_start(now, 365, "{}", later, later - minutes(15)).await.unwrap();
    assert_eq!((second.run_id, second.slot), (first.run_id + 1, first.slot), "the dead run's slot is reused");
    let runs = app.store.insight_runs(10).await.unwrap();
    let status: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(status, ["running", "failed"]);
    assert!(app.store.latest_insight_run().await.unwrap().is_none(), "nothing complete to read yet");
}

/// Each member's activity log, parsed, one event list per member in a fixed order.
async fn logs(app: &TestApp, ids: &[&str]) -> Vec<(String, Vec<String>)> {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for (recorded, text) in app.store.activity_audit(&ids).await.unwrap() {
        let mut events = Vec::new();
        loyalty_store::analytics::parse_rows(&text, &mut events).unwrap();
        let mut events: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        events.sort();
        out.push((recorded.member_id, events));
    }
    out
}

#[tokio::test]
async fn the_activity_log_is_written_with_orders_and_refunds_and_the_migration_fills_it_alike() {
    let app = spawn_app().await;
    // Two spans for gus (400 days apart); refunds partial and whole, all made after `before`.
    for member in ["gus", "hal", "ivy"] {
        app.member(member).await;
    }
    for (id, member, paid, days) in [("g1", "gus", 10_000, 400), ("g2", "gus", 20_000, 2), ("h1", "hal", 7_000, 30)] {
        let (s, o) = app.post("/v1/orders", order(id, member, paid, days)).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    for (order, refund, amount) in [("g1", "r1", 3_000), ("g1", "r2", 1_000), ("h1", "r1", 7_800)] {
        let (s, r) =
            app.post(&format!("/v1/orders/{order}/refunds"), json!({"id": refund, "amount_minor": amount})).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    let at = Timestamp::now();
    let read = compute::read_activity(app.store.as_ref(), at, 365).await.unwrap();
    let gus = read.iter().find(|a| &*a.member_id == "gus").unwrap();
    assert_eq!((gus.orders, gus.net_minor, gus.window_orders, gus.window_net_minor), (2, 31_600 - 4_000, 1, 20_800));
    let hal = read.iter().find(|a| &*a.member_id == "hal").unwrap();
    assert_eq!((hal.net_minor, hal.window_net_minor), (0, 0));
    // As of before hal's refund, hal had paid in full.
    let before = at.checked_sub(SignedDuration::from_hours(24)).unwrap();
    let earlier = compute::read_activity(app.store.as_ref(), before, 365).await.unwrap();
    assert_eq!(earlier.iter().find(|a| &*a.member_id == "hal").unwrap().net_minor, 7_800);
    app.assert_verified().await;

    // Migration 0007's fill, run again over the same orders and refunds, writes the same log.
    let written = logs(&app, &["gus", "hal", "ivy"]).await;
    assert_eq!(written.iter().map(|(_, e)| e.len()).collect::<Vec<_>>(), [4, 2, 0]);
    // Appends to a row that exists add records only: one head per row (gus: two spans).
    let ids: Vec<String> = ["gus", "hal", "ivy"].map(String::from).to_vec();
    let heads: Vec<usize> =
        app.store.activity_audit(&ids).await.unwrap().iter().map(|(_, text)| text.matches('|').count()).collect();
    assert_eq!(heads, [2, 1, 0]);
    app.store.execute_raw("DELETE FROM member_activity").await.unwrap();
    app.store.execute_raw(&loyalty_store::analytics::fill_sql()).await.unwrap();
    assert_eq!(logs(&app, &["gus", "hal", "ivy"]).await, written);
    assert_eq!(compute::read_activity(app.store.as_ref(), at, 365).await.unwrap(), read);
    app.assert_verified().await;

    // A log that lost or gained a record is named by verify.
    app.store.execute_raw("UPDATE member_activity SET log = log || '+WW' WHERE member_id = 'hal'").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    assert_eq!(r.violations[0].member_id, "hal");
    assert!(r.violations[0].problem.contains("log has 2 orders"), "{}", r.violations[0].problem);
    // `loyalty rebuild-activity` puts it right.
    let (code, out, err) = loyalty_bin(&app.url, &["rebuild-activity"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 activity rows written"), "{out}");
    assert_eq!(logs(&app, &["gus", "hal", "ivy"]).await, written);
    app.assert_verified().await;
}

/// The fill statement writes, in SQL, what the engine's encoder writes in Rust: checked at the
/// values where the two could part — the last and first microsecond of a span, an instant before
/// 1970 (spans round down), an amount of many digits, a refund recorded before its payment.
#[tokio::test]
async fn the_fill_statement_encodes_edge_values_as_the_engine_does() {
    use loyalty_store::analytics::{fill_sql, ActivityEvent, ACTIVITY_SPAN_MICROS as S};
    let app = spawn_app().await;
    app.member("zed").await;
    let late = 1_767_225_600_123_456_i64;
    let orders = [("z1", S - 1, 1_000_000_000_000_i64), ("z2", S, 0), ("z3", -1, 31), ("z4", late, 32)];
    for (id, paid_at, total) in orders {
        app.store
            .execute_raw(&format!(
                "INSERT INTO orders (member_id, order_id, paid_at, currency, eligible_minor, shipping_minor, total_minor, \
                 earned_points, clawed_back_points, refunded_minor, lines, created_at) \
                 VALUES ('zed', '{id}', {paid_at}, 'CNY', {total}, 0, {total}, 0, 0, 0, '[]', 0)"
            ))
            .await
            .unwrap();
    }
    let refunds = [("z4", late - 5, 32_i64), ("z3", late, 1)];
    for (order, refunded_at, amount) in refunds {
        app.store
            .execute_raw(&format!(
                "INSERT INTO refunds (member_id, order_id, refund_id, amount_minor, lines, by_lines, clawback_points, \
                 forgiven_points, refunded_at, created_at) VALUES ('zed', '{order}', 'r', {amount}, '[]', 0, 0, 0, {refunded_at}, 0)"
            ))
            .await
            .unwrap();
    }
    app.store.execute_raw("DELETE FROM member_activity").await.unwrap();
    app.store.execute_raw(&fill_sql()).await.unwrap();

    let mut expected: Vec<String> = orders
        .iter()
        .map(|&(_, paid_at, total_minor)| format!("{:?}", ActivityEvent::Order { paid_at, total_minor }))
        .collect();
    expected.push(format!("{:?}", ActivityEvent::Refund { paid_at: late, refunded_at: late - 5, amount_minor: 32 }));
    expected.push(format!("{:?}", ActivityEvent::Refund { paid_at: -1, refunded_at: late, amount_minor: 1 }));
    expected.sort();
    assert_eq!(logs(&app, &["zed"]).await, [("zed".to_string(), expected)]);
    // One row per span: −1, 0, 1 and 2026's.
    let text = app.store.activity_audit(&["zed".to_string()]).await.unwrap().remove(0).1;
    assert_eq!(text.matches('|').count(), 4, "{text}");
}
