//! Tasks and challenges through the real server on a clock the test moves: a task completing
//! on the order that reaches it and not again on a retry, refunds taking back order progress
//! before completion, spend by category, periods starting again, activities, check-ins, a
//! complete profile and the first order, audiences, a hundred orders at once, and bad input
//! named by field with nothing written. Runs on SQLite and, with `LOYALTY_TEST_DATABASE_URL`,
//! on PostgreSQL.

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

[[coupon_templates]]
id = "task-gift"
name = "任务礼 满50减5"
benefit = { kind = "amount_off", value_minor = 500, threshold_minor = 5000 }
validity = { relative = { days = 30 } }
channels = ["engagement"]

[[tasks]]
id = "three-orders"
name = "本月下 3 单"
goal = { kind = "orders", target = 3 }
period = "monthly"
reward = { points = 200, coupon = "task-gift" }
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

    fn now(&self) -> Timestamp {
        use loyalty_engine::Clock;
        self.clock.now()
    }

    async fn task(&self, body: Value) -> Value {
        let (s, t) = self.app.post("/v1/tasks", body).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        t
    }

    /// Posts an order of `lines` (sku, category, paid) now; its status and body.
    async fn order(&self, member: &str, id: &str, lines: &[(&str, &str, i64)]) -> (StatusCode, Value) {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, cat, paid)| json!({"sku": sku, "category": cat, "quantity": 1, "unit_price_minor": paid, "paid_minor": paid}))
            .collect();
        let body = json!({"id": id, "member_id": member, "paid_at": self.now().to_string(), "currency": "CNY",
            "lines": lines, "shipping_minor": 0});
        self.app.post("/v1/orders", body).await
    }

    async fn tasks(&self, member: &str) -> Value {
        let (s, t) = self.app.get(&format!("/v1/members/{member}/tasks")).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        t
    }

    async fn progress(&self, member: &str, task: &str) -> Value {
        let t = self.tasks(member).await;
        t["tasks"].as_array().unwrap().iter().find(|x| x["task_id"] == task).cloned().unwrap_or(Value::Null)
    }
}

fn completions(t: &Value, task: &str) -> Vec<Value> {
    t["completions"].as_array().unwrap().iter().filter(|c| c["task_id"] == task).cloned().collect()
}

#[tokio::test]
async fn a_task_completes_on_the_order_that_reaches_it_and_not_again_on_a_retry() {
    let st = Story::new("2026-12-01T02:00:00Z").await;
    st.app.member("li").await;
    for n in 1..=2 {
        assert_eq!(st.order("li", &format!("o{n}"), &[("tea", "fresh", 5000)]).await.0, StatusCode::CREATED);
    }
    let p = st.progress("li", "three-orders").await;
    assert_eq!(
        (p["progress"].as_i64(), p["target"].as_i64(), p["completed"].as_bool()),
        (Some(2), Some(3), Some(false)),
        "{p}"
    );
    assert_eq!(p["hint"], "再下 1 单得 200 积分、优惠券");
    assert_eq!(p["period"], "2026-12");
    assert_eq!(p["deadline"], "2027-01-01T00:00:00+08:00");
    let before = st.app.balances("li").await;

    assert_eq!(st.order("li", "o3", &[("tea", "fresh", 5000)]).await.0, StatusCode::CREATED);
    let after = st.app.balances("li").await;
    assert_eq!(after["available"].as_i64().unwrap() - before["available"].as_i64().unwrap(), 200, "{after}");
    // The same order again is a replay, a fourth order is past the goal: neither pays.
    let (s, _) = st.order("li", "o3", &[("tea", "fresh", 5000)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st.order("li", "o4", &[("tea", "fresh", 5000)]).await.0, StatusCode::CREATED);
    let t = st.tasks("li").await;
    let done = completions(&t, "three-orders");
    assert_eq!(done.len(), 1, "{t}");
    assert_eq!((done[0]["points"].as_i64(), done[0]["period"].as_str()), (Some(200), Some("2026-12")));
    let coupon = done[0]["coupon_id"].as_str().expect("the reward coupon").to_owned();
    let (_, coupons) = st.app.get("/v1/members/li/coupons").await;
    assert!(coupons.to_string().contains(&coupon), "{coupons}");
    let p = st.progress("li", "three-orders").await;
    assert_eq!((p["completed"].as_bool(), p["hint"].as_str()), (Some(true), Some("已完成")));
    assert_eq!(st.app.balances("li").await["available"], after["available"]);

    // Next month the goal starts again.
    st.set("2027-01-02T02:00:00Z");
    assert_eq!(st.order("li", "o5", &[("tea", "fresh", 5000)]).await.0, StatusCode::CREATED);
    let p = st.progress("li", "three-orders").await;
    assert_eq!((p["period"].as_str(), p["progress"].as_i64()), (Some("2027-01"), Some(1)), "{p}");
    st.app.assert_verified().await;
    // A completion that says it paid more than the ledger holds is what `verify` names.
    st.app.store.execute_raw("UPDATE task_completions SET points = points + 1").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(st.app.store.as_ref(), &st.app.program, 50).await.unwrap();
    assert!(
        r.violations
            .iter()
            .any(|v| v.problem.contains("member li: task completions record 201 points paid, the ledger 200")),
        "{:?}",
        r.violations
    );
}

#[tokio::test]
async fn a_refund_takes_back_order_progress_before_the_task_completes() {
    let st = Story::new("2026-12-01T02:00:00Z").await;
    st.task(json!({"id": "beauty-300", "name": "美妆满 300", "goal": {"kind": "spend", "target": 30000, "category": "beauty"},
        "period": "monthly", "reward": {"points": 300}}))
        .await;
    st.app.member("li").await;
    let (s, o) = st.order("li", "o1", &[("lipstick", "beauty", 20000), ("tea", "fresh", 10000)]).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let p = st.progress("li", "beauty-300").await;
    assert_eq!(p["progress"], 20000, "only the beauty line counts: {p}");
    assert_eq!(p["hint"], "再消费 ¥100.00 得 300 积分");
    assert_eq!(st.progress("li", "three-orders").await["progress"], 1);

    // Lines refunded: the beauty line's part comes off, the tea line's does not.
    let (s, r) =
        st.app.post("/v1/orders/o1/refunds", json!({"id": "r1", "lines": [{"sku": "lipstick", "quantity": 1}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(st.progress("li", "beauty-300").await["progress"], 0);
    assert_eq!(st.progress("li", "three-orders").await["progress"], 1, "the order still has a line");
    // The refund again changes nothing.
    let (s, _) =
        st.app.post("/v1/orders/o1/refunds", json!({"id": "r1", "lines": [{"sku": "lipstick", "quantity": 1}]})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) =
        st.app.post("/v1/orders/o1/refunds", json!({"id": "r2", "lines": [{"sku": "tea", "quantity": 1}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(st.progress("li", "three-orders").await["progress"], 0, "a fully refunded order does not count");

    // An amount refund is spread by what the lines were paid.
    st.order("li", "o2", &[("lipstick", "beauty", 30000), ("tea", "fresh", 10000)]).await;
    let p = st.progress("li", "beauty-300").await;
    assert_eq!(p["completed"], true, "{p}");
    let (s, _) = st.app.post("/v1/orders/o2/refunds", json!({"id": "r3", "amount_minor": 40000})).await;
    assert_eq!(s, StatusCode::CREATED);
    let p = st.progress("li", "beauty-300").await;
    assert_eq!(
        (p["completed"].as_bool(), p["progress"].as_i64()),
        (Some(true), Some(30000)),
        "a completed task keeps its reward: {p}"
    );
    assert_eq!(completions(&st.tasks("li").await, "beauty-300").len(), 1);

    st.order("li", "o3", &[("cream", "beauty", 10000), ("tea", "fresh", 10000)]).await;
    let (s, _) = st.app.post("/v1/orders/o3/refunds", json!({"id": "r4", "amount_minor": 10000})).await;
    assert_eq!(s, StatusCode::CREATED);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn activities_checkins_profile_and_first_order_move_their_tasks_once() {
    let st = Story::new("2026-12-01T02:00:00Z").await;
    st.app.member("old").await;
    assert_eq!(st.order("old", "before", &[("tea", "fresh", 1000)]).await.0, StatusCode::CREATED);
    st.set("2026-12-01T03:00:00Z");
    st.task(
        json!({"id": "reviews", "name": "写 2 条评价", "goal": {"kind": "activity", "activity": "review", "target": 2},
        "reward": {"growth": 30}}),
    )
    .await;
    st.task(json!({"id": "week-checkins", "name": "本周签到 2 天", "goal": {"kind": "checkins", "target": 2}, "period": "weekly",
        "reward": {"points": 20}})).await;
    st.task(json!({"id": "profile", "name": "完善资料", "goal": {"kind": "profile"}, "reward": {"points": 50}})).await;
    st.task(json!({"id": "first", "name": "首单礼", "goal": {"kind": "first_order"}, "reward": {"points": 100}})).await;

    let review = |id: &str| json!({"id": id, "type": "review", "occurred_at": "2026-12-01T03:00:00Z"});
    for id in ["a1", "a1", "a2", "a3"] {
        let (s, a) = st.app.post("/v1/members/old/activities", review(id)).await;
        assert!(s.is_success(), "{a}");
    }
    let t = st.tasks("old").await;
    assert_eq!(completions(&t, "reviews").len(), 1, "{t}");
    assert_eq!(st.progress("old", "reviews").await["completed"], true);

    // 2026-12-01 is a Tuesday: two days of check-ins in the week complete it.
    assert_eq!(st.app.post("/v1/members/old/checkins", json!({})).await.0, StatusCode::CREATED);
    assert_eq!(st.progress("old", "week-checkins").await["period"], "2026-W49");
    st.set("2026-12-02T03:00:00Z");
    assert_eq!(st.app.post("/v1/members/old/checkins", json!({})).await.0, StatusCode::CREATED);
    assert_eq!(completions(&st.tasks("old").await, "week-checkins").len(), 1);
    st.set("2026-12-07T03:00:00Z"); // Monday: a new week
    assert_eq!(st.progress("old", "week-checkins").await["progress"], 0);

    // A profile complete pays once, however often it is sent.
    let full = json!({"name": "Li", "phone": "13800000000", "email": "li@example.com", "birthday": "1990-05-18"});
    assert!(st.app.put("/v1/members/old", json!({"name": "Li"})).await.0.is_success());
    assert_eq!(completions(&st.tasks("old").await, "profile").len(), 0);
    for _ in 0..2 {
        assert!(st.app.put("/v1/members/old", full.clone()).await.0.is_success());
    }
    assert_eq!(completions(&st.tasks("old").await, "profile").len(), 1);

    // The first order ever pays; a member who ordered before the task does not get it.
    st.app.member("new").await;
    st.order("new", "n1", &[("tea", "fresh", 1000)]).await;
    st.order("new", "n2", &[("tea", "fresh", 1000)]).await;
    st.order("old", "o1", &[("tea", "fresh", 1000)]).await;
    assert_eq!(completions(&st.tasks("new").await, "first").len(), 1);
    assert_eq!(completions(&st.tasks("old").await, "first").len(), 0);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn audiences_and_spans_decide_who_and_when() {
    let st = Story::new("2026-12-01T02:00:00Z").await;
    st.task(json!({"id": "gold-only", "name": "金卡专享", "goal": {"kind": "orders", "target": 1},
        "audience": {"min_tier": "gold"}, "reward": {"points": 10}}))
        .await;
    st.task(json!({"id": "newcomers", "name": "新人 7 天内下单", "goal": {"kind": "orders", "target": 1},
        "new_members_days": 7, "reward": {"points": 10}}))
        .await;
    st.task(
        json!({"id": "challenge", "name": "双 12 挑战", "goal": {"kind": "orders", "target": 1}, "period": "window",
        "starts_at": "2026-12-12T00:00:00+08:00", "ends_at": "2026-12-13T00:00:00+08:00", "reward": {"points": 10}}),
    )
    .await;
    st.app.member("li").await;
    let p = st.progress("li", "gold-only").await;
    assert_eq!((p["eligible"].as_bool(), p["hint"].as_str()), (Some(false), Some("暂不满足参与条件")));
    st.set("2026-12-09T02:00:00Z");
    st.order("li", "o1", &[("tea", "fresh", 1000)]).await;
    let t = st.tasks("li").await;
    assert!(completions(&t, "gold-only").is_empty() && completions(&t, "newcomers").is_empty(), "{t}");
    assert!(completions(&t, "challenge").is_empty(), "before the window");
    st.set("2026-12-12T02:00:00Z");
    st.order("li", "o2", &[("tea", "fresh", 1000)]).await;
    assert_eq!(completions(&st.tasks("li").await, "challenge").len(), 1);
    st.set("2026-12-13T02:00:00Z");
    assert!(st.progress("li", "challenge").await.is_null(), "an ended window is no longer listed");
    // A segment audience is decided on the latest insight run: with none yet, nobody is in it.
    st.task(json!({"id": "champions", "name": "冠军客户", "goal": {"kind": "orders", "target": 1},
        "audience": {"segments": ["champions"]}, "reward": {"points": 10}}))
        .await;
    assert!(st.progress("li", "champions").await["eligible"].is_null(), "decided when an event arrives");
    st.order("li", "o3", &[("tea", "fresh", 1000)]).await;
    assert!(completions(&st.tasks("li").await, "champions").is_empty());
    // Paused: events do not count.
    st.app.member("wu").await;
    let (s, t) = st.app.patch("/v1/tasks/newcomers", json!({"status": "paused"})).await;
    assert_eq!((s, t["status"].as_str()), (StatusCode::OK, Some("paused")), "{t}");
    st.order("wu", "w1", &[("tea", "fresh", 1000)]).await;
    assert!(completions(&st.tasks("wu").await, "newcomers").is_empty());
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_hundred_orders_at_once_count_each_once_and_pay_once() {
    let st = Story::new("2026-12-01T02:00:00Z").await;
    st.task(
        json!({"id": "fifty", "name": "50 单", "goal": {"kind": "orders", "target": 50}, "reward": {"points": 500}}),
    )
    .await;
    st.app.member("li").await;
    // Fifty distinct orders, each sent twice at once.
    let st = &st;
    let futs = (0..100).map(|i| async move { st.order("li", &format!("c{}", i % 50), &[("tea", "fresh", 100)]).await });
    let results = futures_util::future::join_all(futs).await;
    assert!(results.iter().all(|(s, _)| s.is_success()), "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    let t = st.tasks("li").await;
    assert_eq!(completions(&t, "fifty").len(), 1, "{t}");
    assert_eq!(st.progress("li", "fifty").await["progress"], 50);
    assert_eq!(st.progress("li", "three-orders").await["progress"], 3);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn bad_tasks_are_refused_by_field_and_nothing_is_written() {
    let st = Story::new("2026-12-01T02:00:00Z").await;
    let base = json!({"id": "t", "name": "x", "goal": {"kind": "orders", "target": 1}, "reward": {"points": 1}});
    let with = |path: &[&str], v: Value| {
        let mut b = base.clone();
        let mut cur = &mut b;
        for k in &path[..path.len() - 1] {
            cur = cur.get_mut(*k).unwrap();
        }
        cur[path[path.len() - 1]] = v;
        b
    };
    let cases = [
        (with(&["id"], json!("bad id")), "id"),
        (with(&["goal", "target"], json!(0)), "goal.target"),
        (with(&["goal", "kind"], json!("dance")), "goal.kind"),
        (with(&["goal", "category"], json!("beauty")).tap_kind("checkins"), "goal.category"),
        (with(&["goal", "kind"], json!("activity")), "goal.activity"),
        (with(&["period"], json!("window")), "ends_at"),
        (with(&["reward"], json!({})), "reward"),
        (with(&["reward", "coupon"], json!("no-such")), "reward.coupon"),
        (with(&["audience"], json!({"min_tier": "platinum"})), "audience.min_tier"),
        (with(&["new_members_days"], json!(0)), "new_members_days"),
    ];
    for (body, field) in cases {
        let (s, p) = st.app.post("/v1/tasks", body.clone()).await;
        assert!(s.is_client_error(), "{body}: {s} {p}");
        assert!(p.to_string().contains(field), "{body}: expected {field} in {p}");
    }
    let (_, list) = st.app.get("/v1/tasks").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "only the programme's task: {list}");
    let (s, p) = st.app.patch("/v1/tasks/three-orders", json!({"status": "sleeping"})).await;
    assert!(s.is_client_error() && p.to_string().contains("status"), "{p}");
    assert_eq!(st.app.patch("/v1/tasks/three-orders", json!({"status": "ended"})).await.0, StatusCode::OK);
    let (s, p) = st.app.patch("/v1/tasks/three-orders", json!({"status": "active"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(st.app.get("/v1/tasks/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(st.app.get("/v1/members/nobody/tasks").await.0, StatusCode::NOT_FOUND);
    // The same task sent again is the same task; other terms are a conflict.
    let ok = json!({"id": "again", "name": "a", "goal": {"kind": "orders", "target": 2}, "reward": {"points": 1}});
    assert_eq!(st.app.post("/v1/tasks", ok.clone()).await.0, StatusCode::CREATED);
    st.set("2026-12-02T02:00:00Z");
    assert_eq!(st.app.post("/v1/tasks", ok.clone()).await.0, StatusCode::OK);
    let mut other = ok.clone();
    other["goal"]["target"] = json!(3);
    assert_eq!(st.app.post("/v1/tasks", other).await.0, StatusCode::CONFLICT);
}

trait TapKind {
    fn tap_kind(self, kind: &str) -> Self;
}

impl TapKind for Value {
    fn tap_kind(mut self, kind: &str) -> Self {
        self["goal"]["kind"] = json!(kind);
        self
    }
}

#[test]
fn the_programme_file_names_a_bad_task_by_key() {
    let bad = format!("{PROGRAM}\n[[tasks]]\nid = \"x\"\nname = \"x\"\ngoal = {{ kind = \"orders\", target = 0 }}\nreward = {{ points = 1 }}\n");
    let err = loyalty_core::Program::from_toml(&bad).unwrap_err();
    assert!(err.0.iter().any(|i| i.field == "tasks[1].goal.target"), "{err:?}");
    let bad = PROGRAM.replace("channels = [\"engagement\"]", "channels = [\"issue\"]");
    let err = loyalty_core::Program::from_toml(&bad).unwrap_err();
    assert!(err.0.iter().any(|i| i.field == "tasks[0].reward.coupon"), "{err:?}");
}
