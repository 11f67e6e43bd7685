//! Referral (邀请有礼) through the real server on a clock the test moves: a stable code looked
//! up (a collision resolved), a referral paid to both sides once the first order's window has
//! passed and not before, a refund inside the window cancelling it, every abuse case refused
//! with its reason and listed, the monthly cap, concurrent creates of one invitee counting
//! once, a replayed job paying once, and bad input named by field with nothing written. Runs on
//! SQLite and, with `LOYALTY_TEST_DATABASE_URL`, on PostgreSQL.

mod common;

use common::*;
use jiff::{SignedDuration, Timestamp};
use loyalty_engine::Clock;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROGRAM: &str = r#"
[member_day]
day_of_month = 0
[birthday]
points_multiplier = 1.0

[referral]
enabled = true
window_days = 7
monthly_cap = 2
code_salt = "test-salt"
referrer = { points = 200, growth = 10, coupon = "ref-gift" }
invitee = { points = 100 }

[[coupon_templates]]
id = "ref-gift"
name = "邀请有礼 满50减10"
benefit = { kind = "amount_off", value_minor = 1000, threshold_minor = 5000 }
validity = { relative = { days = 30 } }
channels = ["engagement"]
"#;

const T0: &str = "2026-12-01T10:00:00+08:00";

struct Story {
    app: TestApp,
    clock: std::sync::Arc<loyalty_engine::ManualClock>,
}

impl Story {
    async fn new() -> Self {
        let clock = loyalty_engine::ManualClock::at(T0.parse().unwrap());
        let app = spawn_app_on(PROGRAM, clock.clone()).await;
        Self { app, clock }
    }

    fn days(&self, d: i64) {
        let t: Timestamp = T0.parse().unwrap();
        self.clock.set(t.checked_add(SignedDuration::from_hours(24 * d)).unwrap());
    }

    async fn code(&self, member: &str) -> String {
        let (s, v) = self.app.get(&format!("/v1/members/{member}/referral")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["code"].as_str().unwrap().to_owned()
    }

    /// Registers `member` with `body` and the referrer's code: the status and the answer.
    async fn register(&self, member: &str, code: &str, mut body: Value) -> (StatusCode, Value) {
        body["referred_by"] = json!(code);
        self.app.put(&format!("/v1/members/{member}"), body).await
    }

    async fn order(&self, id: &str, member: &str) {
        let body = json!({
            "id": id, "member_id": member, "paid_at": self.clock.now().to_string(), "currency": "CNY",
            "lines": [{"sku": "S", "quantity": 1, "unit_price_minor": 10_000, "paid_minor": 10_000}],
        });
        let (s, v) = self.app.post("/v1/orders", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }

    /// Runs the scheduler's referral job at the clock's instant, through the server's writer.
    async fn run_job(&self) -> usize {
        let now = self.clock.now();
        loyalty_engine::jobs::send_referral_settlements(self.app.store.as_ref(), &self.app.state.writer, now).await
    }

    async fn referrals(&self, member: &str) -> Value {
        let (s, v) = self.app.get(&format!("/v1/members/{member}/referrals")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn available(&self, member: &str) -> i64 {
        self.app.balances(member).await["available"].as_i64().unwrap()
    }
}

fn state(v: &Value) -> (String, Option<String>) {
    (v["state"].as_str().unwrap().to_owned(), v["reason"].as_str().map(str::to_owned))
}

/// A member's code is the same on every call, is accepted back in any case, and a code
/// another member holds moves to the member's next candidate.
#[tokio::test]
async fn a_code_is_stable_looked_up_and_a_collision_moves_on() {
    let st = Story::new().await;
    st.app.member("alice").await;
    let code = st.code("alice").await;
    assert_eq!(code.len(), 8);
    assert_eq!(st.code("alice").await, code, "stable");
    let (s, v) = st.register("bob", &code.to_lowercase(), json!({"name": "Bob"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(state(&v["referral"]), ("pending".into(), None));
    assert_eq!(v["referral"]["referrer_id"], "alice");
    let (s, _) = st.app.get("/v1/members/nobody/referral").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Someone already holds carol's first candidate: carol gets her second.
    let carol = loyalty_core::ids::MemberId::parse("carol").unwrap();
    let first = loyalty_core::engagement::referral::code_for(&carol, 0, "test-salt");
    let second = loyalty_core::engagement::referral::code_for(&carol, 1, "test-salt");
    let sql = format!("INSERT INTO referral_codes (member_id, code, created_at) VALUES ('zed', '{first}', 0)");
    st.app.store.execute_raw(&sql).await.unwrap();
    st.app.member("carol").await;
    assert_eq!(st.code("carol").await, second.to_string());
    assert_eq!(st.code("carol").await, second.to_string());
    st.app.assert_verified().await;
}

/// Both sides are paid once the first order's window has passed, not a moment before, and the
/// job run again (or the same settlement sent twice at once) pays nothing more.
#[tokio::test]
async fn a_referral_pays_both_sides_after_the_window_and_once() {
    let st = Story::new().await;
    st.app.member("alice").await;
    let code = st.code("alice").await;
    st.register("bob", &code, json!({})).await;
    st.order("o-bob-1", "bob").await;
    let list = st.referrals("alice").await;
    assert_eq!(state(&list["invitees"][0]), ("qualifying".into(), None));
    assert_eq!(list["invitees"][0]["first_order_id"], "o-bob-1");

    st.days(6);
    st.order("o-bob-2", "bob").await;
    assert_eq!(st.run_job().await, 0, "not due before the window ends");
    assert_eq!(st.available("alice").await, 0);

    st.days(7);
    assert_eq!(st.run_job().await, 1);
    assert_eq!(st.run_job().await, 0, "paid: no longer due");
    let bob = loyalty_core::ids::MemberId::parse("bob").unwrap();
    let twice =
        [0, 1].map(|_| st.app.state.writer.submit(loyalty_engine::Command::SettleReferral { invitee: bob.clone() }));
    for r in futures_util::future::join_all(twice).await {
        assert!(matches!(r, Ok(loyalty_engine::Outcome::Referral(_))), "{r:?}");
    }
    assert_eq!(st.available("alice").await, 200);
    let list = st.referrals("alice").await;
    let r = &list["invitees"][0];
    assert_eq!(state(r), ("rewarded".into(), None));
    assert_eq!(
        (r["referrer_reward"]["points"].as_i64(), r["referrer_reward"]["growth"].as_i64()),
        (Some(200), Some(10))
    );
    assert_eq!(r["invitee_reward"]["points"], 100);
    assert_eq!(r["month"], "2026-12");
    let coupon = r["referrer_reward"]["coupon"].as_str().expect("the referrer's coupon").to_owned();
    let (_, coupons) = st.app.get("/v1/members/alice/coupons").await;
    assert!(coupons.to_string().contains(&coupon), "{coupons}");
    let (_, ledger) = st.app.get("/v1/members/bob/ledger?kind=earn").await;
    let referral: Vec<&Value> =
        ledger["items"].as_array().unwrap().iter().filter(|e| e["source"] == "referral").collect();
    assert_eq!(referral.len(), 1, "{ledger}");
    assert_eq!(referral[0]["points"], 100);
    assert_eq!(list["points_earned"], 200);
    assert_eq!(st.referrals("bob").await["invited_by"][0]["state"], "rewarded");

    let (s, rep) = st.app.get("/v1/referrals/report?from=2026-12-01&to=2026-12-31").await;
    assert_eq!(s, StatusCode::OK, "{rep}");
    assert_eq!(
        (rep["invitations"].as_i64(), rep["conversions"].as_i64(), rep["rewarded"].as_i64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!((rep["cost_points"].as_i64(), rep["cost_coupons"].as_i64()), (Some(300), Some(1)));
    assert_eq!(rep["top_referrers"][0]["referrer_id"], "alice");
    let (_, export) = st.app.get("/v1/members/alice/export").await;
    assert_eq!(export["referrals"][0]["invitee_id"], "bob", "{export}");
    st.app.assert_verified().await;
    // A reward the ledger does not hold is what `verify` reports, by the invitee.
    st.app.store.execute_raw("UPDATE referrals SET referrer_points = 201").await.unwrap();
    let v = violations(&st.app).await;
    assert!(v.iter().any(|(m, p)| m == "bob" && p.contains("the ledger credited 200 and 100")), "{v:?}");
}

async fn violations(app: &TestApp) -> Vec<(String, String)> {
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    r.violations.into_iter().map(|v| (v.member_id, v.problem)).collect()
}

/// A refund of the first order inside the window, even of part of it, cancels the referral:
/// nothing is paid when the window ends.
#[tokio::test]
async fn a_refund_inside_the_window_cancels_the_reward() {
    let st = Story::new().await;
    st.app.member("alice").await;
    let code = st.code("alice").await;
    st.register("bob", &code, json!({})).await;
    st.order("o1", "bob").await;
    st.days(2);
    let (s, v) = st.app.post("/v1/orders/o1/refunds", json!({"id": "r1", "amount_minor": 2_000})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        state(&st.referrals("alice").await["invitees"][0]),
        ("cancelled".into(), Some("first_order_refunded".into()))
    );
    st.days(8);
    assert_eq!(st.run_job().await, 0);
    assert_eq!(st.available("alice").await, 0);
    let (_, rep) = st.app.get("/v1/referrals/report?from=2026-12-01&to=2026-12-31").await;
    assert_eq!(rep["refused"], json!([{"reason": "first_order_refunded", "count": 1}]));
    st.app.assert_verified().await;
}

/// Self-referral, the referrer's phone or email (after normalising), an invitee who already
/// existed, and a loop are each refused with their reason, the member's other fields still
/// applied, and listed for the referrer and in the report.
#[tokio::test]
async fn each_abuse_case_is_refused_with_its_reason() {
    let st = Story::new().await;
    st.app.put("/v1/members/alice", json!({"phone": "+86 138-0013-8000", "email": "Alice@Example.com"})).await;
    st.app.member("carol").await;
    let code = st.code("alice").await;
    let cases = [
        ("alice", json!({}), StatusCode::OK, "self_referral"),
        ("carol", json!({"name": "Carol C"}), StatusCode::OK, "invitee_existed"),
        ("dave", json!({"phone": "8613800138000"}), StatusCode::CREATED, "same_phone"),
        ("erin", json!({"email": " alice@example.COM "}), StatusCode::CREATED, "same_email"),
    ];
    for (member, body, status, reason) in cases {
        let (s, v) = st.register(member, &code, body).await;
        assert_eq!(s, status, "{member}: {v}");
        assert_eq!(state(&v["referral"]), ("refused".into(), Some(reason.into())), "{member}: {v}");
    }
    let (_, carol) = st.app.get("/v1/members/carol").await;
    assert_eq!(carol["name"], "Carol C", "the PUT's other fields apply");
    // Alice invites bob; alice registering with bob's code would close a loop.
    st.register("bob", &code, json!({})).await;
    let bob_code = st.code("bob").await;
    let (_, v) = st.register("alice", &bob_code, json!({})).await;
    assert_eq!(state(&v["referral"]), ("refused".into(), Some("loop".into())));

    let list = st.referrals("alice").await;
    let mut reasons: Vec<String> = list["invitees"].as_array().unwrap().iter().filter_map(|r| state(r).1).collect();
    reasons.sort();
    assert_eq!(reasons, ["invitee_existed", "same_email", "same_phone", "self_referral"]);
    assert_eq!((list["counts"]["refused"].as_i64(), list["counts"]["pending"].as_i64()), (Some(4), Some(1)));
    assert_eq!(state(&st.referrals("bob").await["invitees"][0]), ("refused".into(), Some("loop".into())));
    let (_, rep) = st.app.get("/v1/referrals/report").await;
    let by: Vec<String> =
        rep["refused"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap().to_owned()).collect();
    assert_eq!(by, ["invitee_existed", "loop", "same_email", "same_phone", "self_referral"], "{rep}");
    assert_eq!(rep["invitations"], 6);
    // The refused never pay, whatever they order.
    st.order("o-dave", "dave").await;
    st.days(8);
    assert_eq!(st.run_job().await, 0);
    st.app.assert_verified().await;
}

/// At most `monthly_cap` invitees are rewarded per referrer in a local month: the third due
/// that month is refused `monthly_cap`; a referral due next month is paid again.
#[tokio::test]
async fn the_monthly_cap_refuses_the_reward_over_it() {
    let st = Story::new().await;
    st.app.member("alice").await;
    let code = st.code("alice").await;
    for i in 1..=4 {
        st.register(&format!("b{i}"), &code, json!({})).await;
    }
    for i in 1..=3 {
        st.order(&format!("o{i}"), &format!("b{i}")).await;
    }
    st.days(7);
    assert_eq!(st.run_job().await, 3);
    let list = st.referrals("alice").await;
    assert_eq!((list["counts"]["rewarded"].as_i64(), list["counts"]["refused"].as_i64()), (Some(2), Some(1)));
    let refused: Vec<&Value> =
        list["invitees"].as_array().unwrap().iter().filter(|r| r["state"] == "refused").collect();
    assert_eq!(refused[0]["reason"], "monthly_cap");
    assert_eq!(st.available("alice").await, 400);
    // December is full; b4's first order pays in January.
    st.days(30);
    st.order("o4", "b4").await;
    st.days(38);
    assert_eq!(st.run_job().await, 1);
    assert_eq!(st.available("alice").await, 600);
    st.app.assert_verified().await;
    // Three rewarded in one month is over the cap: `verify` names the referrer and the month.
    st.app
        .store
        .execute_raw("UPDATE referrals SET state = 'rewarded', reason = NULL WHERE reason = 'monthly_cap'")
        .await
        .unwrap();
    let v = violations(&st.app).await;
    assert!(v.iter().any(|(m, p)| m == "alice" && p.contains("2026-12: 3 invitees rewarded")), "{v:?}");
}

/// Twenty creates of one invitee at once, with one referrer's code, record one referral; a
/// create at once with another referrer's code is refused, not a second referral.
#[tokio::test]
async fn concurrent_creates_of_one_invitee_count_once() {
    let st = Story::new().await;
    st.app.member("alice").await;
    st.app.member("zoe").await;
    let (a, z) = (st.code("alice").await, st.code("zoe").await);
    let puts = (0..20).map(|i| st.register("newbie", if i == 7 { &z } else { &a }, json!({"name": "N"})));
    let answers = futures_util::future::join_all(puts).await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1);
    let live: Vec<&Value> = answers.iter().map(|(_, v)| &v["referral"]).filter(|r| r["state"] == "pending").collect();
    assert!(!live.is_empty());
    let referrer = live[0]["referrer_id"].as_str().unwrap();
    let pending = |v: &Value| v["invitees"].as_array().unwrap().iter().filter(|r| r["state"] == "pending").count();
    let (alice, zoe) = (st.referrals("alice").await, st.referrals("zoe").await);
    assert_eq!(pending(&alice) + pending(&zoe), 1);
    let other = if referrer == "alice" { &zoe } else { &alice };
    assert_eq!(state(&other["invitees"][0]), ("refused".into(), Some("invitee_existed".into())));
    assert_eq!(st.referrals("newbie").await["invited_by"].as_array().unwrap().len(), 2);
    st.app.assert_verified().await;
}

/// A code that does not parse, a code no one holds, and a mistyped field are each a 4xx
/// problem naming the field, and create nothing; a bad report range names its parameter.
#[tokio::test]
async fn bad_input_is_named_by_field_and_writes_nothing() {
    let st = Story::new().await;
    st.app.member("alice").await;
    for (code, status) in [
        (json!("BAD!CODE"), StatusCode::UNPROCESSABLE_ENTITY),
        (json!("ABC"), StatusCode::UNPROCESSABLE_ENTITY),
        (json!("ZZZZZZZZ"), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(12345678), StatusCode::BAD_REQUEST),
    ] {
        let (s, p) = st.app.put("/v1/members/ghost", json!({"name": "G", "referred_by": code})).await;
        assert_eq!((s, p["field"].as_str()), (status, Some("referred_by")), "{code}: {p}");
    }
    let (s, _) = st.app.get("/v1/members/ghost").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was created");
    for (q, field) in [("from=2026-13-01", "from"), ("to=yesterday", "to"), ("from=2026-12-05&to=2026-12-01", "from")] {
        let (s, p) = st.app.get(&format!("/v1/referrals/report?{q}")).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{q}: {p}");
    }
    let (s, p) = st.app.get("/v1/referrals/report?limit=3").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(st.referrals("alice").await["invitees"], json!([]));
}

/// With `[referral]` off (the default), `referred_by` is refused by name and nothing is written.
#[tokio::test]
async fn referral_off_refuses_referred_by() {
    let app = spawn_app().await;
    app.member("alice").await;
    let (s, v) = app.get("/v1/members/alice/referral").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let code = v["code"].as_str().unwrap();
    let (s, p) = app.put("/v1/members/bob", json!({"referred_by": code})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("referred_by")), "{p}");
    let (s, _) = app.get("/v1/members/bob").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
