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
