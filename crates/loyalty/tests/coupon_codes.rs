//! Coupon codes through the real server: a template's public code, batches of one-time codes
//! (generated, exported as CSV, each redeemed once however many members race for it).

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn template(app: &TestApp, id: &str, extra: Value) {
    let mut t = json!({
        "id": id, "name": id, "benefit": {"kind": "amount_off", "value_minor": 500},
        "validity": {"relative": {"days": 7}}, "channels": ["claim", "code"],
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    let (s, v) = app.post("/v1/coupon-templates", t).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn a_public_code_is_typed_in_any_case_and_the_members_limit_holds() {
    let app = spawn_app().await;
    template(&app, "spring", json!({"code": "Spring-2026", "limits": {"lifetime": 1}})).await;
    let (s, p) = app
        .post(
            "/v1/coupon-templates",
            json!({"id": "other", "name": "x", "benefit": {"kind": "free_shipping"},
            "validity": {"relative": {"days": 1}}, "channels": ["code"], "code": "SPRING-2026"}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("coupon_code_taken")), "{p}");
    app.member("ann").await;
    let (s, c) = app.post("/v1/members/ann/coupons", json!({"code": "spring-2026", "id": "a1"})).await;
    assert_eq!(
        (s, c["template"].as_str(), c["source"].as_str()),
        (StatusCode::CREATED, Some("spring"), Some("code")),
        "{c}"
    );
    let (s, p) = app.post("/v1/members/ann/coupons", json!({"code": "SPRING-2026", "id": "a2"})).await;
    assert_eq!(
        (s, p["code"].as_str(), p["limit"].as_i64()),
        (StatusCode::CONFLICT, Some("coupon_limit_reached"), Some(1)),
        "{p}"
    );
    let (s, p) = app.post("/v1/members/ann/coupons", json!({"code": "NOSUCHCODE", "id": "a3"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("coupon_code_not_found")), "{p}");
    let (s, p) =
        app.post("/v1/members/ann/coupons", json!({"code": "SPRING-2026", "template": "spring", "id": "a4"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    app.assert_verified().await;
}

#[tokio::test]
async fn one_time_codes_are_generated_exported_and_redeemed_once() {
    let app = spawn_app().await;
    template(&app, "vip", json!({})).await;
    for (count, field) in [(0, "count"), (1_000_001, "count")] {
        let (s, p) = app.post("/v1/coupon-templates/vip/codes", json!({"count": count, "batch": "b"})).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{p}");
    }
    let (s, v) = app.post("/v1/coupon-templates/vip/codes", json!({"count": 500, "batch": "wave-1"})).await;
    assert_eq!((s, v["count"].as_i64()), (StatusCode::CREATED, Some(500)), "{v}");
    let (s, v) = app.post("/v1/coupon-templates/vip/codes", json!({"count": 500, "batch": "wave-1"})).await;
    assert_eq!(v["count"], 500, "sent again, the batch is not doubled: {s} {v}");
    let csv = app
        .client
        .get(format!("{}/v1/coupon-templates/vip/codes?batch=wave-1", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let codes: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(codes.len(), 500);
    assert!(codes.iter().all(|c| c.len() == 16), "{:?}", &codes[..3]);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 500);

    // Twenty members race for one code: one gets the coupon.
    let code = codes[0].to_owned();
    for i in 0..20 {
        app.member(&format!("r{i}")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, base, code) = (app.client.clone(), app.base.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/v1/members/r{i}/coupons"))
                .bearer_auth(ADMIN)
                .json(&json!({"code": code.to_lowercase(), "id": format!("c{i}")}))
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap())
        }));
    }
    let mut winners = 0;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::CREATED => winners += 1,
            StatusCode::CONFLICT => assert_eq!(v["code"], "coupon_code_used", "{v}"),
            other => panic!("{other} {v}"),
        }
    }
    assert_eq!(winners, 1);
    let text = app
        .client
        .get(format!("{}/v1/coupon-templates/vip/codes?batch=wave-1", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = text.lines().find(|l| l.starts_with(&code)).unwrap();
    assert!(row.split(',').nth(1).is_some_and(|m| m.starts_with('r')), "the export names who redeemed it: {row}");
    let (_, t) = app.get("/v1/coupon-templates/vip").await;
    assert_eq!(t["issued"], 1);
    app.assert_verified().await;

    template(&app, "nocode", json!({"channels": ["claim"]})).await;
    let (s, p) = app.post("/v1/coupon-templates/nocode/codes", json!({"count": 5, "batch": "b"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
}
