//! Input the engine must not take (issue 14 §4), over real HTTP on a fresh database (SQLite,
//! or PostgreSQL when LOYALTY_TEST_DATABASE_URL is set): each refusal is a 4xx problem+json
//! naming the field and saying what is wrong, and nothing refused is written.

mod common;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A raw request (any method, content type and body), answered with status, headers and body.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn detail(p: &Value) -> &str {
    p["detail"].as_str().unwrap_or("")
}

/// `order` with its line replaced by `line`.
fn order_with_line(id: &str, member: &str, line: Value) -> Value {
    let mut o = order(id, member, 100, 1);
    o["lines"] = json!([line]);
    o
}

#[tokio::test]
async fn a_line_paid_more_than_its_list_price_is_refused_naming_the_line() {
    // Paid ¥10,000 for a ¥1 line used to be recorded and earn 10,000 points.
    let app = spawn_app().await;
    app.member("pam").await;
    let line = json!({"sku": "A", "quantity": 1, "unit_price_minor": 100, "paid_minor": 1_000_000});
    let (s, p) = app.post("/v1/orders", order_with_line("o-1", "pam", line)).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[0].paid_minor")), "{p}");
    assert!(detail(&p).contains("100 × 1"), "{p}");
    let (s, _) = app.get("/v1/orders/o-1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was recorded");

    // Paid exactly the list price of three units is fine; the second line is named.
    let mut o = order("o-2", "pam", 100, 1);
    o["lines"] = json!([
        {"sku": "A", "quantity": 3, "unit_price_minor": 100, "paid_minor": 300},
        {"sku": "B", "quantity": 2, "unit_price_minor": 50, "paid_minor": 101},
    ]);
    let (s, p) = app.post("/v1/orders", o.clone()).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[1].paid_minor")), "{p}");
    o["lines"][1]["paid_minor"] = json!(100);
    let (s, p) = app.post("/v1/orders", o).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(app.balances("pam").await["pending"], 4);
}

#[tokio::test]
async fn instants_before_1970_are_refused_in_every_timestamp_field() {
    // An order paid in 1900 was accepted and echoed in that year's local mean time (+08:06).
    let app = spawn_app().await;
    app.member("old").await;
    let (s, o) = app.post("/v1/orders", order("o-1", "old", 10_000, 1)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let early = "1900-01-01T00:00:00+08:00";
    let mut o = order("o-2", "old", 100, 1);
    o["paid_at"] = json!(early);
    let now = jiff::Timestamp::now().to_string();
    let posts = [
        ("/v1/orders", o, "paid_at"),
        ("/v1/orders/o-1/refunds", json!({"id": "r-1", "amount_minor": 1, "refunded_at": early}), "refunded_at"),
        ("/v1/members/old/activities", json!({"id": "a-1", "type": "review", "occurred_at": early}), "occurred_at"),
        ("/v1/members/old/tier/assignments", json!({"tier": "gold", "reason": "r", "until": early}), "until"),
        (
            "/v1/checkout/evaluate",
            json!({"member_id": "old", "at": early, "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 1}]}),
            "at",
        ),
    ];
    for (path, body, field) in posts {
        let (s, p) = app.post(path, body).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{path}: {p}");
        assert!(detail(&p).contains("1970-01-01T00:00:00Z"), "{path}: {p}");
    }
    let (s, p) = app.put("/v1/members/old", json!({"registered_at": "1969-12-31T23:59:59Z"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("registered_at")), "{p}");
    for (path, field) in [
        ("/v1/members/old/ledger?from=1900-01-01T00:00:00Z", "from"),
        ("/v1/members/old/ledger?to=0000-01-01T00:00:00Z", "to"),
        ("/v1/benefits/usage?from=1900-01-01T00:00:00Z", "from"),
    ] {
        let (s, p) = app.get(path).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{path}: {p}");
        assert!(detail(&p).contains("1970-01-01T00:00:00Z"), "{path}: {p}");
    }
    let (s, p) =
        app.post("/v1/members/old/activities", json!({"id": "a-2", "type": "review", "occurred_at": now})).await;
    assert_eq!(s, StatusCode::CREATED, "an instant of today is fine: {p}");
    assert_eq!(app.balances("old").await["pending"], 100, "only the first order was recorded");
}

#[tokio::test]
async fn timestamps_say_exactly_what_is_wrong_with_them() {
    // +25:00 was converted silently, year 0000 accepted, and year 9999 called "not RFC 3339".
    let app = spawn_app().await;
    app.member("tim").await;
    let paid = |at: &str| {
        let mut o = order("o-1", "tim", 100, 1);
        o["paid_at"] = json!(at);
        o
    };
    let cases = [
        ("2026-01-01T00:00:00+25:00", "offset +25:00 is beyond ±14:00"),
        ("2026-01-01T00:00:00-14:30", "offset -14:30 is beyond ±14:00"),
        ("0000-01-01T00:00:00Z", "before 1970-01-01T00:00:00Z"),
        // The future rule answers for an order of year 9999, as for any order in the future.
        ("9999-12-31T23:59:59Z", "is in the future"),
        ("2999-01-01T00:00:00+08:00", "is in the future"),
        ("yesterday", "not an RFC 3339 timestamp"),
    ];
    for (at, says) in cases {
        let (s, p) = app.post("/v1/orders", paid(at)).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("paid_at")), "{at}: {p}");
        assert!(detail(&p).contains(says), "{at}: {says} in {p}");
    }
    let (s, p) = app.post("/v1/orders", paid("2026-01-01T10:00:00+14:00")).await;
    assert_eq!(s, StatusCode::CREATED, "+14:00 is a real offset (Kiribati): {p}");

    // Where the future is allowed, year 9999 meets a range rule that says so.
    let body = json!({"tier": "gold", "reason": "r", "until": "9999-12-31T23:59:59Z"});
    let (s, p) = app.post("/v1/members/tim/tier/assignments", body).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("until")), "{p}");
    assert!(detail(&p).contains("must be before 2200-01-01T00:00:00Z"), "{p}");
    let (s, p) = app.get("/v1/benefits/usage?to=9999-12-31T23:59:59Z").await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("to")), "{p}");
    assert!(detail(&p).contains("must be before 2200-01-01T00:00:00Z"), "{p}");
}

#[tokio::test]
async fn an_activity_sent_again_with_other_fields_is_a_409_naming_them() {
    // The same activity id with another type used to answer 200 with the original.
    let app = spawn_app().await;
    app.member("act").await;
    let now = jiff::Timestamp::now().to_string();
    let first = json!({"id": "a-1", "type": "review", "occurred_at": now, "reference": "sku 1"});
    let (s, a) = app.post("/v1/members/act/activities", first.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, b) = app.post("/v1/members/act/activities", first.clone()).await;
    assert_eq!((s, &b), (StatusCode::OK, &a), "the same body is a replay");
    let mut other = first.clone();
    other["type"] = json!("share");
    let (s, p) = app.post("/v1/members/act/activities", other).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{p}");
    assert_eq!(p["differences"], json!(["type"]));
    let mut other = first.clone();
    other["occurred_at"] = json!("2026-01-01T00:00:00Z");
    other["reference"] = Value::Null;
    let (s, p) = app.post("/v1/members/act/activities", other).await;
    assert_eq!((s, p["differences"].clone()), (StatusCode::CONFLICT, json!(["occurred_at", "reference"])), "{p}");
    assert_eq!(app.balances("act").await["available"], 10, "one review awarded, once");

    // A claim carries nothing but its id: sent again, it is the same claim.
    app.post("/v1/members/act/tier/assignments", json!({"tier": "gold", "reason": "test"})).await;
    let (s, c) = app.post("/v1/members/act/benefits/free-samples/claims", json!({"id": "c-1"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, d) = app.post("/v1/members/act/benefits/free-samples/claims", json!({"id": "c-1"})).await;
    assert_eq!((s, &d), (StatusCode::OK, &c));
}

#[tokio::test]
async fn activity_and_claim_ids_are_named_as_such() {
    // Both were parsed as member ids.
    let app = spawn_app().await;
    app.member("ida").await;
    let now = jiff::Timestamp::now().to_string();
    let body = json!({"id": "a 1", "type": "review", "occurred_at": now});
    let (s, p) = app.post("/v1/members/ida/activities", body).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("id")), "{p}");
    assert!(detail(&p).contains("activity id"), "{p}");
    let (s, p) = app.post("/v1/members/ida/benefits/free-samples/claims", json!({"id": ""})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("id")), "{p}");
    assert!(detail(&p).contains("claim id"), "{p}");
}

#[tokio::test]
async fn every_reason_is_1_to_500_characters_without_control_characters() {
    // A tier assignment with an empty reason was accepted (the actor's name made it non-empty).
    let app = spawn_app().await;
    app.member("rea").await;
    let bad = ["", "   ", "line one\nline two", "nul\u{0}", &"r".repeat(501)];
    for (i, reason) in bad.iter().enumerate() {
        let (s, p) = app.post("/v1/members/rea/tier/assignments", json!({"tier": "gold", "reason": reason})).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")), "{reason:?}: {p}");
        let body = json!({"id": format!("adj-{i}"), "points": 5, "reason": reason});
        let (s, p) = app.post("/v1/members/rea/points/adjustments", body).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")), "{reason:?}: {p}");
    }
    let (_, t) = app.get("/v1/members/rea/tier").await;
    assert_eq!(t["tier"]["code"], "base", "no assignment was made");
    let (s, t) = app.post("/v1/members/rea/tier/assignments", json!({"tier": "gold", "reason": "r".repeat(500)})).await;
    assert_eq!((s, t["tier"]["code"].as_str()), (StatusCode::OK, Some("gold")), "{t}");
}

#[tokio::test]
async fn a_refund_of_zero_or_negative_units_is_refused_as_such() {
    // Quantity −1 was answered "-1 is more than the 1 units left to refund".
    let app = spawn_app().await;
    app.member("ref").await;
    app.post("/v1/orders", order("o-1", "ref", 10_000, 1)).await;
    for q in [-1, 0] {
        let (s, p) =
            app.post("/v1/orders/o-1/refunds", json!({"id": "r-1", "lines": [{"sku": "SKU-1", "quantity": q}]})).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[0].quantity")), "{p}");
        let d = detail(&p);
        assert!((d.contains("at least 1") || d.contains("between 1 and")) && !d.contains("left to refund"), "{p}");
    }
}

#[tokio::test]
async fn control_characters_are_refused_in_free_text() {
    // A NUL in a sku or a reason was stored.
    let app = spawn_app().await;
    app.member("ctl").await;
    let line = |field: &str| {
        let mut l =
            json!({"sku": "A", "category": "c", "brand": "b", "quantity": 1, "unit_price_minor": 1, "paid_minor": 1});
        l[field] = json!("x\u{0}y");
        l
    };
    for field in ["sku", "category", "brand"] {
        let (s, p) = app.post("/v1/orders", order_with_line("o-1", "ctl", line(field))).await;
        let at = format!("lines[0].{field}");
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(at.as_str())), "{p}");
        assert!(detail(&p).contains("control character"), "{p}");
        let mut cart = line(field);
        cart.as_object_mut().unwrap().remove("paid_minor");
        let (s, p) = app.post("/v1/checkout/evaluate", json!({"member_id": "ctl", "lines": [cart]})).await;
        assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(at.as_str())), "{p}");
    }
    let now = jiff::Timestamp::now().to_string();
    let body = json!({"id": "a-1", "type": "review", "occurred_at": now, "reference": "\u{1b}[31m"});
    let (s, p) = app.post("/v1/members/ctl/activities", body).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reference")), "{p}");
    let body = json!({"id": "adj-1", "points": 5, "reason": "goodwill\u{0}"});
    let (s, p) = app.post("/v1/members/ctl/points/adjustments", body).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")), "{p}");
    let (s, p) = app.put("/v1/members/ctl", json!({"name": "a\u{7}"})).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")), "{p}");
    assert_eq!(app.balances("ctl").await["available"], 0);
}

#[tokio::test]
async fn json_errors_name_the_missing_field_and_where_the_body_broke() {
    // A missing field was reported as "(body)" and truncated JSON as "?".
    let app = spawn_app().await;
    app.member("js").await;
    let mut o = order("o-1", "js", 100, 1);
    o["lines"][0].as_object_mut().unwrap().remove("paid_minor");
    let (s, p) = app.post("/v1/orders", o).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("lines[0].paid_minor")), "{p}");
    assert!(detail(&p).contains("required"), "{p}");
    let mut o = order("o-1", "js", 100, 1);
    o.as_object_mut().unwrap().remove("member_id");
    let (s, p) = app.post("/v1/orders", o).await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::BAD_REQUEST, Some("member_id")), "{p}");

    let cases: [(&str, &str, &str); 4] = [
        ("{\"id\": \"o-1\", \"member_id\": \"j", "member_id", "line 1, column 29"),
        ("{\"id\": \"o-1\",\n \"lines\": [{\"sku\": \"A\",\n", "lines[0]", "line 3, column 0"),
        ("{\"id\": \"o-1\", ", "(body)", "line 1, column 14"),
        ("{\"id\": \"o-1\",\n\n \"lines\": [}", "lines[0]", "line 3, column 12"),
    ];
    for (body, field, place) in cases {
        let (s, p) = app.post_raw("/v1/orders", body).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")), "{body}: {p}");
        assert_eq!(p["field"].as_str(), Some(field), "{body}: {p}");
        assert!(detail(&p).contains(place), "{body}: {place} in {p}");
    }
}

#[tokio::test]
async fn trailing_bytes_after_the_body_are_refused() {
    // `{…} this is not json` was executed as if the tail were not there.
    let app = spawn_app().await;
    app.member("tail").await;
    let body = format!("{} this is not json", order("o-1", "tail", 100, 1));
    let (s, _, p) = raw(&app, Method::POST, "/v1/orders", "application/json", body.into_bytes()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")), "{p}");
    assert!(detail(&p).contains("trailing"), "{p}");
    let (s, _) = app.get("/v1/orders/o-1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the order was not recorded");
    let body = format!("{}\n  \n", order("o-1", "tail", 100, 1));
    let (s, _, p) = raw(&app, Method::POST, "/v1/orders", "application/json", body.into_bytes()).await;
    assert_eq!(s, StatusCode::CREATED, "trailing white space is fine: {p}");
}

#[tokio::test]
async fn every_error_is_problem_json_405_404_415_413() {
    // DELETE on a member answered 405 with an empty body.
    let app = spawn_app().await;
    app.member("err").await;
    let problem =
        |h: &reqwest::header::HeaderMap| h.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (s, h, p) = raw(&app, Method::DELETE, "/v1/members/err", "application/json", Vec::new()).await;
    assert_eq!((s, problem(&h).as_deref()), (StatusCode::METHOD_NOT_ALLOWED, Some("application/problem+json")), "{p}");
    assert_eq!((p["status"].as_u64(), p["code"].as_str()), (Some(405), Some("method_not_allowed")), "{p}");
    let allow = h.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(allow.contains("GET") && allow.contains("PUT"), "Allow: {allow}");
    assert!(detail(&p).contains("DELETE") && detail(&p).contains("GET"), "{p}");

    let (s, h, p) = raw(&app, Method::GET, "/v1/no/such/route", "application/json", Vec::new()).await;
    assert_eq!((s, problem(&h).as_deref()), (StatusCode::NOT_FOUND, Some("application/problem+json")), "{p}");
    let (s, h, p) = raw(&app, Method::POST, "/v1/orders", "text/plain", b"{}".to_vec()).await;
    assert_eq!(
        (s, problem(&h).as_deref()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("application/problem+json")),
        "{p}"
    );
    let big = vec![b' '; 2 << 20];
    let (s, h, p) = raw(&app, Method::POST, "/v1/orders", "application/json", big).await;
    assert_eq!((s, problem(&h).as_deref()), (StatusCode::PAYLOAD_TOO_LARGE, Some("application/problem+json")), "{p}");
    assert_eq!(p["code"], "body_too_large");
}

#[tokio::test]
async fn the_benefits_endpoint_speaks_the_usage_reports_codes() {
    // It listed `member_price` and `special_discount` where orders, checkout and the usage
    // report say `member_discount` and `category_discount:{c}`.
    let app = spawn_app_with(&format!(
        "{STABLE}[[tiers.levels]]\ncode = \"base\"\nname = \"B\"\nentry = 0\ndiscount_percent = 90\n\
         [[tiers.levels.special_discounts]]\ncategory = \"beauty\"\npercent = 80\n"
    ))
    .await;
    app.member("ben").await;
    let (s, b) = app.get("/v1/members/ben/benefits").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let codes: Vec<&str> = b["benefits"].as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["member_discount", "category_discount:beauty"], "{b}");
    let cart = json!({"member_id": "ben", "lines": [
        {"sku": "A", "quantity": 1, "unit_price_minor": 1000},
        {"sku": "B", "category": "beauty", "quantity": 1, "unit_price_minor": 1000}]});
    let (s, e) = app.post("/v1/checkout/evaluate", cart).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let used: Vec<&str> = e["benefits"].as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert_eq!(used, codes, "checkout names the same benefits");
    let per_line: Vec<&Value> = e["lines"].as_array().unwrap().iter().map(|l| &l["benefits"]).collect();
    assert_eq!(per_line, [&json!(["member_discount"]), &json!(["category_discount:beauty"])], "{e}");
}

#[tokio::test]
async fn an_imported_order_goes_through_the_same_validation() {
    // The CSV import builds the same OrderInput and validates it; its refusals say the same.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    let ok = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24)).to_string();
    let text = format!(
        "order_id,member_id,paid_at,amount_minor,sku\n\
         o-1,m1,1900-01-01T00:00:00+08:00,100,A\n\
         o-2,m1,2026-01-01T00:00:00+25:00,100,A\n\
         o-3,m1,{ok},100,\"A\x01\"\n\
         o-4,m1,{ok},100,A\n"
    );
    std::fs::write(&file, text).unwrap();
    let opts = loyalty_engine::import::Options {
        batch: 100,
        rejects: dir.path().join("rejects.csv"),
        progress: false,
        group_bytes: 1 << 20,
        in_file_order: false,
        clock: loyalty_engine::clock::system(),
    };
    let kind = loyalty_engine::import::Kind::Orders;
    let sum = loyalty_engine::import::run(app.store.as_ref(), &app.program, kind, &file, &opts).await.unwrap();
    assert_eq!((sum.accepted, sum.rejected), (1, 3), "{sum}");
    let rejects = std::fs::read_to_string(&opts.rejects).unwrap();
    for says in ["1970-01-01T00:00:00Z", "offset +25:00 is beyond ±14:00", "lines[0].sku"] {
        assert!(rejects.contains(says), "{says} in {rejects}");
    }
}
