//! Daily check-in through the real server on a clock the test moves: a week's streak paying
//! its milestones and coupon, a broken streak restarting, a make-up mending one, the day
//! boundary at local midnight, a hundred check-ins at once paying once, and bad input named
//! by field with nothing written. Runs on SQLite and, with `LOYALTY_TEST_DATABASE_URL`, on
//! PostgreSQL.

mod common;

use common::*;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROGRAM: &str = r#"
[member_day]
day_of_month = 0
[birthday]
points_multiplier = 1.0

[checkin]
points = 5
growth = 1
cycle = true
milestones = [{ day = 3, points = 10 }, { day = 7, points = 50, growth = 5, coupon = "checkin-7" }]
[checkin.makeup]
days = 3
per_month = 2
cost_points = 20
cards = ["makeup-card"]

[[coupon_templates]]
id = "makeup-card"
name = "补签卡"
benefit = { kind = "amount_off", value_minor = 1, threshold_minor = 0 }
scope = { include = { skus = ["makeup-card"] } }
validity = { relative = { days = 30 } }
channels = ["issue"]

[[coupon_templates]]
id = "gift-5"
name = "满50减5"
benefit = { kind = "amount_off", value_minor = 500, threshold_minor = 5000 }
validity = { relative = { days = 30 } }
channels = ["issue"]

[[coupon_templates]]
id = "checkin-7"
name = "签到7天 满30减3"
benefit = { kind = "amount_off", value_minor = 300, threshold_minor = 3000 }
validity = { relative = { days = 7, end_of_day = true } }
channels = ["engagement"]
"#;

struct Story {
    app: TestApp,
    clock: std::sync::Arc<loyalty_engine::ManualClock>,
}

impl Story {
    async fn new(start: &str) -> Self {
        let clock = loyalty_engine::ManualClock::at(start.parse().unwrap());
        let app = spawn_app_on(PROGRAM, clock.clone()).await;
        Self { app, clock }
    }

    fn set(&self, t: &str) {
        self.clock.set(t.parse::<Timestamp>().unwrap());
    }

    async fn check_in(&self, member: &str) -> (StatusCode, Value) {
        self.app.post(&format!("/v1/members/{member}/checkins"), json!({})).await
    }

    async fn make_up(&self, member: &str, day: &str) -> (StatusCode, Value) {
        self.app.post(&format!("/v1/members/{member}/checkins/makeups"), json!({ "day": day })).await
    }

    async fn calendar(&self, member: &str, month: &str) -> Value {
        let (s, c) = self.app.get(&format!("/v1/members/{member}/checkins?month={month}")).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        c
    }
}

fn day(n: u32) -> String {
    format!("2026-12-{n:02}T09:00:00+08:00")
}

#[tokio::test]
async fn a_week_of_check_ins_pays_its_milestones_and_the_cycle_starts_again() {
    let st = Story::new(&day(1)).await;
    st.app.member("li").await;
    let mut points = Vec::new();
    for n in 1..=8 {
        st.set(&day(n));
        let (s, c) = st.check_in("li").await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        assert_eq!(c["day"]["day"], format!("2026-12-{n:02}"));
        assert_eq!(c["streak"], n);
        points.push(c["reward"]["points"].as_i64().unwrap());
        if n == 7 {
            assert_eq!(c["reward"]["milestones"], json!([7]), "{c}");
            assert_eq!(c["reward"]["coupons"].as_array().unwrap().len(), 1, "{c}");
            assert_eq!(
                c["next_milestone"],
                json!({"streak_day": 10, "days_left": 3, "points": 10, "growth": 0, "coupon": null})
            );
        }
        if n == 4 {
            assert_eq!(c["next_milestone"]["streak_day"], 7);
            assert_eq!(c["next_milestone"]["coupon"], "checkin-7");
        }
    }
    assert_eq!(points, [5, 5, 15, 5, 5, 5, 55, 5]);
    assert_eq!(st.app.balances("li").await["available"], points.iter().sum::<i64>());
    let (_, coupons) = st.app.get("/v1/members/li/coupons").await;
    let items = coupons["items"].as_array().unwrap();
    assert_eq!((items.len(), items[0]["template"].as_str()), (1, Some("checkin-7")), "{coupons}");
    let (_, tier) = st.app.get("/v1/members/li/tier").await;
    assert_eq!(tier["growth_total"], 8 + 5, "a growth a day and the week's 5: {tier}");
    let c = st.calendar("li", "2026-12").await;
    assert_eq!((c["streak"].as_i64(), c["checked_in_today"].as_bool()), (Some(8), Some(true)), "{c}");
    assert_eq!(c["days"].as_array().unwrap().len(), 8);
    let (s, export) = st.app.get("/v1/members/li/export").await;
    assert_eq!(s, StatusCode::OK, "{export}");
    let days: Vec<&str> = export["checkins"].as_array().unwrap().iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(days, (1..=8).map(|n| format!("2026-12-{n:02}")).collect::<Vec<_>>(), "the export holds every day");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_broken_streak_restarts_and_a_make_up_mends_it() {
    let st = Story::new(&day(1)).await;
    st.app.member("wang").await;
    for n in [1, 2, 4, 5, 6] {
        st.set(&day(n));
        assert_eq!(st.check_in("wang").await.0, StatusCode::CREATED);
    }
    let c = st.calendar("wang", "2026-12").await;
    assert_eq!((c["streak"].as_i64(), c["makeups_left"].as_i64()), (Some(3), Some(2)), "{c}");
    // 1–2 and 4–6 (which paid day 3 on the 6th): making up the 3rd joins them into six days.
    let before = st.app.balances("wang").await["available"].as_i64().unwrap();
    let (s, m) = st.make_up("wang", "2026-12-03").await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!((m["streak"].as_i64(), m["day"]["kind"].as_str()), (Some(6), Some("makeup")), "{m}");
    // The joined run of six pays day 3 once; the parts paid it once (4–6): nothing more is
    // owed, so the make-up earns the day's 5 and costs 20.
    assert_eq!((m["reward"]["points"].as_i64(), m["reward"]["cost_points"].as_i64()), (Some(5), Some(20)), "{m}");
    assert_eq!(st.app.balances("wang").await["available"], before + 5 - 20);
    // The 7th completes the week: the milestone pays on the mended streak.
    st.set(&day(7));
    let (_, c) = st.check_in("wang").await;
    assert_eq!((c["streak"].as_i64(), c["reward"]["points"].as_i64()), (Some(7), Some(55)), "{c}");
    // The window is three days, two make-ups a month, and a checked-in day is refused.
    st.set(&day(10));
    let (s, p) = st.make_up("wang", "2026-12-06").await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("day")), "{p}");
    let (s, p) = st.make_up("wang", "2026-12-07").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("already_checked_in")), "{p}");
    assert_eq!(st.make_up("wang", "2026-12-08").await.0, StatusCode::CREATED);
    let (s, p) = st.make_up("wang", "2026-12-09").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("makeup_limit_reached")), "{p}");
    // Today's check-in after the gap of the 9th starts again.
    let (_, c) = st.check_in("wang").await;
    assert_eq!(c["streak"], 1, "{c}");
    let c = st.calendar("wang", "2026-12").await;
    assert_eq!((c["streak"].as_i64(), c["makeups_left"].as_i64()), (Some(1), Some(0)), "{c}");
    let kinds: Vec<&str> = c["days"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["checkin", "checkin", "makeup", "checkin", "checkin", "checkin", "checkin", "makeup", "checkin"]
    );
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_make_up_without_the_points_is_refused_and_writes_nothing() {
    let st = Story::new(&day(2)).await;
    st.app.member("zhao").await;
    let (s, p) = st.make_up("zhao", "2026-12-01").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_points")), "{p}");
    assert!(st.calendar("zhao", "2026-12").await["days"].as_array().unwrap().is_empty());
    st.app.assert_verified().await;
}

#[tokio::test]
async fn the_day_ends_at_local_midnight_and_a_late_request_counts_for_its_day() {
    let st = Story::new("2026-12-03T23:59:59+08:00").await;
    st.app.member("sun").await;
    let (_, a) = st.check_in("sun").await;
    st.set("2026-12-04T00:00:00+08:00");
    let (_, b) = st.check_in("sun").await;
    assert_eq!((a["day"]["day"].as_str(), b["day"]["day"].as_str()), (Some("2026-12-03"), Some("2026-12-04")));
    assert_eq!(b["streak"], 2, "two local days, though the same UTC day: {b}");
    // Tapped at 23:59:30 on the 4th, arriving two minutes later: it is the 4th's check-in.
    st.app.member("zhou").await;
    st.set("2026-12-05T00:01:30+08:00");
    let (s, c) = st.app.post("/v1/members/zhou/checkins", json!({"at": "2026-12-04T23:59:30+08:00"})).await;
    assert_eq!((s, c["day"]["day"].as_str()), (StatusCode::CREATED, Some("2026-12-04")), "{c}");
    let (s, c) = st.check_in("zhou").await;
    assert_eq!((s, c["day"]["day"].as_str(), c["streak"].as_i64()), (StatusCode::CREATED, Some("2026-12-05"), Some(2)));
    // A client clock two minutes fast before midnight checks in for today, not tomorrow.
    st.app.member("feng").await;
    st.set("2026-12-05T23:59:00+08:00");
    let (s, c) = st.app.post("/v1/members/feng/checkins", json!({"at": "2026-12-06T00:01:00+08:00"})).await;
    assert_eq!((s, c["day"]["day"].as_str()), (StatusCode::CREATED, Some("2026-12-05")), "{c}");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_hundred_check_ins_at_once_pay_once() {
    let st = Story::new(&day(3)).await;
    st.app.member("wu").await;
    let futs = (0..100).map(|_| st.check_in("wu"));
    let results = futures_util::future::join_all(futs).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(results.iter().all(|(s, p)| *s == StatusCode::CREATED || p["code"] == "already_checked_in"), "{results:?}");
    assert_eq!(st.app.balances("wu").await["available"], 5);
    let (_, ledger) = st.app.get("/v1/members/wu/ledger").await;
    let earned = ledger["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "earn").count();
    assert_eq!(earned, 1, "{ledger}");
    st.app.assert_verified().await;
    // A day that says it earned more than the ledger credited is what `verify` names.
    st.app.store.execute_raw("UPDATE checkins SET points = points + 1").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(st.app.store.as_ref(), &st.app.program, 50).await.unwrap();
    assert!(
        r.violations.iter().any(|v| v.problem.contains("member wu: check-ins record 6 points earned, the ledger 5")),
        "{:?}",
        r.violations
    );
}

#[tokio::test]
async fn bad_input_is_named_by_field_and_writes_nothing() {
    let st = Story::new(&day(3)).await;
    st.app.member("qian").await;
    for (body, field) in [
        (json!({"at": "2026-12-03T10:00:00+08:00"}), "at"),
        (json!({"at": "2026-12-03T08:54:00+08:00"}), "at"),
        (json!({"at": "yesterday"}), "at"),
    ] {
        let (s, p) = st.app.post("/v1/members/qian/checkins", body.clone()).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {p}");
    }
    let (s, p) = st.app.post("/v1/members/qian/checkins", json!({"when": "now"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    for raw in ["2026-13-01", "12/01", ""] {
        let (s, p) = st.make_up("qian", raw).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("day")), "{raw}: {p}");
    }
    let (s, p) = st.make_up("qian", "2026-12-03").await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("day")),
        "today is checked in, not made up: {p}"
    );
    for q in ["2026-12-01", "2026-1", "1969-12", "month"] {
        let (s, p) = st.app.get(&format!("/v1/members/qian/checkins?month={q}")).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("month")), "{q}: {p}");
    }
    let (s, p) = st.check_in("nobody").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")), "{p}");
    let (s, p) = st.app.get("/v1/members/nobody/checkins").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")), "{p}");
    let c = st.calendar("qian", "2026-12").await;
    assert!(c["days"].as_array().unwrap().is_empty(), "nothing was written: {c}");
    assert_eq!(st.app.balances("qian").await["available"], 0);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn check_ins_off_are_refused() {
    let clock = loyalty_engine::ManualClock::at(day(1).parse().unwrap());
    let app = spawn_app_on("[checkin]\nenabled = false\n", clock).await;
    app.member("ma").await;
    let (s, p) = app.post("/v1/members/ma/checkins", json!({})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("checkin_off")), "{p}");
}

#[tokio::test]
async fn a_make_up_card_is_used_up_instead_of_the_points() {
    let st = Story::new(&day(1)).await;
    st.app.member("he").await;
    let issue = |id: &str, template: &str| json!({"template": template, "source": "issue", "id": id});
    let (s, c) = st.app.post("/v1/members/he/coupons", issue("card-1", "makeup-card")).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    st.set(&day(3));
    assert_eq!(st.check_in("he").await.0, StatusCode::CREATED);
    let (s, m) = st.app.post("/v1/members/he/checkins/makeups", json!({"day": "2026-12-02", "card": "card-1"})).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!((m["reward"]["cost_points"].as_i64(), m["day"]["card"].as_str()), (Some(0), Some("card-1")), "{m}");
    assert_eq!(m["balances"]["available"], 10, "two days' points, nothing paid for the make-up");
    let (_, coupons) = st.app.get("/v1/members/he/coupons?status=used").await;
    assert_eq!(coupons["items"].as_array().unwrap().len(), 1, "{coupons}");
    // Used once; a coupon that is no card, one the member does not hold: refused, nothing written.
    let (s, p) = st.app.post("/v1/members/he/checkins/makeups", json!({"day": "2026-12-01", "card": "card-1"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("card_not_usable")), "{p}");
    let (s, c) = st.app.post("/v1/members/he/coupons", issue("week-1", "gift-5")).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, p) = st.app.post("/v1/members/he/checkins/makeups", json!({"day": "2026-12-01", "card": "week-1"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("card")), "{p}");
    let (s, p) = st.app.post("/v1/members/he/checkins/makeups", json!({"day": "2026-12-01", "card": "nope"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("coupon_not_found")), "{p}");
    let c = st.calendar("he", "2026-12").await;
    assert_eq!((c["days"].as_array().unwrap().len(), c["makeups_left"].as_i64()), (2, Some(1)), "{c}");
    st.app.assert_verified().await;
}
