//! Growth tiers over simulated months: orders and jobs are applied through the engine at
//! chosen instants (as `loyalty jobs run --now` does), and the tier is read back from the
//! store. Also the tier, activity, benefit and checkout endpoints over real HTTP.

mod common;
use common::*;
use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::MemberId;
use loyalty_core::order::{LineInput, OrderInput};
use loyalty_core::tiers::{tier_status, Retention, TierEventKind};
use loyalty_engine::{apply_batch, Command};
use reqwest::StatusCode;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn days(t: Timestamp, d: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_hours(24 * d)).unwrap()
}

/// A scenario: a store, a programme, and a clock we move by hand.
struct Sim {
    app: TestApp,
}

impl Sim {
    async fn new(extra: &str) -> Self {
        Self { app: spawn_app_with(&format!("{STABLE}{extra}")).await }
    }

    async fn run(&self, cmds: Vec<Command>, now: Timestamp) {
        for r in apply_batch(self.app.store.as_ref(), &self.app.program, &cmds, now).await.unwrap() {
            r.unwrap();
        }
    }

    async fn join(&self, id: &str, now: Timestamp) {
        let id = MemberId::parse(id).unwrap();
        self.run(vec![Command::UpsertMember { id, input: Default::default() }], now).await;
    }

    /// An order of `yuan` paid at `now`: growth = 0.6 × yuan + 40.
    async fn order(&self, id: &str, member: &str, yuan: i64, now: Timestamp) {
        let input = OrderInput {
            id: id.into(),
            member_id: member.into(),
            paid_at: now.to_string(),
            currency: None,
            lines: vec![LineInput::one_unit("S".into(), None, None, yuan * 100)],
            shipping_minor: 0,
            shipping_waived_minor: 0,
            coupons: Vec::new(),
        };
        let order = input.validate(&self.app.program, now).unwrap();
        self.run(vec![Command::PlaceOrder { order, create_member: false }], now).await;
    }

    async fn jobs(&self, now: Timestamp) {
        loyalty_engine::jobs::run_due(self.app.store.as_ref(), &self.app.program, now).await.unwrap();
    }

    async fn tier(&self, member: &str, now: Timestamp) -> (String, i64, Retention) {
        let m = self.app.store.member(&MemberId::parse(member).unwrap(), Timestamp::UNIX_EPOCH).await.unwrap().unwrap();
        let st = tier_status(&m.account, &self.app.program, now);
        (st.level.code.clone(), st.growth_in_window, st.retention)
    }

    async fn history(&self, member: &str) -> Vec<(TierEventKind, String, Option<i64>)> {
        let mut ev = self.app.store.tier_events(&MemberId::parse(member).unwrap(), None, 100).await.unwrap();
        ev.reverse();
        ev.into_iter().map(|e| (e.kind, e.to, e.growth_needed)).collect()
    }
}

#[tokio::test]
async fn an_order_that_crosses_thresholds_upgrades_at_once_skipping_a_tier() {
    let sim = Sim::new("[growth]\nmax_per_order = 10000\n").await;
    let t0 = at("2026-01-10T10:00:00+08:00");
    sim.join("amy", t0).await;
    sim.order("o1", "amy", 1_000, t0).await; // growth 640: still base
    assert_eq!(sim.tier("amy", t0).await.0, "base");
    sim.order("o2", "amy", 8_000, days(t0, 1)).await; // +4,840 → 5,480: past silver, into gold
    let (code, g, _) = sim.tier("amy", days(t0, 1)).await;
    assert_eq!((code.as_str(), g), ("gold", 5_480));
    let h = sim.history("amy").await;
    assert_eq!(h.iter().map(|e| e.0).collect::<Vec<_>>(), [TierEventKind::Joined, TierEventKind::Upgraded]);
    sim.app.assert_verified().await;
}

#[tokio::test]
async fn a_refund_below_the_threshold_does_not_strip_the_tier_mid_term() {
    let sim = Sim::new("").await;
    let t0 = at("2026-01-10T10:00:00+08:00");
    sim.join("ben", t0).await;
    sim.order("o1", "ben", 2_000, t0).await; // growth 1,240: silver
    let refund = Command::Refund {
        order_id: "o1".parse_id(),
        input: loyalty_core::order::RefundInput {
            id: "r1".into(),
            amount_minor: Some(200_000),
            lines: None,
            refunded_at: None,
        },
    };
    sim.run(vec![refund], days(t0, 2)).await;
    let (code, g, _) = sim.tier("ben", days(t0, 3)).await;
    assert_eq!((code.as_str(), g), ("silver", 0), "growth went back, the tier stays for its term");
    sim.app.assert_verified().await;
}

trait ParseId {
    fn parse_id(&self) -> loyalty_core::ids::OrderId;
}
impl ParseId for &str {
    fn parse_id(&self) -> loyalty_core::ids::OrderId {
        loyalty_core::ids::OrderId::parse(self).unwrap()
    }
}

#[tokio::test]
async fn the_warning_names_the_growth_needed_and_an_order_in_grace_retains_the_tier() {
    let sim = Sim::new("").await;
    let t0 = at("2026-01-10T10:00:00+08:00");
    sim.join("cat", t0).await;
    sim.order("o1", "cat", 2_000, t0).await; // 1,240 growth: silver until 2027-01-10
                                             // Ten months on, before the warning period: safe.
    let nov = at("2026-11-15T10:00:00+08:00");
    sim.jobs(nov).await;
    assert!(matches!(sim.tier("cat", nov).await.2, Retention::Safe { threshold: 1_000 }));
    // In the last 30 days: the January order will have left the window when the term ends,
    // so 0 growth counts and 1,000 is needed.
    let t_warn = at("2026-12-15T10:00:00+08:00");
    sim.jobs(t_warn).await;
    let h = sim.history("cat").await;
    assert_eq!(h.last().unwrap(), &(TierEventKind::AtRisk, "silver".to_string(), Some(1_000)));
    // The term ends; in grace, an order worth 1,000 growth keeps silver.
    let t_grace = at("2027-01-15T10:00:00+08:00");
    sim.jobs(t_grace).await;
    assert!(matches!(sim.tier("cat", t_grace).await.2, Retention::InGrace { growth_needed: 1_000, .. }));
    sim.order("o2", "cat", 1_600, t_grace).await; // 1,000 growth
    let (code, _, r) = sim.tier("cat", t_grace).await;
    assert_eq!(code, "silver");
    assert!(matches!(r, Retention::Safe { .. }), "{r:?}");
    assert_eq!(sim.history("cat").await.last().unwrap().0, TierEventKind::Retained);
    sim.app.assert_verified().await;
}

#[tokio::test]
async fn after_grace_without_growth_the_member_drops_one_tier_and_is_told_how_to_return() {
    let sim = Sim::new("").await;
    let t0 = at("2026-01-10T10:00:00+08:00");
    sim.join("dan", t0).await;
    sim.order("o1", "dan", 30_000, t0).await; // growth capped at 3,000 per order
    sim.order("o2", "dan", 30_000, days(t0, 1)).await;
    sim.order("o3", "dan", 30_000, days(t0, 2)).await;
    sim.order("o4", "dan", 30_000, days(t0, 3)).await;
    sim.order("o5", "dan", 30_000, days(t0, 4)).await; // 15,000: diamond from 2026-01-14
    assert_eq!(sim.tier("dan", days(t0, 4)).await.0, "diamond");
    // A year and a month later, with no growth, grace has ended: one tier down, to gold.
    let later = at("2027-02-10T10:00:00+08:00");
    sim.jobs(later).await;
    assert_eq!(sim.tier("dan", later).await.0, "gold");
    let last = sim.history("dan").await.pop().unwrap();
    assert_eq!((last.0, last.1.as_str(), last.2), (TierEventKind::Downgraded, "gold", Some(15_000)));
    sim.app.assert_verified().await;
}

#[tokio::test]
async fn to_qualified_downgrades_to_the_tier_growth_earns() {
    let sim = Sim::new("[tiers]\ndowngrade = \"to_qualified\"\n").await;
    let t0 = at("2026-01-10T10:00:00+08:00");
    sim.join("eve", t0).await;
    for i in 0..5 {
        sim.order(&format!("o{i}"), "eve", 30_000, days(t0, i)).await;
    }
    assert_eq!(sim.tier("eve", days(t0, 5)).await.0, "diamond");
    let later = at("2027-02-10T10:00:00+08:00");
    sim.jobs(later).await;
    assert_eq!(sim.tier("eve", later).await.0, "base", "no growth in the window qualifies for nothing above base");
    sim.app.assert_verified().await;
}

#[tokio::test]
async fn tier_endpoints_activities_benefits_and_assignment_over_http() {
    let app = spawn_app_with(STABLE).await;
    app.member("fin").await;
    let (s, t) = app.get("/v1/members/fin/tier").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["tier"]["code"], "base");
    assert_eq!(t["next_tier"]["message"], "还差 1000 成长值升级银卡");
    app.post("/v1/orders", order("o1", "fin", 100_000, 10)).await; // growth 600 + 40
    let (_, t) = app.get("/v1/members/fin/tier").await;
    assert_eq!((t["growth_in_window"].as_i64(), t["next_tier"]["growth_needed"].as_i64()), (Some(640), Some(360)));
    let now = Timestamp::now().to_string();
    for i in 0..6 {
        let (s, a) = app
            .post("/v1/members/fin/activities", json!({"id": format!("rv-{i}"), "type": "review", "occurred_at": now}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        if i < 5 {
            assert_eq!((a["growth_awarded"].as_i64(), a["points_awarded"].as_i64()), (Some(20), Some(10)));
        } else {
            assert_eq!(a["growth_awarded"], 0);
            assert!(a["reason"].as_str().unwrap().contains("cap of 5 review per day"), "{a}");
        }
    }
    let (s, _) =
        app.post("/v1/members/fin/activities", json!({"id": "rv-0", "type": "review", "occurred_at": now})).await;
    assert_eq!(s, StatusCode::OK, "the same activity id is recorded once");
    let (s, p) = app.post("/v1/members/fin/activities", json!({"id": "x", "type": "dance", "occurred_at": now})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("type")));
    let long = "y".repeat(65);
    let (s, p) = app.post("/v1/members/fin/activities", json!({"id": "x", "type": long, "occurred_at": now})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("type")), "{p}");
    assert!(!p["detail"].as_str().unwrap().contains(&long), "a long type is not echoed back: {p}");
    let body = json!({"id": "x", "type": "review", "occurred_at": now, "reference": "r".repeat(257)});
    let (s, p) = app.post("/v1/members/fin/activities", body).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reference")), "{p}");
    assert_eq!(app.balances("fin").await["available"], 1_000 + 50);
    let (s, t) = app
        .post(
            "/v1/members/fin/tier/assignments",
            json!({"tier": "diamond", "reason": "VIP partner", "until": "2027-06-01T00:00:00+08:00"}),
        )
        .await;
    assert_eq!((s, t["tier"]["code"].as_str()), (StatusCode::OK, Some("diamond")), "{t}");
    assert!(t["assigned_reason"].as_str().unwrap().starts_with("VIP partner"));
    let (s, p) = app.post("/v1/members/fin/tier/assignments", json!({"tier": "platinum", "reason": "x"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("tier")));
    let (_, h) = app.get("/v1/members/fin/tier/history").await;
    let kinds: Vec<&str> = h["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["assigned", "joined"]);
    let (_, b) = app.get("/v1/members/fin/benefits").await;
    assert_eq!((b["free_samples_per_month"].as_i64(), b["free_samples_left"].as_i64()), (Some(3), Some(3)));
    for i in 0..3 {
        let (s, _) = app.post("/v1/members/fin/benefits/free-samples/claims", json!({"id": format!("c{i}")})).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, _) = app.post("/v1/members/fin/benefits/free-samples/claims", json!({"id": "c9"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, b) = app.get("/v1/members/fin/benefits").await;
    assert_eq!(b["free_samples_left"], 0);
    app.assert_verified().await;
}

#[tokio::test]
async fn member_day_birthday_and_category_day_prices_to_the_fen() {
    let extra = "[member_day]\nday_of_month = 18\nextra_percent = 95\npoints_multiplier = 3.0\n\
[birthday]\npoints_multiplier = 2.0\n\
[[tiers.levels]]\ncode = \"base\"\nname = \"普通会员\"\nentry = 0\ndiscount_percent = 95\n\
[[tiers.levels.special_discounts]]\ncategory = \"beauty\"\npercent = 80\nweekdays = [3]\n\
[[tiers.levels]]\ncode = \"silver\"\nname = \"银卡\"\nentry = 1000\ndiscount_percent = 90\npoints_multiplier = 1.2\nfree_shipping_over_minor = 9900\n";
    let app = spawn_app_with(extra).await;
    app.put("/v1/members/gia", json!({"birthday": "1992-03-07"})).await;
    let eval = |at: &str| {
        app.post(
            "/v1/checkout/evaluate",
            json!({"member_id": "gia", "at": at, "shipping_minor": 1000, "lines": [
                {"sku": "LIP", "category": "beauty", "quantity": 3, "unit_price_minor": 3333},
                {"sku": "TEE", "category": "apparel", "quantity": 1, "unit_price_minor": 9999}
            ]}),
        )
    };
    // Tuesday 2026-11-17: member prices only. 9,999 × 95% = 9,499.05 → 9,499; 9,999 → 9,499.
    let (s, e) = eval("2026-11-17T12:00:00+08:00").await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(
        (e["lines"][0]["member_price_minor"].as_i64(), e["lines"][1]["member_price_minor"].as_i64()),
        (Some(9_499), Some(9_499))
    );
    assert_eq!((e["points_earned"].as_i64(), e["shipping_minor"].as_i64()), (Some(189), Some(1_000)));
    // Wednesday 2026-11-18 is member day and beauty day: 9,999 × 80% = 7,999 then ×95% = 7,599;
    // the tee 9,499 × 95% = 9,024; points ⌊(7,599 + 9,024)/100⌋ = 166 × 3 = 498.
    let (_, e) = eval("2026-11-18T12:00:00+08:00").await;
    assert_eq!(
        (e["lines"][0]["member_price_minor"].as_i64(), e["lines"][1]["member_price_minor"].as_i64()),
        (Some(7_599), Some(9_024))
    );
    assert_eq!(e["points_earned"], 498);
    // Her birthday month (March), not member day: ×2.
    let (_, e) = eval("2027-03-02T12:00:00+08:00").await;
    assert_eq!(e["points_earned"], 189 * 2);
    let (s, p) = app
        .post(
            "/v1/checkout/evaluate",
            json!({"member_id": "gia", "lines": [{"sku": "A", "quantity": 0, "unit_price_minor": 1}]}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[0].quantity")));
    let (s, _) = app
        .post(
            "/v1/checkout/evaluate",
            json!({"member_id": "nobody", "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 1}]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn evaluate_and_order_agree_and_the_order_records_its_benefits() {
    let app = spawn_app_with(STABLE).await;
    app.member("hal").await;
    app.post("/v1/orders", order("seed", "hal", 300_000, 10)).await; // 3,000 points, silver
    let paid_at = Timestamp::now().checked_sub(SignedDuration::from_secs(60)).unwrap().to_string();
    let lines = json!([{"sku": "A", "category": "shoes", "quantity": 2, "unit_price_minor": 12_345}, {"sku": "B", "quantity": 1, "unit_price_minor": 999}]);
    let (s, e) = app.post("/v1/checkout/evaluate", json!({"member_id": "hal", "at": paid_at, "lines": lines, "shipping_minor": 800, "points_to_redeem": 1_000})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["tier"], "silver");
    assert_eq!(e["shipping_waived_minor"], 800, "silver ships free above ¥99");
    assert_eq!(e["redemption"]["value_minor"], 1_000);
    let order_lines: Vec<_> = e["lines"].as_array().unwrap().iter().map(|l| json!({
        "sku": l["sku"], "category": l.get("category"), "quantity": l["quantity"], "unit_price_minor": l["unit_price_minor"], "paid_minor": l["paid_minor"]
    })).collect();
    let (s, o) = app.post("/v1/orders", json!({"id": "o-eval", "member_id": "hal", "paid_at": paid_at, "lines": order_lines, "shipping_minor": 0, "shipping_waived_minor": 800})).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["earned_points"], e["points_earned"], "evaluate and order agree");
    let m = app.store.order(&"o-eval".parse_id()).await.unwrap().unwrap().0;
    let codes: Vec<&str> = m.benefits.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(codes, ["member_discount", "free_shipping", "tier_multiplier:silver"]);
    assert_eq!(m.growth, e["growth_earned"].as_i64().unwrap());
}

#[tokio::test]
async fn early_access_refuses_lines_until_the_sku_opens_to_every_tier() {
    let extra =
        "[[early_access]]\nsku = \"NEW-1\"\nmin_tier = \"gold\"\nopen_to_all_at = \"2026-12-01T00:00:00+08:00\"\n\
[[early_access]]\nsku = \"VIP-ONLY\"\nmin_tier = \"diamond\"\n";
    let app = spawn_app_with(&format!("{STABLE}{extra}")).await;
    app.member("ivy").await;
    let cart = |at: &str| {
        json!({"member_id": "ivy", "at": at, "lines": [
            {"sku": "NEW-1", "quantity": 1, "unit_price_minor": 10_000},
            {"sku": "VIP-ONLY", "quantity": 1, "unit_price_minor": 10_000},
            {"sku": "PLAIN", "quantity": 1, "unit_price_minor": 10_000}
        ]})
    };
    let (_, e) = app.post("/v1/checkout/evaluate", cart("2026-11-20T12:00:00+08:00")).await;
    let refused: Vec<&str> = e["refused"].as_array().unwrap().iter().map(|r| r["sku"].as_str().unwrap()).collect();
    assert_eq!(refused, ["NEW-1", "VIP-ONLY"]);
    assert_eq!(e["goods_minor"], 9_500, "only the plain line is priced");
    let (_, e) = app.post("/v1/checkout/evaluate", cart("2026-12-02T12:00:00+08:00")).await;
    let refused: Vec<&str> = e["refused"].as_array().unwrap().iter().map(|r| r["sku"].as_str().unwrap()).collect();
    assert_eq!(refused, ["VIP-ONLY"], "open to all after its date; the exclusive SKU stays closed");
    app.post("/v1/members/ivy/tier/assignments", json!({"tier": "diamond", "reason": "test"})).await;
    let (_, e) = app.post("/v1/checkout/evaluate", cart("2026-11-20T12:00:00+08:00")).await;
    assert_eq!(e["refused"].as_array().unwrap().len(), 0);
    assert!(e["lines"][0]["benefits"].as_array().unwrap().iter().any(|b| b == "early_access"));
}
