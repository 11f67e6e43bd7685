//! Birthday gifts and member-day packs through the real server on a clock the test moves: the
//! gift on the right local day and not before, once a year, once after a job stopped midway
//! and a restart; the birthday change limit; member-day packs only to chosen tiers, once a
//! month, caught up after a missed day but not after the month; bad input named by field with
//! nothing written. Runs on SQLite and, with `LOYALTY_TEST_DATABASE_URL`, on PostgreSQL.

mod common;

use common::*;
use jiff::Timestamp;
use loyalty_core::engagement::gifts::GiftKind;
use loyalty_core::ids::MemberId;
use loyalty_engine::jobs::{give_gifts, GiftReport};
use loyalty_engine::{apply_batch, Command};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TEMPLATES: &str = r#"
[[coupon_templates]]
id = "bday"
name = "生日礼 满100减20"
benefit = { kind = "amount_off", value_minor = 2000, threshold_minor = 10000 }
validity = { relative = { days = 30 } }
channels = ["engagement"]

[[coupon_templates]]
id = "md-5"
name = "会员日 满50减5"
benefit = { kind = "amount_off", value_minor = 500, threshold_minor = 5000 }
validity = { relative = { days = 7 } }
channels = ["engagement"]
"#;

fn program(birthday: &str, member_day: &str) -> String {
    format!("[birthday]\npoints_multiplier = 1.0\n{birthday}\n[member_day]\n{member_day}\n{TEMPLATES}")
}

fn before_month() -> String {
    program("gift = \"bday\"\ngift_when = \"before_month\"\ndays_before = 7", "day_of_month = 0")
}

fn given(n: usize) -> GiftReport {
    GiftReport { given: n, not_given: 0 }
}

struct Story {
    app: TestApp,
    clock: std::sync::Arc<loyalty_engine::ManualClock>,
}

impl Story {
    async fn new(toml: &str, start: &str) -> Self {
        let clock = loyalty_engine::ManualClock::at(start.parse().unwrap());
        let app = spawn_app_on(toml, clock.clone()).await;
        Self { app, clock }
    }

    /// Sets the clock and runs the gift job at that instant.
    async fn run_at(&self, t: &str) -> GiftReport {
        let now: Timestamp = t.parse().unwrap();
        self.clock.set(now);
        give_gifts(self.app.store.as_ref(), &self.app.program, now).await.unwrap()
    }

    async fn born(&self, member: &str, birthday: &str) {
        let (s, m) = self.app.put(&format!("/v1/members/{member}"), json!({ "birthday": birthday })).await;
        assert!(s.is_success(), "{m}");
    }

    async fn gifts(&self, member: &str) -> Vec<Value> {
        let (s, g) = self.app.get(&format!("/v1/members/{member}/gifts")).await;
        assert_eq!(s, StatusCode::OK, "{g}");
        g["items"].as_array().unwrap().clone()
    }

    async fn coupons(&self, member: &str) -> usize {
        let (_, c) = self.app.get(&format!("/v1/members/{member}/coupons")).await;
        c["items"].as_array().unwrap().len()
    }
}

#[tokio::test]
async fn the_birthday_gift_comes_n_local_days_before_the_month_and_once_a_year() {
    let st = Story::new(&before_month(), "2026-11-01T10:00:00+08:00").await;
    st.born("li", "1990-12-20").await;
    st.born("jan", "1992-01-05").await;
    st.born("none", "1991-03-03").await;
    // The 1st of December less 7 days is 24 November, local: not at 23:59:59 on the 23rd.
    assert_eq!(st.run_at("2026-11-23T23:59:59+08:00").await, given(0));
    // Midnight on the 24th in Shanghai is still the 23rd in UTC: the local day decides.
    assert_eq!(st.run_at("2026-11-24T00:00:00+08:00").await, given(1));
    let g = st.gifts("li").await;
    assert_eq!((g.len(), g[0]["kind"].as_str(), g[0]["period"].as_str()), (1, Some("birthday"), Some("2026")), "{g:?}");
    assert_eq!((g[0]["status"].as_str(), g[0]["coupons"].as_array().unwrap().len()), (Some("given"), 1));
    // Run again the same day, later in the window, on the birthday: nothing more.
    for t in ["2026-11-24T09:00:00+08:00", "2026-12-20T09:00:00+08:00", "2026-12-24T23:00:00+08:00"] {
        assert_eq!(st.run_at(t).await, given(0), "{t}");
    }
    assert_eq!(st.coupons("li").await, 1);
    // A January birthday's window starts in December: its gift is the next year's.
    assert_eq!(st.run_at("2026-12-25T08:00:00+08:00").await, given(1));
    assert_eq!(st.gifts("jan").await[0]["period"], "2027");
    assert!(st.gifts("none").await.is_empty());
    // The next year, the next gift.
    assert_eq!(st.run_at("2027-11-24T08:00:00+08:00").await, given(1));
    assert_eq!(
        st.gifts("li").await.iter().map(|g| g["period"].as_str().unwrap()).collect::<Vec<_>>(),
        ["2027", "2026"]
    );
    let (_, export) = st.app.get("/v1/members/li/export").await;
    assert_eq!(export["gifts"].as_array().unwrap().len(), 2, "the export holds the gifts: {export}");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn an_on_birthday_gift_is_caught_up_within_the_month_and_not_after() {
    let toml = program("gift = \"bday\"\ngift_when = \"on_birthday\"", "day_of_month = 0");
    let st = Story::new(&toml, "2026-06-01T10:00:00+08:00").await;
    st.born("wang", "1995-06-15").await;
    st.born("zhao", "1995-06-10").await;
    st.born("leap", "1996-02-29").await;
    st.born("may", "1990-05-20").await;
    assert_eq!(st.run_at("2026-06-09T12:00:00+08:00").await, given(0), "no birthday yet");
    // The server was down from the 9th: the 15th's run gives the 10th's gift too.
    assert_eq!(st.run_at("2026-06-14T23:59:59+08:00").await, given(1), "zhao, late");
    assert_eq!(st.run_at("2026-06-15T00:00:01+08:00").await, given(1), "wang, on the day");
    // May is over: its birthday gift is not given late.
    assert!(st.gifts("may").await.is_empty());
    // 29 February in a common year: the gift comes on the 28th, the month's last day.
    assert_eq!(st.run_at("2027-02-27T12:00:00+08:00").await, given(0));
    assert_eq!(st.run_at("2027-02-28T12:00:00+08:00").await, given(1));
    assert_eq!(st.gifts("leap").await[0]["period"], "2027");
    st.app.assert_verified().await;
}

/// Members 0..n, each born on 1990-12-01 + (i mod 28) days.
async fn december_members(st: &Story, n: usize) -> Vec<MemberId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("m{i:03}");
        st.born(&id, &format!("1990-12-{:02}", i % 28 + 1)).await;
        ids.push(MemberId::parse(&id).unwrap());
    }
    ids
}

#[tokio::test]
async fn a_gift_job_stopped_midway_and_run_again_after_a_restart_gives_nobody_two() {
    let st = Story::new(&before_month(), "2026-11-01T10:00:00+08:00").await;
    let ids = december_members(&st, 30).await;
    let now: Timestamp = "2026-12-02T09:00:00+08:00".parse().unwrap();
    st.clock.set(now);
    // The first batch of a run committed, then the process stopped.
    let first: Vec<Command> =
        ids[..12].iter().map(|m| Command::Gift { member: m.clone(), kind: GiftKind::Birthday }).collect();
    let replies = apply_batch(st.app.store.as_ref(), &st.app.program, &first, now).await.unwrap();
    assert!(replies.iter().all(|r| matches!(r, Ok(loyalty_engine::Outcome::Gift(Some(_))))), "{replies:?}");
    // A new app on the same store: its run gives the other 18 only; a second run nothing.
    let (state, _) = serve_store_on(st.app.store.clone(), st.app.program.clone(), st.clock.clone()).await;
    assert_eq!(give_gifts(state.store.as_ref(), &state.program, now).await.unwrap(), given(18));
    assert_eq!(give_gifts(state.store.as_ref(), &state.program, now).await.unwrap(), given(0));
    // The first batch sent again (a replay of what committed) gives nothing either.
    let again = apply_batch(st.app.store.as_ref(), &st.app.program, &first, now).await.unwrap();
    assert!(again.iter().all(|r| matches!(r, Ok(loyalty_engine::Outcome::Gift(None)))), "{again:?}");
    for id in &ids {
        let g = st.gifts(id.as_str()).await;
        assert_eq!((g.len(), st.coupons(id.as_str()).await), (1, 1), "{id}: {g:?}");
    }
    let (_, t) = st.app.get("/v1/coupon-templates/bday").await;
    assert_eq!(t["issued"], 30, "{t}");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn the_servers_scheduler_and_a_jobs_run_at_once_give_each_member_one() {
    let st = Story::new(&before_month(), "2026-11-01T10:00:00+08:00").await;
    let ids = december_members(&st, 40).await;
    let now: Timestamp = "2026-12-02T09:00:00+08:00".parse().unwrap();
    st.clock.set(now);
    // The scheduler inside `serve` sends through the server's writer while `jobs run` (another
    // process, say) applies its own batches to the same store.
    let (state, store) = (&st.app.state, st.app.store.as_ref());
    let (by_server, by_job) = tokio::join!(
        loyalty_engine::jobs::send_gifts(store, &state.writer, &state.program, now),
        give_gifts(store, &st.app.program, now)
    );
    assert_eq!(by_server.given + by_job.unwrap().given, 40, "{by_server:?}");
    for id in &ids {
        assert_eq!((st.gifts(id.as_str()).await.len(), st.coupons(id.as_str()).await), (1, 1), "{id}");
    }
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_birthday_changes_once_a_year_and_a_change_gives_no_second_gift() {
    let st = Story::new(&before_month(), "2026-03-01T10:00:00+08:00").await;
    // Setting it the first time is free; the same value again is no change.
    st.born("sun", "1990-03-15").await;
    assert_eq!(st.run_at("2026-03-02T10:00:00+08:00").await, given(1));
    st.born("sun", "1990-03-15").await;
    // The first change is allowed: to April, whose window is open on 28 March.
    st.clock.set("2026-03-28T10:00:00+08:00".parse().unwrap());
    st.born("sun", "1990-04-10").await;
    assert_eq!(st.run_at("2026-03-28T10:00:00+08:00").await, given(0), "this year's gift was given");
    // A second change within 365 days: 409 naming the field and when it may change, nothing written.
    let (s, p) = st.app.put("/v1/members/sun", json!({ "birthday": "1990-05-01", "name": "Sun" })).await;
    assert_eq!(
        (s, p["code"].as_str(), p["field"].as_str()),
        (StatusCode::CONFLICT, Some("birthday_locked"), Some("birthday")),
        "{p}"
    );
    assert_eq!(p["next_change_at"].as_str().map(|t| t.starts_with("2027-03-28")), Some(true), "{p}");
    let (_, m) = st.app.get("/v1/members/sun").await;
    assert_eq!((m["birthday"].as_str(), m["name"].as_str()), (Some("1990-04-10"), None), "{m}");
    assert_eq!(m["birthday_changed_at"], "2026-03-28T10:00:00+08:00", "{m}");
    // A year after the change it may change again.
    st.clock.set("2027-03-28T10:00:01+08:00".parse().unwrap());
    st.born("sun", "1990-05-01").await;
    st.app.assert_verified().await;
}

const PACK: &str = "day_of_month = 18\npack = [{ template = \"md-5\", count = 2 }]\ntiers = [\"gold\"]";

#[tokio::test]
async fn member_day_packs_go_to_the_chosen_tiers_once_a_month_and_are_caught_up_within_it() {
    let st = Story::new(&program("", PACK), "2026-12-01T10:00:00+08:00").await;
    for m in ["gold1", "gold2", "plain"] {
        st.app.member(m).await;
    }
    for m in ["gold1", "gold2"] {
        let (s, t) =
            st.app.post(&format!("/v1/members/{m}/tier/assignments"), json!({"tier": "gold", "reason": "test"})).await;
        assert!(s.is_success(), "{t}");
    }
    assert_eq!(st.run_at("2026-12-17T23:59:59+08:00").await, given(0), "not before the member day");
    // Down on the 18th: the 19th's run catches up, two coupons each, gold only.
    assert_eq!(st.run_at("2026-12-19T09:00:00+08:00").await, given(2));
    assert_eq!(st.run_at("2026-12-31T09:00:00+08:00").await, given(0), "once a month");
    let g = st.gifts("gold1").await;
    assert_eq!((g.len(), g[0]["period"].as_str(), g[0]["kind"].as_str()), (1, Some("2026-12"), Some("member_day")));
    assert_eq!((st.coupons("gold1").await, st.coupons("plain").await), (2, 0));
    // A member who becomes gold after the month is over gets nothing for it; the next month's, yes.
    st.app.member("late").await;
    st.app.post("/v1/members/late/tier/assignments", json!({"tier": "gold", "reason": "test"})).await;
    assert_eq!(st.run_at("2027-01-17T09:00:00+08:00").await, given(0), "December is over, January's day not come");
    assert_eq!(st.run_at("2027-01-18T00:00:00+08:00").await, given(3));
    assert_eq!(st.gifts("late").await.len(), 1);
    st.app.assert_verified().await;
}

#[tokio::test]
async fn a_pack_out_of_stock_is_recorded_not_given_and_not_tried_again() {
    let toml = program("", PACK).replacen(
        "validity = { relative = { days = 7 } }",
        "validity = { relative = { days = 7 } }\nstock = 2",
        1,
    );
    let st = Story::new(&toml, "2026-12-18T10:00:00+08:00").await;
    for m in ["a", "b"] {
        st.app.member(m).await;
        st.app.post(&format!("/v1/members/{m}/tier/assignments"), json!({"tier": "gold", "reason": "test"})).await;
    }
    // Two coupons of stock: the first member takes both, the second gets a row saying why.
    assert_eq!(st.run_at("2026-12-18T10:00:00+08:00").await, GiftReport { given: 1, not_given: 1 });
    let b = st.gifts("b").await;
    assert_eq!(b[0]["status"], "not_given", "{b:?}");
    assert!(b[0]["not_given"][0].as_str().unwrap().starts_with("md-5"), "{b:?}");
    assert_eq!(st.run_at("2026-12-19T10:00:00+08:00").await, given(0), "not tried again");
    st.app.assert_verified().await;
}

#[tokio::test]
async fn bad_programme_keys_are_named() {
    let bad = [
        ("gift = \"no such\"", "birthday.gift"),
        ("gift = \"bday\"\ndays_before = 61", "birthday.days_before"),
        ("gift = \"bday\"\ngift_when = \"on_birthday\"\ndays_before = 3", "birthday.days_before"),
        ("gift = \"bday\"\ngift_when = \"someday\"", "gift_when"),
    ];
    for (birthday, key) in bad {
        let err = loyalty_core::Program::from_toml(&program(birthday, "")).unwrap_err().to_string();
        assert!(err.contains(key), "{birthday}: {err}");
    }
    for (md, key) in [
        ("pack = [{ template = \"md-5\", count = 0 }]", "member_day.pack[0].count"),
        ("pack = [{ template = \"md 5\" }]", "member_day.pack[0].template"),
        ("day_of_month = 0\npack = [{ template = \"md-5\" }]", "member_day.pack"),
        ("tiers = [\"platinum\"]", "member_day.tiers[0]"),
    ] {
        let err = loyalty_core::Program::from_toml(&program("", md)).unwrap_err().to_string();
        assert!(err.contains(key), "{md}: {err}");
    }
    // A template that does not take the engagement channel gives nothing: refused by key.
    let toml = program("gift = \"bday\"", "").replacen("channels = [\"engagement\"]", "channels = [\"issue\"]", 1);
    let err = loyalty_core::Program::from_toml(&toml).unwrap_err().to_string();
    assert!(err.contains("birthday.gift") && err.contains("engagement"), "{err}");
}

#[tokio::test]
async fn bad_reads_are_named_by_field() {
    let st = Story::new(&before_month(), "2026-11-30T10:00:00+08:00").await;
    st.born("qian", "1990-12-01").await;
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=2026", "cursor"),
        ("cursor=2026-13/member_day", "cursor"),
    ] {
        let (s, p) = st.app.get(&format!("/v1/members/qian/gifts?{q}")).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{q}: {p}");
    }
    let (s, p) = st.app.get("/v1/members/nobody/gifts").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")), "{p}");
    let (s, p) = st.app.put("/v1/members/qian", json!({ "birthday": "1990-02-30" })).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("birthday")), "{p}");
    assert_eq!(st.run_at("2026-11-30T10:00:00+08:00").await, given(1));
    // Paged: one row a page, the cursor the last row's.
    st.run_at("2027-11-30T10:00:00+08:00").await;
    let (_, page) = st.app.get("/v1/members/qian/gifts?limit=1").await;
    assert_eq!(page["next_cursor"], "2027/birthday", "{page}");
    let (_, next) = st.app.get("/v1/members/qian/gifts?limit=1&cursor=2027/birthday").await;
    assert_eq!(next["items"][0]["period"], "2026", "{next}");
}
