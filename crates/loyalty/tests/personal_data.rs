//! A member's personal data (PIPL, GDPR) on the real server and store (SQLite, or PostgreSQL
//! when LOYALTY_TEST_DATABASE_URL is set): the export holds everything, erasure removes the
//! personal fields and keeps the accounting, both are audited, and an erased member takes no
//! more writes.

mod common;
use common::*;
use loyalty_core::ids::MemberId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DPO_KEY: &str = "lk_data_protection_officer";

async fn spawn() -> TestApp {
    let app = spawn_app_with(&format!("pending_days = 0\n{STABLE}")).await;
    let hash = loyalty_http::auth::hash_key(DPO_KEY);
    assert!(app.store.insert_api_key(&hash, "dpo", "admin", jiff::Timestamp::now()).await.unwrap());
    app
}

async fn dpo(app: &TestApp, m: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    app.send(m, path, body.as_ref(), Some(DPO_KEY), None).await
}

/// A member with personal data, two orders (one refunded in part), an open and a captured
/// hold, an adjustment, an activity, a tier assignment, a free-sample claim and insight.
async fn rich_member(app: &TestApp, id: &str) {
    let profile = json!({"name": "Li Mei", "phone": "13800138000", "email": "mei@example.com", "birthday": "1991-02-03", "channel": "app"});
    let (s, m) = app.put(&format!("/v1/members/{id}"), profile).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    for (o, paid) in [("o-1", 50_000), ("o-2", 20_000)] {
        let (s, v) = app.post("/v1/orders", order(&format!("{id}-{o}"), id, paid, 10)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, v) = app.post(&format!("/v1/orders/{id}-o-1/refunds"), json!({"id": "rf-1", "amount_minor": 10_000})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for cart in ["cart-1", "cart-2"] {
        let body = json!({"points": 100, "order_amount_minor": 10_000, "order_id": cart});
        let (s, h) = app.post(&format!("/v1/members/{id}/points/holds"), body).await;
        assert_eq!(s, StatusCode::CREATED, "{h}");
        if cart == "cart-2" {
            let path = format!("/v1/members/{id}/points/holds/{}/capture", h["id"].as_str().unwrap());
            assert_eq!(app.post(&path, json!({})).await.0, StatusCode::OK);
        }
    }
    let adj = json!({"id": "adj-1", "points": 50, "reason": "goodwill"});
    assert_eq!(app.post(&format!("/v1/members/{id}/points/adjustments"), adj).await.0, StatusCode::CREATED);
    let now = jiff::Timestamp::now().to_string();
    let act = json!({"id": "act-1", "type": "review", "occurred_at": now, "reference": "sku A"});
    assert_eq!(app.post(&format!("/v1/members/{id}/activities"), act).await.0, StatusCode::CREATED);
    let assign = json!({"tier": "diamond", "reason": "ambassador"});
    assert_eq!(app.post(&format!("/v1/members/{id}/tier/assignments"), assign).await.0, StatusCode::OK);
    let claim = json!({"id": "claim-1"});
    let (s, c) = app.post(&format!("/v1/members/{id}/benefits/free-samples/claims"), claim).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let config = loyalty_report::config::InsightConfig::default();
    loyalty_report::compute::run(app.store.as_ref(), &config, jiff::Timestamp::now()).await.unwrap();
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

/// The export is one document with everything the other endpoints show of the member, and
/// each export is a row of the audit log with the key's name.
#[tokio::test]
async fn an_export_holds_everything_about_the_member_and_is_recorded() {
    let app = spawn().await;
    rich_member(&app, "mei").await;
    let (s, doc) = dpo(&app, Method::GET, "/v1/members/mei/export", None).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let p = &doc["profile"];
    assert_eq!(
        (p["name"].as_str(), p["phone"].as_str(), p["email"].as_str(), p["birthday"].as_str()),
        (Some("Li Mei"), Some("13800138000"), Some("mei@example.com"), Some("1991-02-03"))
    );
    assert_eq!(doc["profile"]["balances"], app.balances("mei").await);
    let (_, ledger) = app.get("/v1/members/mei/ledger?limit=500").await;
    assert_eq!(len(&doc["ledger"]), len(&ledger["items"]), "every entry");
    assert_eq!(doc["ledger"][0]["seq"], 1, "oldest first");
    let (_, lots) = app.get("/v1/members/mei/lots?limit=500").await;
    assert_eq!(len(&doc["lots"]), len(&lots["items"]), "every lot");
    let orders = doc["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    let o1 = orders.iter().find(|o| o["id"] == "mei-o-1").unwrap();
    assert_eq!((len(&o1["refunds"]), o1["refunded_minor"].as_i64()), (1, Some(10_000)));
    let statuses: Vec<&str> = doc["holds"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["open", "captured"]);
    assert_eq!(
        (doc["adjustments"][0]["reason"].as_str(), doc["adjustments"][0]["actor"].as_str()),
        (Some("goodwill"), Some("bootstrap-admin"))
    );
    assert_eq!((len(&doc["activities"]), len(&doc["sample_claims"])), (1, 1));
    assert_eq!(doc["activities"][0]["reference"], "sku A");
    assert_eq!(doc["tier"]["code"], "diamond");
    let (_, history) = app.get("/v1/members/mei/tier/history").await;
    assert_eq!(len(&doc["tier_history"]), len(&history["items"]));
    assert!(len(&doc["growth"]) >= 3, "orders, refund and activity growth: {}", doc["growth"]);
    assert_eq!(doc["insight"]["member_id"], "mei");
    assert_eq!(len(&doc["audit"]), 0, "no export before this one");

    let audit = app.store.audit_log(&MemberId::parse("mei").unwrap()).await.unwrap();
    assert_eq!(audit.len(), 1, "the export is recorded before it is returned");
    assert_eq!((audit[0].action.as_str(), audit[0].actor.as_str()), ("export", "dpo"));
    let (_, again) = dpo(&app, Method::GET, "/v1/members/mei/export", None).await;
    assert_eq!((len(&again["audit"]), again["audit"][0]["action"].as_str()), (1, Some("export")), "the first one");
    assert_eq!(app.store.audit_log(&MemberId::parse("mei").unwrap()).await.unwrap().len(), 2);
    let (s, p) = dpo(&app, Method::GET, "/v1/members/nobody/export", None).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")));
}

/// Erasure removes name, phone, email and birthday from the store, closes the member, keeps
/// every entry, lot and order (`verify` stays clean), is recorded once with its actor and
/// reason, is a no-op the second time, and the member's writes are refused afterwards.
#[tokio::test]
async fn erasure_removes_personal_data_keeps_the_ledger_and_refuses_later_writes() {
    let app = spawn().await;
    rich_member(&app, "mei").await;
    let (_, before) = app.get("/v1/members/mei/ledger?limit=500").await;
    let open_hold = {
        let (_, doc) = app.get("/v1/members/mei/export").await;
        doc["holds"].as_array().unwrap().iter().find(|h| h["status"] == "open").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for bad in [json!({"reason": " "}), json!({"reason": "x".repeat(501)})] {
        let (s, p) = dpo(&app, Method::POST, "/v1/members/mei/erase", Some(bad)).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")), "{p}");
    }
    let (s, p) = dpo(&app, Method::POST, "/v1/members/mei/erase", Some(json!({}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a reason is required: {p}");
    let (s, p) = dpo(&app, Method::POST, "/v1/members/nobody/erase", Some(json!({"reason": "request"}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("member_not_found")));

    let (s, e) = dpo(&app, Method::POST, "/v1/members/mei/erase", Some(json!({"reason": "member request #123"}))).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!((e["status"].as_str(), e["already_erased"].as_bool()), (Some("closed"), Some(false)));
    assert_eq!(e["removed"], json!(["name", "phone", "email", "birthday"]));
    let (_, m) = app.get("/v1/members/mei").await;
    for field in ["name", "phone", "email", "birthday"] {
        assert!(m[field].is_null(), "{field} erased: {m}");
    }
    assert_eq!((m["status"].as_str(), m["channel"].as_str()), (Some("closed"), Some("app")));
    assert_eq!(m["erased_at"], e["erased_at"]);
    // In the store itself, not only in the cache.
    let stored = app.store.member(&MemberId::parse("mei").unwrap(), jiff::Timestamp::now()).await.unwrap().unwrap();
    let p = &stored.profile;
    assert_eq!((&p.name, &p.phone, &p.email, p.birthday), (&None, &None, &None, None));
    assert!(!format!("{stored:?}").contains("13800138000"), "nor in its Debug");

    let (_, after) = app.get("/v1/members/mei/ledger?limit=500").await;
    let (before, after) = (before["items"].as_array().unwrap(), after["items"].as_array().unwrap());
    assert!(after.ends_with(before), "every entry is kept");
    let (s, _) = app.get("/v1/orders/mei-o-1").await;
    assert_eq!(s, StatusCode::OK, "orders are kept");
    app.assert_verified().await;

    let (s, again) = dpo(&app, Method::POST, "/v1/members/mei/erase", Some(json!({"reason": "asked twice"}))).await;
    assert_eq!((s, again["already_erased"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(again["erased_at"], e["erased_at"], "the first erasure stands");
    let audit = app.store.audit_log(&MemberId::parse("mei").unwrap()).await.unwrap();
    let erasures: Vec<_> = audit.iter().filter(|a| a.action == "erase").collect();
    assert_eq!(erasures.len(), 1, "recorded once: {audit:?}");
    assert_eq!((erasures[0].actor.as_str(), erasures[0].reason.as_deref()), ("dpo", Some("member request #123")));

    let now = jiff::Timestamp::now().to_string();
    let refused: Vec<(Method, String, Value)> = vec![
        (Method::PUT, "/v1/members/mei".into(), json!({"name": "Li Mei", "status": "active"})),
        (Method::POST, "/v1/orders".into(), order("mei-o-3", "mei", 10_000, 0)),
        (Method::POST, "/v1/orders/mei-o-2/refunds".into(), json!({"id": "rf-2", "amount_minor": 100})),
        (
            Method::POST,
            "/v1/members/mei/points/holds".into(),
            json!({"points": 100, "order_amount_minor": 10_000, "order_id": "cart-3"}),
        ),
        (Method::POST, format!("/v1/members/mei/points/holds/{open_hold}/capture"), json!({})),
        (Method::POST, format!("/v1/members/mei/points/holds/{open_hold}/release"), json!({})),
        (Method::POST, "/v1/members/mei/points/adjustments".into(), json!({"id": "adj-2", "points": 1, "reason": "x"})),
        (
            Method::POST,
            "/v1/members/mei/activities".into(),
            json!({"id": "act-2", "type": "review", "occurred_at": now}),
        ),
        (Method::POST, "/v1/members/mei/tier/assignments".into(), json!({"tier": "gold", "reason": "x"})),
        (Method::POST, "/v1/members/mei/benefits/free-samples/claims".into(), json!({"id": "claim-2"})),
    ];
    for (m, path, body) in refused {
        let (s, p) = app.send(m.clone(), &path, Some(&body), Some(ADMIN), None).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("member_erased")), "{m} {path}: {p}");
    }
    let (_, m) = app.get("/v1/members/mei").await;
    assert!(m["name"].is_null() && m["status"] == "closed", "nothing came back: {m}");
    // The scheduler still applies what is due (the open hold times out), and the ledger holds.
    let later = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(1)).unwrap();
    loyalty_engine::jobs::run_due(app.store.as_ref(), &app.program, later).await.unwrap();
    app.assert_verified().await;
    let (s, doc) = dpo(&app, Method::GET, "/v1/members/mei/export", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["profile"]["phone"].is_null() && doc["profile"]["erased_at"].is_string(), "{}", doc["profile"]);
    assert!(doc["audit"].as_array().unwrap().iter().any(|a| a["action"] == "erase" && a["actor"] == "dpo"));
}

/// `loyalty members export|erase` from the command line: the same document and erasure,
/// audited as `cli:…`; an import cannot bring an erased member's data back.
#[tokio::test]
async fn the_cli_exports_and_erases_and_an_import_cannot_undo_it() {
    let (_db, url) = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("members.csv");
    std::fs::write(&csv, "member_id,name,phone,email\nwei,Zhang Wei,13900139000,wei@example.com\n").unwrap();
    let csv = csv.to_str().unwrap();
    assert_eq!(loyalty_bin(&url, &["import", "members", csv]).0, 0);
    let out = dir.path().join("wei.json");
    let (code, _, err) = loyalty_bin(&url, &["members", "export", "wei", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["profile"]["phone"], "13900139000");
    let (code, said, err) = loyalty_bin(&url, &["members", "erase", "wei", "--reason", "ticket 42"]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("erased"), "{said}");
    let (code, said, _) = loyalty_bin(&url, &["members", "erase", "wei", "--reason", "ticket 42"]);
    assert_eq!(code, 0);
    assert!(said.contains("already erased"), "{said}");
    let (code, _, err) = loyalty_bin(&url, &["members", "erase", "wei", "--reason", ""]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("reason"), "{err}");
    let (code, summary, _) = loyalty_bin(&url, &["import", "members", csv]);
    assert_eq!(code, 0);
    assert!(summary.contains("rejected 1"), "{summary}");
    let rejects = std::fs::read_to_string(format!("{csv}.rejects.csv")).unwrap();
    assert!(rejects.contains("erased"), "{rejects}");
    let (code, doc, _) = loyalty_bin(&url, &["members", "export", "wei"]);
    assert_eq!(code, 0);
    assert!(!doc.contains("13900139000") && !doc.contains("wei@example.com"), "{doc}");
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let actions: Vec<&str> = doc["audit"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["export", "erase"]);
    assert!(doc["audit"][1]["actor"].as_str().unwrap().starts_with("cli"));
    assert_eq!(loyalty_bin(&url, &["verify"]).0, 0);
    assert_eq!(loyalty_bin(&url, &["members", "export", "nobody"]).0, 1);
}
