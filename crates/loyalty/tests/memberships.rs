//! Paid membership through the real server on a clock the test moves: trials, conversions,
//! early and late renewals, grace and lapse, cancellation, every refund policy to the fen, an
//! upgrade's credit, monthly coupon packs, and savings that are exactly the recorded benefit
//! uses. Runs on SQLite and, with `LOYALTY_TEST_DATABASE_URL`, on PostgreSQL.

mod common;

use common::*;
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROGRAM: &str = r#"
[member_day]
day_of_month = 0
[birthday]
points_multiplier = 1.0

[memberships]
renewal_notice_days = 3
grace_days = 3

[[coupon_templates]]
id = "plus-5"
name = "PLUS 满50减5"
benefit = { kind = "amount_off", value_minor = 500, threshold_minor = 5000 }
validity = { relative = { days = 30, end_of_day = true } }
channels = ["membership"]

[[plans]]
code = "plus-month"
name = "PLUS 月卡"
price_minor = 3100
term = "month"
refund = "pro_rata"
trial = { days = 7, price_minor = 0 }
benefits = { discount_percent = 90, points_multiplier = 3.0, free_shipping = true, coupon_pack = [{ template = "plus-5", count = 2 }] }

[[plans]]
code = "plus-year"
name = "PLUS 年卡"
price_minor = 36500
term = "year"
refund = "pro_rata_minus_savings"
benefits = { discount_percent = 88, free_shipping = true }

[[plans]]
code = "fixed"
name = "无退款卡"
price_minor = 9900
term = "quarter"
refund = "none"
"#;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct Story {
    app: TestApp,
    clock: std::sync::Arc<loyalty_engine::ManualClock>,
}

impl Story {
    async fn new(start: &str) -> Self {
        let clock = loyalty_engine::ManualClock::at(at(start));
        let app = spawn_app_on(PROGRAM, clock.clone()).await;
        Self { app, clock }
    }

    fn now(&self) -> Timestamp {
        use loyalty_engine::Clock;
        self.clock.now()
    }

    /// Moves the clock to `t` and runs what is due, as the scheduler would.
    async fn to(&self, t: &str) {
        self.clock.set(at(t));
        loyalty_engine::jobs::run_due(self.app.store.as_ref(), &self.app.program, self.now()).await.unwrap();
    }

    async fn pay(&self, member: &str, id: &str, plan: &str, paid: i64, trial: bool) -> (StatusCode, Value) {
        let body = json!({"id": id, "plan": plan, "paid_minor": paid, "payment_ref": format!("wx-{id}"),
            "started_at": self.now().to_string(), "trial": trial});
        self.app.post(&format!("/v1/members/{member}/memberships"), body).await
    }

    async fn membership(&self, member: &str) -> Value {
        let (s, m) = self.app.get(&format!("/v1/members/{member}/membership")).await;
        assert_eq!(s, StatusCode::OK, "{m}");
        m
    }

    async fn kinds(&self, member: &str) -> Vec<String> {
        let (s, h) = self.app.get(&format!("/v1/members/{member}/membership/history?limit=100")).await;
        assert_eq!(s, StatusCode::OK, "{h}");
        let mut k: Vec<String> =
            h["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
        k.reverse();
        k
    }

    /// An order of one line of `list` fen in category `fresh`, with shipping 800, paid now at
    /// the member price `paid` and shipping waived when `free_ship`.
    async fn order(&self, member: &str, id: &str, list: i64, paid: i64, free_ship: bool, coupons: &[&str]) -> Value {
        let body = json!({"id": id, "member_id": member, "paid_at": self.now().to_string(), "currency": "CNY",
            "lines": [{"sku": "tea", "category": "fresh", "quantity": 1, "unit_price_minor": list, "paid_minor": paid}],
            "shipping_minor": 800, "shipping_waived_minor": if free_ship { 800 } else { 0 }, "coupons": coupons});
        let (s, o) = self.app.post("/v1/orders", body).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        o
    }

    async fn evaluate(&self, member: &str, list: i64) -> Value {
        let body = json!({"member_id": member, "lines": [{"sku": "tea", "category": "fresh", "quantity": 1, "unit_price_minor": list}], "shipping_minor": 800});
        let (s, e) = self.app.post("/v1/checkout/evaluate", body).await;
        assert_eq!(s, StatusCode::OK, "{e}");
        e
    }
}

#[tokio::test]
async fn a_trial_converts_to_paid_and_an_early_renewal_extends_the_term() {
    let st = Story::new("2026-03-01T02:00:00Z").await;
    st.app.member("li").await;
    let (s, m) = st.pay("li", "t1", "plus-month", 0, true).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!((m["status"].as_str(), m["term_ends_at"].as_str()), (Some("trial"), Some("2026-03-08T10:00:00+08:00")));
    // Three days before the trial ends the renewal is due (the store charges the conversion).
    st.to("2026-03-05T02:00:00Z").await;
    assert_eq!(st.kinds("li").await, ["trial_started", "renewal_due"]);
    st.to("2026-03-07T02:00:00Z").await;
    let (s, m) = st.pay("li", "p1", "plus-month", 3100, false).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["recorded_term"]["starts_at"], "2026-03-08T10:00:00+08:00", "the paid month follows the trial");
    assert_eq!(m["term_ends_at"], "2026-04-08T10:00:00+08:00");
    // The same payment again is the same term; a second trial is refused.
    let (s, again) = st.pay("li", "p1", "plus-month", 3100, false).await;
    assert_eq!((s, &again["terms"].as_array().unwrap().len()), (StatusCode::OK, &2));
    st.to("2026-03-20T02:00:00Z").await;
    let (s, p) = st.pay("li", "t2", "plus-month", 0, true).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("trial_used")), "{p}");
    // Renewed early: the new month starts where the paid one ends.
    let (s, m) = st.pay("li", "p2", "plus-month", 3100, false).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["recorded_term"]["starts_at"], "2026-04-08T10:00:00+08:00");
    assert_eq!(m["term_ends_at"], "2026-05-08T10:00:00+08:00");
    // Paying again for a period that is paid is a 409 naming it, and writes nothing.
    let (s, p) = st.pay("li", "p3", "plus-month", 3100, false).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("period_paid")), "{p}");
    assert_eq!(st.kinds("li").await, ["trial_started", "renewal_due", "converted", "pack_issued", "renewed"]);
    assert_eq!(st.membership("li").await["terms"].as_array().unwrap().len(), 3);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_failed_renewal_keeps_the_benefits_through_the_grace_then_lapses() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("wang").await;
    assert_eq!(st.pay("wang", "p1", "plus-month", 3100, false).await.0, StatusCode::CREATED);
    // In the term: the plan's 90% beats the base tier's 95%, shipping is waived.
    let e = st.evaluate("wang", 10_000).await;
    assert_eq!((e["goods_minor"].as_i64(), e["shipping_waived_minor"].as_i64()), (Some(9_000), Some(800)), "{e}");
    st.to("2026-02-02T02:00:00Z").await;
    let m = st.membership("wang").await;
    assert_eq!(m["status"], "in_grace", "{m}");
    assert_eq!(st.evaluate("wang", 10_000).await["goods_minor"], 9_000, "benefits continue in grace");
    st.to("2026-02-04T02:00:01Z").await;
    assert_eq!(st.membership("wang").await["status"], "lapsed");
    assert_eq!(st.evaluate("wang", 10_000).await["goods_minor"], 9_500, "the tier's price only");
    assert_eq!(st.kinds("wang").await, ["started", "pack_issued", "renewal_due", "in_grace", "lapsed"]);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_late_renewal_inside_the_grace_continues_the_chain() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("zhao").await;
    st.pay("zhao", "p1", "plus-month", 3100, false).await;
    st.to("2026-02-02T02:00:00Z").await;
    let (s, m) = st.pay("zhao", "p2", "plus-month", 3100, false).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["recorded_term"]["starts_at"], "2026-02-01T10:00:00+08:00", "no gap");
    assert_eq!(m["status"], "active");
}

#[tokio::test]
async fn a_cancellation_keeps_the_benefits_to_the_end_of_the_term() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("sun").await;
    st.pay("sun", "p1", "plus-month", 3100, false).await;
    st.to("2026-01-10T02:00:00Z").await;
    let (s, m) = st.app.post("/v1/members/sun/membership/cancel", json!({"reason": "too many subscriptions"})).await;
    assert_eq!(
        (s, m["status"].as_str(), m["renews"].as_bool()),
        (StatusCode::OK, Some("cancelled"), Some(false)),
        "{m}"
    );
    assert_eq!(m["benefits_until"], "2026-02-01T10:00:00+08:00", "no grace once cancelled");
    st.to("2026-01-31T02:00:00Z").await;
    assert_eq!(st.evaluate("sun", 10_000).await["goods_minor"], 9_000);
    st.to("2026-02-01T02:00:00Z").await;
    assert_eq!(st.membership("sun").await["status"], "lapsed");
    assert_eq!(st.evaluate("sun", 10_000).await["goods_minor"], 9_500);
    let kinds = st.kinds("sun").await;
    assert_eq!(kinds, ["started", "pack_issued", "cancelled", "lapsed"], "no renewal notice once cancelled");
    // The member's export holds the terms and the whole history, oldest first.
    let (s, doc) = st.app.get("/v1/members/sun/export").await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["membership_terms"][0]["payment_ref"], "wx-p1");
    let exported: Vec<&str> =
        doc["membership_history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(exported, kinds);
    st.app.assert_verified().await;
}

async fn refund(st: &Story, member: &str, id: &str, amount: Option<i64>) -> (StatusCode, Value) {
    let mut body = json!({"id": id, "reason": "member asked"});
    if let Some(a) = amount {
        body["amount_minor"] = json!(a);
    }
    st.app.post(&format!("/v1/members/{member}/membership/refund"), body).await
}

#[tokio::test]
async fn each_refund_policy_gives_back_its_amount_to_the_fen() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    for m in ["a", "b", "c"] {
        st.app.member(m).await;
    }
    st.pay("a", "pa", "plus-month", 3100, false).await;
    st.pay("b", "pb", "plus-year", 36500, false).await;
    st.pay("c", "pc", "fixed", 9900, false).await;
    // b saves: one order at the year plan's 88% (the tier's 95%: 5% is the tier's, 7% the
    // plan's) with shipping waived by the plan.
    let o = st.order("b", "ob", 10_000, 8_800, true, &[]).await;
    let plan_uses: i64 = o["benefits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["plan"] == "plus-year")
        .map(|b| b["value_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(plan_uses, 700 + 800, "the plan's 7% beyond the tier and the shipping it waived: {o}");
    st.to("2026-01-11T08:00:00Z").await; // 20 whole days of 31 unused; 354 of 365 for b
    let (s, r) = refund(&st, "a", "ra", None).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["refund"]["amount_minor"], 3100 * 20 / 31, "pro_rata: {r}");
    assert_eq!(r["status"], "lapsed");
    let saved = st.membership("b").await["savings"]["saved_minor"].as_i64().unwrap();
    let (s, r) = refund(&st, "b", "rb", None).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["refund"]["amount_minor"], 36500 * 354 / 365 - saved, "pro_rata_minus_savings: {r}");
    let (s, r) = refund(&st, "c", "rc", None).await;
    assert_eq!((s, r["refund"]["amount_minor"].as_i64()), (StatusCode::CREATED, Some(0)), "none: {r}");
    // Sent again, a refund is the one made.
    let (s, r) = refund(&st, "a", "ra", None).await;
    assert_eq!((s, r["refund"]["amount_minor"].as_i64()), (StatusCode::OK, Some(3100 * 20 / 31)));
    st.app.assert_verified().await;
}

#[tokio::test]
async fn bad_requests_name_their_field_and_write_nothing() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("qian").await;
    let (s, p) = st.pay("qian", "x1", "gold-card", 100, false).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("plan")), "{p}");
    let (s, p) = st.pay("qian", "x1", "plus-month", 3101, false).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("paid_minor")), "{p}");
    let (s, p) = st.pay("qian", "x 1", "plus-month", 3100, false).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("id")), "{p}");
    let future = json!({"id": "x2", "plan": "plus-month", "paid_minor": 3100, "payment_ref": "r", "started_at": "2026-01-02T00:00:00Z"});
    let (s, p) = st.app.post("/v1/members/qian/memberships", future).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("started_at")), "{p}");
    let (s, p) = st.app.post_raw("/v1/members/qian/memberships", r#"{"id":"x3","plan":"plus-month"}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    let (s, p) = st.app.get("/v1/members/qian/membership").await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("membership_not_found")),
        "nothing was written: {p}"
    );
    st.pay("qian", "p1", "plus-month", 3100, false).await;
    let (s, p) = refund(&st, "qian", "r1", Some(3101)).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("amount_minor")), "{p}");
    let (s, p) = st.pay("qian", "p2", "plus-year", 36500, false).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("membership_running")), "{p}");
    let m = st.membership("qian").await;
    assert_eq!((m["status"].as_str(), m["terms"].as_array().unwrap().len()), (Some("active"), 1), "{m}");
    let (s, p) = st.app.post("/v1/members/nobody/memberships", json!({"id": "n", "plan": "plus-month", "paid_minor": 0, "payment_ref": "r", "started_at": "2026-01-01T00:00:00Z"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")), "{p}");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn an_upgrade_credits_the_unused_part_of_the_month() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("zhou").await;
    st.pay("zhou", "p1", "plus-month", 3100, false).await;
    st.to("2026-01-21T02:00:00Z").await; // 20 days used, 11 of 31 unused
    let credit = 3100 * 11 / 31;
    assert_eq!(st.membership("zhou").await["upgrade_credit_minor"], credit);
    let body = |paid: i64| json!({"id": "u1", "plan": "plus-year", "paid_minor": paid, "payment_ref": "wx-u1", "started_at": "2026-01-21T02:00:00Z"});
    let (s, p) = st.app.post("/v1/members/zhou/membership/upgrade", body(36500)).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("paid_minor")), "{p}");
    let (s, m) = st.app.post("/v1/members/zhou/membership/upgrade", body(36500 - credit)).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!((m["plan"].as_str(), m["recorded_term"]["credit_minor"].as_i64()), (Some("plus-year"), Some(credit)));
    assert_eq!(m["term_ends_at"], "2027-01-21T10:00:00+08:00");
    assert_eq!(m["terms"][0]["credited_minor"], credit);
    assert_eq!(st.evaluate("zhou", 10_000).await["goods_minor"], 8_800, "the year plan's price from now");
    st.app.assert_verified().await;
}

/// Savings are the plan's recorded benefit uses: discounts beyond the tier, shipping waived,
/// the extra points' value, and the pack's coupons used — equal to the rows of `benefit_uses`.
#[tokio::test]
async fn savings_are_the_sum_of_the_recorded_benefit_uses_and_packs_arrive_monthly() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("wu").await;
    st.pay("wu", "p1", "plus-month", 3100, false).await;
    st.to("2026-01-01T03:00:00Z").await;
    let (_, coupons) = st.app.get("/v1/members/wu/coupons").await;
    let ids: Vec<String> =
        coupons["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2, "the first month's pack: {coupons}");
    let e = st.evaluate("wu", 10_000).await;
    let o = st.order("wu", "o1", 10_000, e["goods_minor"].as_i64().unwrap() - 500, true, &[&ids[0]]).await;
    assert_eq!(
        o["earned_points"],
        e["points_earned"].as_i64().unwrap() - 5 * 3,
        "the coupon's 5 yuan earn nothing: {o} {e}"
    );
    let o2 = st.order("wu", "o2", 3_000, 2_700, true, &[]).await;
    let m = st.membership("wu").await;
    let saved = m["savings"]["saved_minor"].as_i64().unwrap();
    let recorded: i64 = [&o, &o2]
        .iter()
        .flat_map(|o| o["benefits"].as_array().unwrap().iter())
        .filter(|b| b["plan"] == "plus-month")
        .map(|b| b["value_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(saved, recorded, "the savings are the orders' recorded plan benefits");
    // Independently: o1 took 500 (plan) off 9,500 (tier), waived 800 and its coupon 500;
    // points: base 85 at ×3 = 255, 170 extra, worth 170 fen; o2: 150 + 800, 27 × 2 = 54 extra.
    assert_eq!(saved, 500 + 800 + 500 + 170 + 150 + 800 + 54, "{m}");
    assert_eq!(m["savings"]["recovered"], false);
    assert_eq!(m["savings"]["net_minor"], saved - 3100);
    // The next month's pack arrives with the renewal's month.
    st.pay("wu", "p2", "plus-month", 3100, false).await;
    st.to("2026-02-01T03:00:00Z").await;
    let (_, coupons) = st.app.get("/v1/members/wu/coupons").await;
    assert_eq!(coupons["items"].as_array().unwrap().len(), 4, "{coupons}");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn many_concurrent_trials_make_one() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    st.app.member("zheng").await;
    let ids: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let futs = ids.iter().map(|id| st.pay("zheng", id, "plus-month", 0, true));
    let results = futures_util::future::join_all(futs).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(results.iter().all(|(s, p)| *s == StatusCode::CREATED || p["code"] == "trial_used"));
    st.clock.advance(SignedDuration::from_hours(1));
    st.app.assert_verified().await;
}

#[tokio::test]
async fn the_kpis_and_the_html_report_show_paid_membership() {
    let st = Story::new("2026-01-01T02:00:00Z").await;
    for m in ["an", "bo", "cai"] {
        st.app.member(m).await;
    }
    assert_eq!(st.pay("an", "a1", "plus-year", 36_500, false).await.0, StatusCode::CREATED);
    assert_eq!(st.pay("bo", "b0", "plus-month", 0, true).await.0, StatusCode::CREATED);
    let e = st.evaluate("an", 10_000).await;
    let o1 = st.order("an", "o1", 10_000, e["goods_minor"].as_i64().unwrap(), true, &[]).await;
    st.order("cai", "o2", 10_000, 9_500, false, &[]).await;
    st.to("2026-02-10T02:00:00Z").await;
    assert_eq!(st.pay("bo", "b1", "plus-month", 3_100, false).await.0, StatusCode::CREATED);
    let e = st.evaluate("bo", 5_000).await;
    let o3 = st.order("bo", "o3", 5_000, e["goods_minor"].as_i64().unwrap(), true, &[]).await;
    let cost = |o: &Value| -> i64 {
        o["benefits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| !b["plan"].is_null())
            .map(|b| b["value_minor"].as_i64().unwrap())
            .sum()
    };
    assert!(cost(&o1) > 0 && cost(&o3) > 0, "{o1} {o3}");

    let (s, k) = st.app.get("/v1/kpis?from=2026-01-01&to=2026-02-28&granularity=month").await;
    assert_eq!(s, StatusCode::OK, "{k}");
    let p = k["periods"].as_array().unwrap();
    let figures = |i: usize| {
        ["paid_members", "new_paid_members", "membership_fees_minor", "plan_benefit_cost_minor"]
            .map(|f| p[i][f].as_i64().unwrap_or_else(|| panic!("{f} in {}", p[i])))
    };
    // January: an's year (bo's trial is not a paid term, its fee of 0 counts); February: an
    // still and bo's first paid month, which is new.
    assert_eq!(figures(0), [1, 1, 36_500, cost(&o1)], "{k}");
    assert_eq!(figures(1), [2, 1, 3_100, cost(&o3)], "{k}");

    let data = loyalty_report::report::gather(st.app.store.as_ref(), &st.app.program, st.now()).await.unwrap();
    let report = data.memberships.as_ref().expect("the per-plan report");
    assert_eq!(report.total.fees_minor, 36_500 + 3_100);
    assert_eq!(report.total.benefit_cost_minor, cost(&o1) + cost(&o3));
    let html = loyalty_report::report::render(&data, &st.app.program);
    // To look at the page in a browser: LOYALTY_KEEP_REPORT=/tmp/report.html.
    if let Ok(path) = std::env::var("LOYALTY_KEEP_REPORT") {
        std::fs::write(path, &html).unwrap();
    }
    let section = &html[html.find("<h2>Paid membership</h2>").expect("the section")..];
    let section = &section[..section[4..].find("<h2>").map_or(section.len(), |i| i + 4)];
    for text in ["PLUS 年卡", "PLUS 月卡", "all plans", "365.00", "31.00", "Does it pay?"] {
        assert!(section.contains(text), "{text} in {section}");
    }
}

/// The pack job reads due memberships many batches at a time and loads each batch while the one
/// before is written: a template's stock still binds exactly across batches.
#[tokio::test]
async fn the_pack_job_keeps_a_templates_stock_across_its_batches() {
    use loyalty_core::ids::MemberId;
    use loyalty_core::member::MemberInput;
    use loyalty_engine::{apply_batch, Command};
    const PROGRAM: &str = r#"
[[coupon_templates]]
id = "scarce"
name = "限量券"
benefit = { kind = "amount_off", value_minor = 500, threshold_minor = 5000 }
validity = { relative = { days = 30 } }
channels = ["membership"]
stock = 6000

[[plans]]
code = "vip"
name = "VIP"
price_minor = 1000
term = "month"
benefits = { coupon_pack = [{ template = "scarce", count = 1 }] }
"#;
    let t0 = at("2026-01-05T02:00:00Z");
    let app = spawn_app_on(PROGRAM, loyalty_engine::ManualClock::at(t0)).await;
    let (store, program) = (app.store.as_ref(), &app.program);
    let n = 9_000;
    let id = |i: usize| MemberId::parse(&format!("m{i}")).unwrap();
    let members: Vec<Command> =
        (0..n).map(|i| Command::UpsertMember { id: id(i), input: MemberInput::default() }).collect();
    for chunk in members.chunks(2_000) {
        assert!(apply_batch(store, program, chunk, t0).await.unwrap().iter().all(|r| r.is_ok()));
    }
    let pays: Vec<Command> = (0..n)
        .map(|i| Command::Subscribe {
            member: id(i),
            payment: loyalty_core::membership::Payment {
                id: format!("p{i}"),
                plan: "vip".into(),
                paid_minor: 1000,
                payment_ref: "r".into(),
                started_at: t0,
                trial: false,
            },
        })
        .collect();
    for chunk in pays.chunks(2_000) {
        assert!(apply_batch(store, program, chunk, t0).await.unwrap().iter().all(|r| r.is_ok()));
    }
    // Three batches of 4,096 due at once: 6,000 coupons to give to 9,000 members.
    let advanced = loyalty_engine::jobs::advance_memberships(store, program, t0).await.unwrap();
    assert_eq!(advanced, n);
    let (s, t) = app.get("/v1/coupon-templates/scarce").await;
    assert_eq!((s, t["issued"].as_i64()), (StatusCode::OK, Some(6_000)), "{t}");
    let (_, r) = app.get("/v1/coupon-templates/scarce/report").await;
    assert_eq!(r["issued"], 6_000, "{r}");
    app.assert_verified().await;
}
