//! Audiences gated by member insight (issue 15 §1) through the real server, on SQLite and
//! (with `LOYALTY_TEST_DATABASE_URL`) PostgreSQL: a coupon template, a mall item and a lottery
//! prize for members of given segments or lifecycle stages, decided by the writer on the
//! latest complete insight run; refusals that say why and write nothing.

mod common;
use common::*;
use jiff::Timestamp;
use loyalty_report::config::InsightConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Runs member insight as `loyalty insight` does, with fixed stages (no P(alive) demotion, so
/// the stages do not depend on a fit to a handful of members).
async fn run_insight(app: &TestApp) {
    let mut config = InsightConfig::default();
    config.lifecycle.p_alive_floor = None;
    loyalty_report::compute::run(app.store.as_ref(), &config, Timestamp::now()).await.expect("insight run");
}

/// Registers amy (two recent orders) and eve (none): after a run, amy has segments of her own
/// and eve is `no_purchase`, `never_bought`.
async fn seed(app: &TestApp) {
    for m in ["amy", "eve"] {
        app.member(m).await;
    }
    for (i, days) in [3, 20].into_iter().enumerate() {
        let (s, o) = app.post("/v1/orders", order(&format!("amy-{i}"), "amy", 20_000, days)).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
}

/// Amy's score segment and stage in the latest run, as the API shows them.
async fn amy_insight(app: &TestApp) -> (String, String) {
    let (s, got) = app.get("/v1/members/amy/insight").await;
    assert_eq!(s, StatusCode::OK, "{got}");
    let code = |k: &str| got[k]["code"].as_str().unwrap().to_owned();
    assert_ne!(code("score_segment"), "no_purchase", "{got}");
    (code("score_segment"), code("stage"))
}

fn template(id: &str, audience: Value) -> Value {
    json!({
        "id": id, "name": "VIP ¥20", "channels": ["issue", "points"], "audience": audience,
        "benefit": {"kind": "amount_off", "value_minor": 2000, "threshold_minor": 20000},
        "validity": {"relative": {"days": 7}},
    })
}

async fn issue(app: &TestApp, member: &str, tpl: &str, id: &str) -> (StatusCode, Value) {
    app.post(&format!("/v1/members/{member}/coupons"), json!({"template": tpl, "source": "issue", "id": id})).await
}

/// A 422 `code` whose detail says `why`.
fn refused(answer: (StatusCode, Value), code: &str, why: &str) {
    let (s, p) = answer;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{p}");
    assert!(p["detail"].as_str().unwrap().contains(why), "{why:?} in {p}");
}

async fn coupons_of(app: &TestApp, member: &str) -> usize {
    let (s, list) = app.get(&format!("/v1/members/{member}/coupons")).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_segment_gated_template_is_issued_only_to_members_in_the_segment_of_the_latest_run() {
    let app = spawn_app().await;
    seed(&app).await;
    let (s, t) = app.post("/v1/coupon-templates", template("early", json!({"segments": ["champions"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["terms"]["audience"]["segments"], json!(["champions"]), "{t}");
    refused(
        issue(&app, "amy", "early", "c0").await,
        "coupon_not_eligible",
        "for members in segment champions; the member has no segment yet (no insight run)",
    );

    run_insight(&app).await;
    let (segment, _) = amy_insight(&app).await;
    app.member("late").await; // registered after the run: not in it
    let (s, t) = app.post("/v1/coupon-templates", template("vip", json!({"segments": [&segment]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");

    let (s, c) = issue(&app, "amy", "vip", "c1").await;
    assert_eq!(s, StatusCode::CREATED, "a member in the segment: {c}");
    refused(
        issue(&app, "eve", "vip", "c2").await,
        "coupon_not_eligible",
        &format!("for members in segment {segment}; the member is in no_purchase and no_purchase (insight run"),
    );
    refused(
        issue(&app, "late", "vip", "c3").await,
        "coupon_not_eligible",
        &format!("for members in segment {segment}; the member has no segment yet (not in insight run"),
    );
    // Nothing written for the refusals: no coupon, and the template counts amy's alone.
    assert_eq!((coupons_of(&app, "eve").await, coupons_of(&app, "late").await), (0, 0));
    let (_, t) = app.get("/v1/coupon-templates/vip").await;
    assert_eq!(t["issued"], 1, "{t}");
    // An ungated template in the same store is issued to anyone, with or without a segment.
    let (s, _) = app.post("/v1/coupon-templates", template("all", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(issue(&app, "late", "all", "c4").await.0, StatusCode::CREATED);
    app.assert_verified().await;
}

#[tokio::test]
async fn stage_and_segment_gated_mall_items_and_lottery_prizes_refuse_or_fall_back_and_charge_nothing() {
    let app = spawn_app().await;
    seed(&app).await;
    run_insight(&app).await;
    let (segment, stage) = amy_insight(&app).await;
    let adjust = |m: &str| json!({"id": format!("seed-{m}"), "points": 5_000, "reason": "seed"});
    for m in ["amy", "eve"] {
        let (s, a) = app.post(&format!("/v1/members/{m}/points/adjustments"), adjust(m)).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
    }
    let voucher = json!({"id": "v10", "name": "10元代金券", "item": {"kind": "voucher", "value_minor": 1000},
                         "price_points": 500, "audience": {"stages": [&stage]}});
    let (s, r) = app.post("/v1/rewards", voucher).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    let redeem = |id: &str| json!({"id": id, "reward": "v10"});
    let (s, r) = app.post("/v1/members/amy/redemptions", redeem("r1")).await;
    assert_eq!(s, StatusCode::CREATED, "a member at the stage: {r}");
    refused(
        app.post("/v1/members/eve/redemptions", redeem("r2")).await,
        "reward_not_eligible",
        &format!("for members at stage {stage}; the member is at stage never_bought (insight run"),
    );
    assert_eq!(app.balances("eve").await["available"], 5_000, "nothing charged");
    let (_, list) = app.get("/v1/members/eve/redemptions").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    let (_, r) = app.get("/v1/rewards/v10").await;
    assert_eq!(r["redeemed"], 1, "{r}");

    // A coupon item binds its template's audience too, and a lottery's gated coupon prize falls
    // back for a member outside it.
    let (s, t) = app.post("/v1/coupon-templates", template("vip", json!({"segments": [&segment]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let coupon =
        json!({"id": "cv", "name": "VIP券", "item": {"kind": "coupon", "template": "vip"}, "price_points": 200});
    let (s, r) = app.post("/v1/rewards", coupon).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    refused(
        app.post("/v1/members/eve/redemptions", json!({"id": "r3", "reward": "cv"})).await,
        "coupon_not_eligible",
        &format!("for members in segment {segment}"),
    );
    assert_eq!((app.balances("eve").await["available"].as_i64(), coupons_of(&app, "eve").await), (Some(5_000), 0));
    let prizes = json!([
        {"id": "vip", "name": "VIP券", "weight": 1000000, "item": {"kind": "coupon", "template": "vip"}},
        {"id": "thanks", "name": "谢谢参与", "weight": 1, "item": {"kind": "nothing"}},
    ]);
    let spin = json!({"id": "spin", "name": "转盘", "cost_points": 10, "prizes": prizes, "fallback": "thanks"});
    let (s, l) = app.post("/v1/lotteries", spin).await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let (s, d) = app.post("/v1/lotteries/spin/draws", json!({"id": "d1", "member_id": "eve"})).await;
    assert_eq!(
        (s, d["picked"].as_str(), d["prize"].as_str()),
        (StatusCode::CREATED, Some("vip"), Some("thanks")),
        "{d}"
    );
    assert!(d.to_string().contains("the member is in no_purchase"), "the fallback says why: {d}");
    let (s, d) = app.post("/v1/lotteries/spin/draws", json!({"id": "d2", "member_id": "amy"})).await;
    assert_eq!((s, d["prize"].as_str()), (StatusCode::CREATED, Some("vip")), "{d}");
    app.assert_verified().await;
}

#[tokio::test]
async fn audiences_name_only_insights_segments_and_stages_each_once() {
    let app = spawn_app().await;
    let bad = [
        (json!({"segments": ["champion"]}), "audience.segments[0]"),
        (json!({"segments": ["loyal", "lost", "loyal"]}), "audience.segments[2]"),
        (json!({"stages": ["active", "dormant"]}), "audience.stages[1]"),
    ];
    for (i, (audience, field)) in bad.into_iter().enumerate() {
        let (s, p) = app.post("/v1/coupon-templates", template(&format!("t{i}"), audience.clone())).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{p}");
        let item = json!({"id": format!("r{i}"), "name": "x", "item": {"kind": "voucher", "value_minor": 100},
                          "price_points": 10, "audience": audience});
        let (s, p) = app.post("/v1/rewards", item).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{p}");
    }
}

/// The names the core accepts are those member insight gives: a segment or stage insight
/// renamed or added would otherwise gate a template on a name no member can have.
#[test]
fn the_cores_segment_and_stage_names_are_insights() {
    use loyalty_core::coupons::audience::{SEGMENTS, STAGES};
    use loyalty_insight::lifecycle::LifecycleStage;
    use loyalty_insight::segments::{ScoreSegment, ValueSegment};
    let mut insight: Vec<&str> = ValueSegment::ALL.iter().map(|s| s.code()).collect();
    insight.extend(ScoreSegment::ALL.iter().map(|s| s.code()).filter(|c| *c != "no_purchase"));
    assert_eq!(SEGMENTS.to_vec(), insight);
    assert_eq!(STAGES.to_vec(), LifecycleStage::ALL.iter().map(|s| s.code()).collect::<Vec<_>>());
}

/// The document states the names, each at most once, so a schema-valid audience is accepted.
#[tokio::test]
async fn the_document_lists_the_names_an_audience_takes() {
    use loyalty_core::coupons::audience::{SEGMENTS, STAGES};
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    let doc: Value = r.json().await.unwrap();
    let audience = &doc["components"]["schemas"]["Audience"]["properties"];
    for (field, names) in [("segments", &SEGMENTS[..]), ("stages", &STAGES[..])] {
        let p = &audience[field];
        assert_eq!((p["type"].as_str(), p["uniqueItems"].as_bool()), (Some("array"), Some(true)), "{p}");
        assert_eq!(p["maxItems"].as_u64(), Some(names.len() as u64), "{p}");
        assert_eq!(p["items"]["enum"], json!(names), "{p}");
    }
}
