//! `GET /v1/memberships/report` against an independent computation. A store is generated over a
//! simulated year on a hand-moved clock, through the real server: members of two tiers, an
//! order a month each, an insight run before anyone joins, members joining two plans in the
//! range (one through a trial), early renewals, a lapse, a trial that lapses, a membership
//! refunded, order refunds. Every figure of the report is then recomputed here from what the
//! test itself sent, by the definitions (docs/METRICS.md) read literally: no code of the report.

mod common;
use common::*;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const PROGRAMME: &str = r#"
[member_day]
day_of_month = 0
[birthday]
points_multiplier = 1.0
[[tiers.levels]]
code = "base"
name = "普通会员"
entry = 0
[[tiers.levels]]
code = "gold"
name = "金卡"
entry = 1000000000
invitation_only = true
[memberships]
grace_days = 3
margin_percent = 30
compare_months = 3
[[plans]]
code = "plus"
name = "PLUS"
price_minor = 9900
term = "month"
trial = { days = 14 }
benefits = { discount_percent = 90, free_shipping = true }
[[plans]]
code = "vip"
name = "VIP"
price_minor = 99900
term = "year"
benefits = { discount_percent = 95 }
"#;

const GRACE_DAYS: i64 = 3;
const K: i32 = 3;
const MARGIN: i64 = 30;

fn t(s: &str) -> Timestamp {
    format!("{s}+08:00").parse().unwrap()
}

fn tz() -> TimeZone {
    TimeZone::get("Asia/Shanghai").unwrap()
}

fn month(ts: Timestamp) -> i32 {
    let d = ts.to_zoned(tz()).date();
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

fn plus_months(ts: Timestamp, n: i64) -> Timestamp {
    ts.to_zoned(tz()).checked_add(n.months()).unwrap().timestamp()
}

/// A term as this test made it.
#[derive(Clone, Debug)]
struct Term {
    plan: &'static str,
    trial: bool,
    start: Timestamp,
    end: Timestamp,
    bought_end: Timestamp,
    paid: i64,
    refunded: i64,
}

/// An order as this test sent it.
struct Order {
    id: String,
    member: &'static str,
    paid_at: Timestamp,
    total: i64,
    refunded: i64,
    /// The plan whose benefits it got, and their value (discount + shipping waived).
    plan: Option<&'static str>,
    benefit: i64,
}

struct World {
    app: TestApp,
    clock: std::sync::Arc<loyalty_engine::ManualClock>,
    terms: BTreeMap<&'static str, Vec<Term>>,
    orders: Vec<Order>,
    refunded_memberships: BTreeMap<&'static str, Timestamp>,
}

/// Members and their profile: twins share one (the same orders before anyone joins, so the
/// same segment), each joiner's twin never pays.
const MEMBERS: [(&str, usize, bool); 15] = [
    ("e1", 8, false),
    ("j1", 0, true),
    ("c1", 0, true),
    ("j2", 1, true),
    ("c2", 1, true),
    ("j3", 2, false),
    ("c3", 2, false),
    ("j4", 3, false),
    ("c4", 3, false),
    ("t1", 4, false),
    ("c5", 4, false),
    ("v2", 5, false),
    ("c6", 5, false),
    ("t2", 6, false),
    ("c7", 7, false),
];

impl World {
    async fn at(&self, s: &str) {
        self.clock.set(t(s));
    }

    async fn subscribe(&mut self, member: &'static str, plan: &'static str, trial: bool, when: &str) {
        self.at(when).await;
        let price = match (plan, trial) {
            (_, true) => 0,
            ("plus", _) => 9_900,
            _ => 99_900,
        };
        let n = self.terms.get(member).map_or(0, Vec::len);
        let body = json!({"id": format!("pay-{member}-{n}"), "plan": plan, "paid_minor": price,
            "payment_ref": format!("ref-{member}-{n}"), "started_at": t(when).to_string(), "trial": trial});
        let (s, v) = self.app.post(&format!("/v1/members/{member}/memberships"), body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // The term starts where the member's running term ends (a renewal posted early, a
        // trial's conversion), else now; a month, a year, or the trial's 14 days.
        let terms = self.terms.entry(member).or_default();
        let start = match terms.last() {
            Some(last) if last.end > t(when) => last.end,
            _ => t(when),
        };
        let end = match (plan, trial) {
            (_, true) => start.checked_add(jiff::SignedDuration::from_hours(24 * 14)).unwrap(),
            ("plus", _) => plus_months(start, 1),
            _ => plus_months(start, 12),
        };
        terms.push(Term { plan, trial, start, end, bought_end: end, paid: price, refunded: 0 });
    }

    fn plan_at(&self, member: &str, at: Timestamp) -> Option<&'static str> {
        let terms = self.terms.get(member)?;
        terms.iter().find(|x| x.start <= at && at < x.end).map(|x| x.plan)
    }

    /// One order on day 20 of `mo` (2025), priced as the store would for the member's plan then.
    async fn order(&mut self, member: &'static str, profile: usize, joiner_uplift: bool, mo: i64) {
        let paid_at = t(&format!("2025-{mo:02}-20T12:00:00"));
        self.clock.set(paid_at);
        let p = profile as i64;
        let list = 10_000 * (1 + p) + 1_000 * ((mo * 7 + p * 3) % 5) + if joiner_uplift { 5_000 } else { 0 };
        let plan = self.plan_at(member, paid_at);
        let (paid, shipping, waived) = match plan {
            Some("plus") => (list * 90 / 100, 0, 800),
            Some(_) => (list * 95 / 100, 800, 0),
            None => (list, 800, 0),
        };
        let id = format!("o-{member}-{mo}");
        let body = json!({"id": id, "member_id": member, "paid_at": paid_at.to_string(), "currency": "CNY",
            "lines": [{"sku": "S", "quantity": 1, "unit_price_minor": list, "paid_minor": paid}],
            "shipping_minor": shipping, "shipping_waived_minor": waived});
        let (s, o) = self.app.post("/v1/orders", body).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        let benefit = if plan.is_some() { list - paid + waived } else { 0 };
        self.orders.push(Order { id, member, paid_at, total: paid + shipping, refunded: 0, plan, benefit });
    }

    async fn refund_order(&mut self, id: &str, amount: i64, when: &str) {
        self.at(when).await;
        let (s, r) =
            self.app.post(&format!("/v1/orders/{id}/refunds"), json!({"id": "r1", "amount_minor": amount})).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        self.orders.iter_mut().find(|o| o.id == id).unwrap().refunded += amount;
    }

    async fn jobs(&self) {
        let now = loyalty_engine::Clock::now(self.clock.as_ref());
        loyalty_engine::jobs::run_due(self.app.store.as_ref(), &self.app.program, now).await.unwrap();
    }
}

/// A year of the store: memberships and orders month by month, jobs at each month's end.
async fn generate() -> World {
    let clock = loyalty_engine::ManualClock::at(t("2025-01-01T08:00:00"));
    let app = spawn_app_on(PROGRAMME, clock.clone()).await;
    let mut w = World { app, clock, terms: BTreeMap::new(), orders: Vec::new(), refunded_memberships: BTreeMap::new() };
    for (id, _, gold) in MEMBERS {
        w.app.member(id).await;
        if gold {
            let body = json!({"tier": "gold", "reason": "test", "until": "2030-01-01T00:00:00+08:00"});
            let (s, v) = w.app.post(&format!("/v1/members/{id}/tier/assignments"), body).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
    }
    for mo in 1..=12_i64 {
        if mo == 7 {
            // Segments before anyone in the range joins: every joiner is compared in the cell it
            // shares with its twin.
            w.at("2025-06-30T23:00:00").await;
            let config = loyalty_report::config::InsightConfig::default();
            loyalty_report::compute::run(w.app.store.as_ref(), &config, t("2025-06-30T23:00:00")).await.unwrap();
        }
        let day = |d: u32, h: &str| format!("2025-{mo:02}-{d:02}T{h}");
        // Early renewals on the 1st: each member's next month starts where the last ends.
        let renewing: &[&'static str] = match mo {
            4..=7 => &["e1"],
            8 => &["e1", "j1", "t1"],
            9 => &["e1", "j1"],
            10 => &["e1", "j1", "j4"],
            11 | 12 => &["e1", "j1"],
            _ => &[],
        };
        for &m in renewing {
            w.subscribe(m, "plus", false, &day(1, "09:00:00")).await;
        }
        match mo {
            3 => w.subscribe("e1", "plus", false, &day(10, "09:00:00")).await,
            7 => {
                w.subscribe("j1", "plus", false, &day(10, "09:00:00")).await;
                w.subscribe("j2", "vip", false, &day(10, "09:00:00")).await;
                w.subscribe("t1", "plus", true, &day(10, "09:00:00")).await;
                // Paid during the trial: the paid month starts at the trial's end.
                w.subscribe("t1", "plus", false, &day(20, "08:00:00")).await;
            }
            8 => {
                w.subscribe("j3", "plus", false, &day(10, "09:00:00")).await;
                w.subscribe("t2", "plus", true, &day(10, "09:00:00")).await;
                w.subscribe("v2", "vip", false, &day(10, "09:00:00")).await;
            }
            9 => w.subscribe("j4", "plus", false, &day(10, "09:00:00")).await,
            _ => {}
        }
        for (id, profile, _) in MEMBERS {
            if (mo as usize + profile).is_multiple_of(4) {
                continue;
            }
            let joined = w.terms.get(id).and_then(|ts| ts.iter().find(|x| !x.trial)).map(|x| x.start);
            let uplift = joined.is_some_and(|j| j <= t(&day(20, "12:00:00")));
            w.order(id, profile, uplift, mo).await;
        }
        match mo {
            8 => {
                w.refund_order("o-c3-8", 3_000, "2025-08-25T10:00:00").await;
            }
            9 => {
                let full = w.orders.iter().find(|o| o.id == "o-j1-9").unwrap().total;
                w.refund_order("o-j1-9", full, "2025-09-21T10:00:00").await;
                w.at("2025-09-15T10:00:00").await;
                let body = json!({"id": "mr-v2", "amount_minor": 50_000, "reason": "changed their mind"});
                let (s, v) = w.app.post("/v1/members/v2/membership/refund", body).await;
                assert!(s.is_success(), "{v}");
                let term = w.terms.get_mut("v2").unwrap().last_mut().unwrap();
                (term.end, term.refunded) = (t("2025-09-15T10:00:00"), 50_000);
                w.refunded_memberships.insert("v2", t("2025-09-15T10:00:00"));
            }
            _ => {}
        }
        w.at(&day(28, "23:00:00")).await;
        w.jobs().await;
    }
    w.at("2026-01-15T12:00:00").await;
    w.jobs().await;
    w
}

mod membership_report_expected;
use membership_report_expected as expected;

#[tokio::test]
async fn the_report_matches_an_independent_computation_on_a_generated_store() {
    let w = generate().await;
    let mut segments = BTreeMap::new();
    for (id, _, _) in MEMBERS {
        let (s, v) = w.app.get(&format!("/v1/members/{id}/insight")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        segments.insert(id, v["value_segment"]["code"].as_str().unwrap().to_owned());
    }
    let (from, to, now) = (t("2025-07-01T00:00:00"), t("2025-10-01T00:00:00"), t("2026-01-15T12:00:00"));
    let ex = expected::Expected::new(&w, &segments, from, to, now);
    for plan in [None, Some("plus"), Some("vip")] {
        let q = plan.map_or(String::new(), |p| format!("&plan={p}"));
        let (s, r) = w.app.get(&format!("/v1/memberships/report?from=2025-07-01&to=2025-09-30{q}")).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let plans: Vec<&str> = r["plans"].as_array().unwrap().iter().map(|p| p["plan"].as_str().unwrap()).collect();
        assert_eq!(plans, plan.map_or(vec!["plus", "vip"], |p| vec![p]), "{r}");
        for p in r["plans"].as_array().unwrap() {
            ex.check(p, Some(p["plan"].as_str().unwrap()));
        }
        ex.check(&r["total"], plan);
    }
    // Ranges of two members read as one of all.
    let range = loyalty_report::membership::ReportRange::new(
        &w.app.program,
        jiff::civil::date(2025, 7, 1),
        jiff::civil::date(2025, 9, 30),
        None,
    )
    .unwrap();
    let paged = loyalty_report::membership::compute_in_pages(w.app.store.as_ref(), &w.app.program, &range, now, 2);
    let (_, whole) = w.app.get("/v1/memberships/report?from=2025-07-01&to=2025-09-30").await;
    // Through text, as the answer came: serde_json reads a float back to within an ulp.
    let paged: Value = serde_json::from_str(&serde_json::to_string(&paged.await.unwrap()).unwrap()).unwrap();
    assert_eq!(paged, whole);
    // Figures worked out by hand for this scenario, so that the computation above is checked too.
    let (_, r) = w.app.get("/v1/memberships/report?from=2025-07-01&to=2025-09-30&plan=plus").await;
    let plus = &r["plans"][0];
    assert_eq!(plus["members"], json!({"trial": 2, "paid": 5, "joined": 4, "renewed": 3, "lapsed": 3}));
    assert_eq!(plus["trial_conversion"], json!({"trials_ended": 2, "converted": 1, "rate": 0.5}));
    assert_eq!(plus["renewal"], json!({"terms_ended": 8, "renewed": 6, "rate": 0.75}));
    assert_eq!(plus["fees_minor"], 10 * 9_900);
    assert_eq!(plus["incremental"]["joiners_in_window"], 4);
    assert_eq!(r["total"]["members"]["lapsed"], 3, "the plan asked for only");
    w.app.assert_verified().await;
}

#[tokio::test]
async fn bad_ranges_and_plans_are_refused_naming_the_field() {
    let app = spawn_app_with(PROGRAMME).await;
    for (query, field) in [
        ("from=2025-07-01&to=2025-06-30", "to"),
        ("from=1969-12-31&to=2025-06-30", "from"),
        ("from=2015-01-01&to=2025-01-01", "to"),
        ("from=2025-01-01&to=2200-01-01", "to"),
        ("plan=gold", "plan"),
        ("from=2025-13-01", "from"),
    ] {
        let (s, p) = app.get(&format!("/v1/memberships/report?{query}")).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{query}: {p}");
    }
    let (s, p) = app.get("/v1/memberships/report?since=2025-01-01").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    // An empty store: every count zero, no estimate, no ratio.
    let (s, r) = app.get("/v1/memberships/report").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["total"]["members"]["paid"], 0);
    assert_eq!(r["total"]["incremental"]["means"], Value::Null);
    assert_eq!(r["total"]["roi"]["roi"], Value::Null);
}
