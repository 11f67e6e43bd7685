//! The event log through the real server on a clock the test moves (issue 18 §1): each event
//! type produced by its real cause, once; replays and retries adding nothing; pages covering
//! the log exactly once in commit order, also while several writers commit at once; the types
//! filter moving on over positions it does not return; `points.expiring` once a local day
//! across runs and a restart; the import emitting as HTTP does; bad input named by field; and
//! `verify` over the log. Runs on SQLite and, with `LOYALTY_TEST_DATABASE_URL`, on PostgreSQL.

mod common;

use common::*;
use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::MemberId;
use loyalty_engine::{apply_batch, Clock, Command};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;

const PROGRAM: &str = r#"
[member_day]
day_of_month = 0
[birthday]
points_multiplier = 1.0

[expiry]
policy = "rolling"
days = 30

[events]
expiring_days = 7

[checkin]
points = 5
milestones = [{ day = 2, points = 10 }]

[referral]
enabled = true
window_days = 7
code_salt = "events"
referrer = { points = 200 }
invitee = { points = 100 }

[[coupon_templates]]
id = "spring"
name = "满200减20"
benefit = { kind = "amount_off", value_minor = 2000, threshold_minor = 20000 }
validity = { relative = { days = 30 } }
channels = ["issue"]

[[tasks]]
id = "two-orders"
name = "本月下 2 单"
goal = { kind = "orders", target = 2 }
period = "monthly"
reward = { points = 50 }

[[plans]]
code = "plus"
name = "PLUS 月卡"
price_minor = 3100
term = "month"
refund = "pro_rata"
"#;

const T0: &str = "2026-12-01T10:00:00+08:00";

struct Story {
    app: TestApp,
    clock: std::sync::Arc<loyalty_engine::ManualClock>,
}

impl Story {
    async fn new() -> Self {
        Self::with(PROGRAM, T0).await
    }

    async fn with(program: &str, start: &str) -> Self {
        let clock = loyalty_engine::ManualClock::at(start.parse().unwrap());
        let app = spawn_app_on(program, clock.clone()).await;
        Self { app, clock }
    }

    /// Moves the clock `secs` on: two writes of one member at one instant would be one change.
    fn tick(&self, secs: i64) {
        self.clock.set(self.clock.now().checked_add(SignedDuration::from_secs(secs)).unwrap());
    }

    fn day(&self, d: i64) {
        let t: Timestamp = T0.parse().unwrap();
        self.clock.set(t.checked_add(SignedDuration::from_hours(24 * d)).unwrap());
    }

    /// What is due at the clock's instant, as `loyalty jobs run` applies it.
    async fn jobs(&self) -> loyalty_engine::jobs::JobReport {
        loyalty_engine::jobs::run_due(self.app.store.as_ref(), &self.app.program, self.clock.now()).await.unwrap()
    }

    async fn order(&self, id: &str, member: &str, paid_minor: i64) -> Value {
        let (s, o) = self.app.post("/v1/orders", self.order_body(id, member, paid_minor)).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        o
    }

    fn order_body(&self, id: &str, member: &str, paid_minor: i64) -> Value {
        json!({"id": id, "member_id": member, "paid_at": self.clock.now().to_string(), "currency": "CNY",
            "lines": [{"sku": "S", "quantity": 1, "unit_price_minor": paid_minor, "paid_minor": paid_minor}]})
    }

    /// Every event after `after`, read page by page.
    async fn all_after(&self, after: Option<&str>, query: &str, limit: i64) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_owned);
        for _ in 0..100_000 {
            let after = cursor.as_ref().map(|c| format!("&after={c}")).unwrap_or_default();
            let (s, page) = self.app.get(&format!("/v1/events?limit={limit}{after}{query}")).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
            if !page["has_more"].as_bool().unwrap() {
                return out;
            }
        }
        panic!("the log never ended");
    }

    async fn all(&self) -> Vec<Value> {
        self.all_after(None, "", 1000).await
    }

    /// The types of the member's events, in log order.
    async fn types_of(&self, member: &str) -> Vec<String> {
        let all = self.all().await;
        all.iter().filter(|e| e["member_id"] == member).map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    }

    async fn last_of(&self, member: &str, kind: &str) -> Value {
        let all = self.all().await;
        all.into_iter()
            .rev()
            .find(|e| e["member_id"] == member && e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    }
}

/// The log's own promises over everything it holds: ids unique, cursors strictly rising.
fn assert_well_formed(events: &[Value]) {
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
    let cursors: Vec<&str> = events.iter().map(|e| e["cursor"].as_str().unwrap()).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "cursors rise: {cursors:?}");
    for e in events {
        assert_eq!(e["payload"]["v"], 1, "{e}");
    }
}

/// A member's life in the engine: every change a store or the member cares about is one
/// event of its type, with the figures of its cause, and nothing else is.
#[tokio::test]
async fn each_state_change_is_one_event_of_its_type() {
    let st = Story::new().await;
    let (s, _) = st.app.put("/v1/members/alice", json!({"name": "Alice"})).await;
    assert_eq!(s, StatusCode::CREATED);
    st.tick(1);
    st.app.put("/v1/members/alice", json!({"phone": "13800000000", "email": "a@example.com"})).await;
    let updated = st.last_of("alice", "member.updated").await;
    assert_eq!(updated["payload"], json!({"v": 1, "fields": ["phone", "email"], "status": "active", "erased": false}));

    // ¥2,000 of goods: 2,000 points pending for the return window, and silver.
    st.tick(1);
    let o1 = st.order("o1", "alice", 200_000).await;
    let placed = st.last_of("alice", "order.placed").await;
    assert_eq!(placed["payload"]["order_id"], "o1");
    assert_eq!(placed["payload"]["points"], o1["earned_points"]);
    assert_eq!(placed["payload"]["points_status"], "pending");
    let activates: Timestamp = placed["payload"]["activates_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(activates, o1["points_activate_at"].as_str().unwrap().parse::<Timestamp>().unwrap());
    let paid: Timestamp = o1["paid_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(placed["occurred_at"].as_str().unwrap().parse::<Timestamp>().unwrap(), paid);
    let up = st.last_of("alice", "tier.upgraded").await;
    assert_eq!((up["payload"]["to"].as_str(), up["payload"]["cause"].as_str()), (Some("silver"), Some("growth")));

    // The second order of the month completes the task (its points are the task's, earned).
    st.tick(1);
    st.order("o2", "alice", 10_000).await;
    let done = st.last_of("alice", "task.completed").await;
    assert_eq!(
        (done["payload"]["task_id"].as_str(), done["payload"]["points"].as_i64()),
        (Some("two-orders"), Some(50))
    );
    let earned = st.last_of("alice", "points.earned").await;
    assert_eq!(
        (
            earned["payload"]["source"].as_str(),
            earned["payload"]["points"].as_i64(),
            earned["payload"]["points_status"].as_str()
        ),
        (Some("task"), Some(50), Some("active"))
    );

    // A coupon issued, then used by an order priced as checkout prices it.
    st.tick(1);
    let (s, c) =
        st.app.post("/v1/members/alice/coupons", json!({"template": "spring", "source": "issue", "id": "c1"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let cart = json!({"member_id": "alice", "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 30_000}], "coupons": ["c1"]});
    let (_, eval) = st.app.post("/v1/checkout/evaluate", cart).await;
    let paid_minor = eval["lines"][0]["paid_minor"].as_i64().unwrap();
    let body = json!({"id": "o3", "member_id": "alice", "paid_at": st.clock.now().to_string(), "currency": "CNY",
        "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 30_000, "paid_minor": paid_minor}], "coupons": ["c1"]});
    let (s, o3) = st.app.post("/v1/orders", body).await;
    assert_eq!(s, StatusCode::CREATED, "{o3}");
    let used = st.last_of("alice", "coupon.used").await;
    assert_eq!((used["payload"]["coupon_id"].as_str(), used["payload"]["order_id"].as_str()), (Some("c1"), Some("o3")));
    assert_eq!(st.last_of("alice", "coupon.issued").await["payload"]["template_id"], "spring");

    // A refund of half of o1 claws half its points back.
    st.tick(1);
    let (s, r) = st.app.post("/v1/orders/o1/refunds", json!({"id": "r1", "amount_minor": 100_000})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let refunded = st.last_of("alice", "order.refunded").await;
    assert_eq!(
        refunded["payload"],
        json!({"v": 1, "order_id": "o1", "refund_id": "r1", "amount_minor": 100_000, "points_clawed_back": r["clawed_back_points"]})
    );

    // Adjustments both ways, and a hold captured at checkout.
    st.tick(1);
    let adjust = |id: &str, points: i64| json!({"id": id, "points": points, "reason": "goodwill"});
    assert_eq!(st.app.post("/v1/members/alice/points/adjustments", adjust("a1", 100)).await.0, StatusCode::CREATED);
    assert_eq!(st.app.post("/v1/members/alice/points/adjustments", adjust("a2", -10)).await.0, StatusCode::CREATED);
    let hold = json!({"points": 100, "order_amount_minor": 30_000, "order_id": "o4", "ttl_seconds": 600});
    let (s, h) = st.app.post("/v1/members/alice/points/holds", hold).await;
    assert_eq!(s, StatusCode::CREATED, "{h}");
    let hold_id = h["id"].as_str().unwrap().to_owned();
    let (s, _) = st.app.post(&format!("/v1/members/alice/points/holds/{hold_id}/capture"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let redeemed = st.last_of("alice", "points.redeemed").await;
    assert_eq!(
        (redeemed["payload"]["source"].as_str(), redeemed["payload"]["points"].as_i64()),
        (Some("hold"), Some(100))
    );
    assert_eq!(st.last_of("alice", "points.deducted").await["payload"]["points"], 10);

    // Two days of check-ins: the second pays the streak's milestone.
    assert_eq!(st.app.post("/v1/members/alice/checkins", json!({})).await.0, StatusCode::CREATED);
    st.day(1);
    assert_eq!(st.app.post("/v1/members/alice/checkins", json!({})).await.0, StatusCode::CREATED);
    let m = st.last_of("alice", "checkin.milestone").await;
    assert_eq!((m["payload"]["streak"].as_i64(), m["payload"]["milestones"].clone()), (Some(2), json!([2])));

    // A paid membership started and cancelled.
    st.tick(1);
    let pay = json!({"id": "p1", "plan": "plus", "paid_minor": 3100, "payment_ref": "wx-p1", "started_at": st.clock.now().to_string()});
    assert_eq!(st.app.post("/v1/members/alice/memberships", pay).await.0, StatusCode::CREATED);
    st.tick(1);
    assert_eq!(
        st.app.post("/v1/members/alice/membership/cancel", json!({"reason": "too dear"})).await.0,
        StatusCode::OK
    );

    // After the return window the scheduler activates what was pending: one event, summed.
    st.day(8);
    st.jobs().await;
    let activated = st.last_of("alice", "points.activated").await;
    assert_eq!(activated["payload"]["lots"], 3, "o1, o2 and o3: {activated}");

    assert_eq!(
        st.types_of("alice").await,
        [
            "member.created",
            "member.updated",
            "order.placed",
            "tier.upgraded",
            "order.placed",
            "points.earned",
            "task.completed",
            "coupon.issued",
            "order.placed",
            "coupon.used",
            "order.refunded",
            "points.earned",
            "points.deducted",
            "points.redeemed",
            "points.earned",
            "points.earned",
            "checkin.milestone",
            "membership.started",
            "membership.cancelled",
            "points.activated",
        ]
    );
    assert_well_formed(&st.all().await);
    st.app.assert_verified().await;
}

/// A retried request — the same Idempotency-Key, or the same order id without one — and a
/// refund sent again are the recorded ones: the log gains nothing.
#[tokio::test]
async fn replays_and_retries_emit_nothing_more() {
    let st = Story::new().await;
    st.app.member("bob").await;
    let body = st.order_body("o1", "bob", 50_000);
    let keyed = |key: &'static str| {
        let body = body.clone();
        let app = &st.app;
        async move { app.send(reqwest::Method::POST, "/v1/orders", Some(&body), Some(ADMIN), Some(key)).await }
    };
    assert_eq!(keyed("k1").await.0, StatusCode::CREATED);
    let before = st.all().await;
    assert_eq!(keyed("k1").await.0, StatusCode::CREATED, "replayed under its key");
    assert_eq!(st.app.post("/v1/orders", body.clone()).await.0, StatusCode::OK, "the same order id again");
    assert_eq!(keyed("k2").await.0, StatusCode::OK, "another key, the same order");
    let refund = json!({"id": "r1", "amount_minor": 10_000});
    assert_eq!(st.app.post("/v1/orders/o1/refunds", refund.clone()).await.0, StatusCode::CREATED);
    let after_refund = st.all().await.len();
    assert_eq!(st.app.post("/v1/orders/o1/refunds", refund).await.0, StatusCode::OK);
    let all = st.all().await;
    assert_eq!(all.len(), after_refund);
    assert_eq!(all.len(), before.len() + 1, "only the refund was new");
    assert_eq!(all[..before.len()], before[..], "and what was there is as it was");
}

/// Tier moves over a year: the upgrade, the warning, retention in grace; and for another
/// member the downgrade after grace.
#[tokio::test]
async fn tier_moves_are_events() {
    let st = Story::with(PROGRAM, "2026-01-10T10:00:00+08:00").await;
    st.app.member("cat").await;
    st.app.member("dan").await;
    st.tick(1);
    st.order("c1", "cat", 200_000).await; // 1,240 growth: silver until 2027-01-10
    st.order("d1", "dan", 200_000).await;
    st.clock.set("2026-12-15T10:00:00+08:00".parse().unwrap());
    st.jobs().await;
    let warned = st.last_of("cat", "tier.at_risk").await;
    assert_eq!(
        (warned["payload"]["to"].as_str(), warned["payload"]["growth_needed"].as_i64()),
        (Some("silver"), Some(1_000))
    );
    st.clock.set("2027-01-15T10:00:00+08:00".parse().unwrap());
    st.jobs().await;
    st.order("c2", "cat", 160_000).await; // 1,000 growth in grace
    assert_eq!(st.last_of("cat", "tier.retained").await["payload"]["to"], "silver");
    st.clock.set("2027-02-10T10:00:00+08:00".parse().unwrap());
    st.jobs().await;
    let down = st.last_of("dan", "tier.downgraded").await;
    assert_eq!((down["payload"]["from"].as_str(), down["payload"]["to"].as_str()), (Some("silver"), Some("base")));
    assert_eq!(
        st.types_of("cat").await.iter().filter(|t| t.starts_with("tier.")).collect::<Vec<_>>(),
        ["tier.upgraded", "tier.at_risk", "tier.retained"]
    );
    assert_well_formed(&st.all().await);
    st.app.assert_verified().await;
}

/// Points about to expire are told once a local day, summed over the member's lots: a second
/// run the same day and a restarted server's scheduler tell nobody again; the next day tells
/// again; then the points expire, one event.
#[tokio::test]
async fn points_expiring_is_told_once_a_day_across_runs_and_a_restart() {
    let st = Story::new().await;
    st.app.member("eve").await;
    let adjust = |id: &str, points: i64| json!({"id": id, "points": points, "reason": "seed"});
    assert_eq!(st.app.post("/v1/members/eve/points/adjustments", adjust("a1", 100)).await.0, StatusCode::CREATED);
    st.tick(3600);
    assert_eq!(st.app.post("/v1/members/eve/points/adjustments", adjust("a2", 50)).await.0, StatusCode::CREATED);
    // Both lots expire 30 days on (2026-12-31 10:00 and 11:00 +08:00): not within 7 days yet.
    st.day(20);
    assert_eq!(st.jobs().await.expiring, 0);
    st.day(24);
    assert_eq!(st.jobs().await.expiring, 1);
    let told = st.last_of("eve", "points.expiring").await;
    assert_eq!(
        (told["payload"]["points"].as_i64(), told["payload"]["lots"].as_i64(), told["payload"]["day"].as_str()),
        (Some(150), Some(2), Some("2026-12-25"))
    );
    assert_eq!(told["payload"]["earliest_expires_at"], "2026-12-31T02:00:00Z");
    st.tick(3600);
    assert_eq!(st.jobs().await.expiring, 0, "a second run the same day");
    // A restarted server on the same database: its scheduler's round tells nobody today.
    let (state, _) = serve_store_on(st.app.store.clone(), st.app.program.clone(), st.clock.clone()).await;
    let sent = loyalty_engine::jobs::send_expiry_notices(
        st.app.store.as_ref(),
        &state.writer,
        &st.app.program,
        st.clock.now(),
    )
    .await;
    assert_eq!(sent, 0, "no member is due: everyone was told today");
    // The next local day (after midnight +08:00), once more.
    st.clock.set("2026-12-26T00:30:00+08:00".parse().unwrap());
    let sent = loyalty_engine::jobs::send_expiry_notices(
        st.app.store.as_ref(),
        &state.writer,
        &st.app.program,
        st.clock.now(),
    )
    .await;
    assert_eq!(sent, 1);
    let again = st.last_of("eve", "points.expiring").await;
    assert_eq!(again["payload"]["day"], "2026-12-26");
    assert_ne!(again["id"], told["id"]);
    st.day(31);
    st.jobs().await;
    let expired = st.last_of("eve", "points.expired").await;
    assert_eq!((expired["payload"]["points"].as_i64(), expired["payload"]["lots"].as_i64()), (Some(150), Some(2)));
    assert_eq!(
        st.types_of("eve").await,
        ["member.created", "points.earned", "points.earned", "points.expiring", "points.expiring", "points.expired"]
    );
    st.app.assert_verified().await;
}

/// A referral pays both sides once the first order's window has passed: one event each.
#[tokio::test]
async fn a_referral_reward_is_an_event_for_each_side() {
    let st = Story::new().await;
    st.app.member("ann").await;
    let (_, code) = st.app.get("/v1/members/ann/referral").await;
    let (s, _) = st.app.put("/v1/members/ben", json!({"referred_by": code["code"]})).await;
    assert_eq!(s, StatusCode::CREATED);
    st.order("b1", "ben", 10_000).await;
    st.day(8);
    st.jobs().await;
    let for_ann = st.last_of("ann", "referral.rewarded").await;
    let for_ben = st.last_of("ben", "referral.rewarded").await;
    assert_eq!(
        (for_ann["payload"]["role"].as_str(), for_ann["payload"]["points"].as_i64()),
        (Some("referrer"), Some(200))
    );
    assert_eq!(
        (for_ben["payload"]["role"].as_str(), for_ben["payload"]["points"].as_i64()),
        (Some("invitee"), Some(100))
    );
    st.jobs().await;
    let all = st.all().await;
    assert_eq!(all.iter().filter(|e| e["type"] == "referral.rewarded").count(), 2, "paid once");
    st.app.assert_verified().await;
}

/// A mall redemption spends points and its cancellation gives them back: two events; an
/// erasure is a `member.updated` that names the fields erased, never their values.
#[tokio::test]
async fn a_cancelled_redemption_and_an_erasure_are_events() {
    let st = Story::new().await;
    st.app.put("/v1/members/ivy", json!({"name": "Ivy", "phone": "13800000001"})).await;
    st.tick(1);
    let seed = json!({"id": "seed", "points": 2000, "reason": "seed"});
    assert_eq!(st.app.post("/v1/members/ivy/points/adjustments", seed).await.0, StatusCode::CREATED);
    let reward = json!({"id": "cup", "name": "保温杯", "item": {"kind": "goods", "sku": "CUP-1"}, "price_points": 500});
    assert_eq!(st.app.post("/v1/rewards", reward).await.0, StatusCode::CREATED);
    let address = json!({"name": "李雷", "phone": "13800000000", "line": "浙江省杭州市西湖区文三路 1 号"});
    let (s, r) =
        st.app.post("/v1/members/ivy/redemptions", json!({"id": "r1", "reward": "cup", "address": address})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, c) = st.app.post("/v1/members/ivy/redemptions/r1/status", json!({"status": "cancelled"})).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let spent = st.last_of("ivy", "points.redeemed").await;
    let back = st.last_of("ivy", "points.restored").await;
    assert_eq!(
        (spent["payload"]["source"].as_str(), spent["payload"]["points"].as_i64()),
        (Some("redemption"), Some(500))
    );
    assert_eq!((back["payload"]["source_id"].as_str(), back["payload"]["points"].as_i64()), (Some("r1"), Some(500)));
    st.tick(1);
    let (s, _) = st.app.post("/v1/members/ivy/erase", json!({"reason": "member request"})).await;
    assert_eq!(s, StatusCode::OK);
    let erased = st.last_of("ivy", "member.updated").await;
    assert_eq!(
        erased["payload"],
        json!({"v": 1, "fields": ["name", "phone", "email", "birthday"], "status": "closed", "erased": true})
    );
    assert!(!st.all().await.iter().any(|e| e.to_string().contains("13800000001")), "no personal data in the log");
    st.app.assert_verified().await;
}

/// Pages of any size read every event once, in order; a types filter returns only those
/// types, and a page that finds none of them in the positions it may look at comes back
/// empty with a cursor past them.
#[tokio::test]
async fn pages_read_the_log_once_in_order_and_the_filter_moves_on() {
    let st = Story::new().await;
    // 10,050 members in one batch, then an order: the order's event lies past what one
    // filtered page looks at.
    let now = st.clock.now();
    let cmds: Vec<Command> = (0..10_050)
        .map(|i| Command::UpsertMember { id: MemberId::parse(&format!("m{i:05}")).unwrap(), input: Default::default() })
        .collect();
    for r in apply_batch(st.app.store.as_ref(), &st.app.program, &cmds, now).await.unwrap() {
        r.unwrap();
    }
    st.order("o1", "m00007", 10_000).await;
    let all = st.all().await;
    assert_eq!(all.len(), 10_051);
    assert_well_formed(&all);
    for limit in [97, 1000] {
        let paged = st.all_after(None, "", limit).await;
        assert_eq!(paged, all, "pages of {limit}");
    }
    // From a cursor in the middle: what follows it, exactly.
    let mid = all[5_000]["cursor"].as_str().unwrap();
    assert_eq!(st.all_after(Some(mid), "", 333).await, all[5_001..]);

    let (s, first) = st.app.get("/v1/events?types=order.placed").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first["items"], json!([]), "the first 10,000 positions hold no order");
    assert_eq!(first["next_cursor"], all[9_999]["cursor"]);
    assert_eq!(first["has_more"], true);
    let orders = st.all_after(None, "&types=order.placed,points.expiring", 100).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["payload"]["order_id"], "o1");
    // At the end of the log a page is empty and its cursor stays where it is.
    let last = all.last().unwrap()["cursor"].as_str().unwrap();
    let (_, end) = st.app.get(&format!("/v1/events?after={last}")).await;
    assert_eq!(
        (end["items"].clone(), end["next_cursor"].as_str(), end["has_more"].clone()),
        (json!([]), Some(last), json!(false))
    );
    // A reserved type is a name consumers may filter by already.
    let (s, reserved) = st.app.get("/v1/events?types=campaign.message").await;
    assert_eq!((s, reserved["items"].clone()), (StatusCode::OK, json!([])));
}

/// Writers committing at once (several on PostgreSQL; SQLite takes them one at a time) while
/// a consumer reads from its last cursor: the consumer sees every event exactly once, in the
/// order of the log.
#[tokio::test]
async fn a_reader_misses_nothing_while_writers_commit_at_once() {
    let st = Story::new().await;
    let now = st.clock.now();
    let writers = (0..4).map(|w| {
        let (store, program) = (st.app.store.clone(), st.app.program.clone());
        tokio::spawn(async move {
            for b in 0..10 {
                let cmds: Vec<Command> = (0..20)
                    .map(|i| Command::UpsertMember {
                        id: MemberId::parse(&format!("w{w}-{b}-{i}")).unwrap(),
                        input: Default::default(),
                    })
                    .collect();
                apply_batch(store.as_ref(), &program, &cmds, now).await.unwrap();
            }
        })
    });
    let writers: Vec<_> = writers.collect();
    let mut seen: Vec<loyalty_store::StoredEvent> = Vec::new();
    let mut after = 0;
    let done = |ws: &[tokio::task::JoinHandle<()>]| ws.iter().all(|w| w.is_finished());
    loop {
        let finished = done(&writers);
        let page = st.app.store.events_after(after, &[], 50, 50).await.unwrap();
        after = page.next;
        seen.extend(page.events);
        if finished && page.next >= page.head {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen.len(), 800, "every member created, once");
    assert!(seen.windows(2).all(|w| w[0].seq + 1 == w[1].seq), "in order, none skipped");
    let members: HashSet<&str> = seen.iter().map(|e| e.event.member_id.as_str()).collect();
    assert_eq!(members.len(), 800);
    st.app.assert_verified().await;
}

/// The import writes through the same batches: one `member.created` per new member and one
/// `order.placed` per order, with nothing for the rows it skips as replays.
#[tokio::test]
async fn the_import_emits_as_the_api_does() {
    let st = Story::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    let paid = |days: i64| (st.clock.now() - SignedDuration::from_hours(24 * days)).to_string();
    let csv = format!(
        "order_id,member_id,paid_at,amount_minor,shipping_minor\n\
         i1,fay,{},10000,0\ni2,fay,{},20000,800\ni3,gus,{},5000,0\ni1,fay,{},10000,0\n",
        paid(40),
        paid(3),
        paid(2),
        paid(40)
    );
    std::fs::write(&file, csv).unwrap();
    let opts = loyalty_engine::import::Options {
        batch: 2,
        rejects: dir.path().join("rejects.csv"),
        progress: false,
        group_bytes: loyalty_engine::import::DEFAULT_GROUP_BYTES,
        in_file_order: false,
        clock: st.clock.clone(),
    };
    let kind = loyalty_engine::import::Kind::Orders;
    let sum = loyalty_engine::import::run(st.app.store.as_ref(), &st.app.program, kind, &file, &opts).await.unwrap();
    assert_eq!((sum.accepted, sum.skipped), (3, 1));
    let fay = st.types_of("fay").await;
    assert_eq!(fay.iter().filter(|t| *t == "member.created").count(), 1, "{fay:?}");
    assert_eq!(fay.iter().filter(|t| *t == "order.placed").count(), 2, "{fay:?}");
    assert_eq!(st.types_of("gus").await, ["member.created", "order.placed"]);
    // The 40-day-old order's points were usable (and expired: 30 days after activation) when
    // imported: its event says so, and no separate activation follows.
    let all = st.all().await;
    let i1 = all.iter().find(|e| e["payload"]["order_id"] == "i1").unwrap();
    assert_eq!(i1["payload"]["points_status"], "expired", "{i1}");
    assert_well_formed(&all);
    st.app.assert_verified().await;
}

/// Bad input is a 400 naming the parameter, with nothing read.
#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let st = Story::new().await;
    for (query, field) in [
        ("after=12", "after"),
        ("after=ZZZZZZZZZZZZZZZZ", "after"),
        ("after=00000000000000000", "after"),
        // Sixteen hex digits past any position (the schema's first digit is 0–7).
        ("after=c54df668a2208ed5", "after"),
        ("types=order.placed,order.shipped", "types"),
        ("types=ORDER.PLACED", "types"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("colour=red", "colour"),
    ] {
        let (s, p) = st.app.get(&format!("/v1/events?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {p}");
        assert_eq!(p["field"], field, "{query}: {p}");
    }
    let (s, p) = st.app.get("/v1/events?limit=1000&types=,order.placed,&after=0000000000000000").await;
    assert_eq!((s, p["items"].clone()), (StatusCode::OK, json!([])), "{p}");
    let (s, p) = st.app.get("/v1/events?after=7fffffffffffffff").await;
    assert_eq!((s, p["items"].clone()), (StatusCode::OK, json!([])), "the largest position: {p}");
}

/// `verify` names an order without its event and a gap in the positions.
#[tokio::test]
async fn verify_checks_the_log() {
    let st = Story::new().await;
    st.app.member("hal").await;
    st.order("o1", "hal", 10_000).await;
    st.app.assert_verified().await;
    st.app.store.execute_raw("DELETE FROM events WHERE kind = 3").await.unwrap();
    let r = loyalty_engine::jobs::verify_all(st.app.store.as_ref(), &st.app.program, 50).await.unwrap();
    let problems: Vec<&str> = r.violations.iter().map(|v| v.problem.as_str()).collect();
    assert!(
        problems.iter().any(|p| p.contains("member hal/o1: 1 orders row(s) and 0 order.placed event(s)")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("positions have gaps")), "{problems:?}");
}
