//! What a server does when a command cannot be applied: it refuses that command and goes on
//! writing for everyone else. A writer that is gone, or a database that takes no writes, shows
//! in `/healthz` and in the answer to every write, instead of a 503 that says "retry".

mod common;
use common::*;
use loyalty_core::order::{LineInput, OrderInput};
use loyalty_engine::{Command, Outcome, WriteError};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// A request whose answer may be a 5xx (`TestApp::send` refuses those): status, content type
/// and body.
async fn raw(base: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, String, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}")).bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, ct, resp.json().await.unwrap_or(Value::Null))
}

fn is_sqlite(app: &TestApp) -> bool {
    matches!(app.db, TestDb::Sqlite(_))
}

/// Issue 14 §0: the most negative adjustment once panicked the writer, and every write after
/// it answered 503 until a restart.
#[tokio::test]
async fn the_most_negative_adjustment_is_refused_and_writes_go_on() {
    let app = spawn_app().await;
    app.member("m").await;
    let (s, p) =
        app.post("/v1/members/m/points/adjustments", json!({"points": i64::MIN, "reason": "x", "id": "adj-1"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "points", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("between -1000000000000 and 1000000000000"), "{p}");
    let (s, o) = app.post("/v1/orders", order("o-1", "m", 10_000, 10)).await;
    assert_eq!(s, StatusCode::CREATED, "writes go on: {o}");
    assert_eq!(app.balances("m").await["available"], 100);
    app.assert_verified().await;
}

fn order_cmd(app: &TestApp, id: &str, member: &str) -> Command {
    let input = OrderInput {
        id: id.into(),
        member_id: member.into(),
        paid_at: jiff::Timestamp::now().to_string(),
        currency: None,
        lines: vec![LineInput::one_unit("S".into(), None, None, 10_000)],
        shipping_minor: 0,
        shipping_waived_minor: 0,
        coupons: Vec::new(),
    };
    Command::PlaceOrder { order: input.validate(&app.program, jiff::Timestamp::now()).unwrap(), create_member: false }
}

/// A member whose stored balance no longer matches its lots trips an invariant as soon as a
/// command touches it. That command is refused with a 500; the commands that shared its batch
/// are applied, and the writer goes on.
#[tokio::test]
async fn a_command_that_panics_is_refused_alone_and_the_rest_of_its_batch_is_applied() {
    let app = spawn_app().await;
    app.member("good").await;
    app.member("bad").await;
    let (s, a) =
        app.post("/v1/members/bad/points/adjustments", json!({"points": 100, "reason": "gift", "id": "a0"})).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    app.store.execute_raw("UPDATE members SET active = active + 5 WHERE member_id = 'bad'").await.unwrap();

    // Sent together, before the writer runs again: one batch.
    let bad = Command::Adjust {
        member: loyalty_core::ids::MemberId::parse("bad").unwrap(),
        id: loyalty_core::ids::AdjustmentId::parse("a1").unwrap(),
        points: loyalty_core::Points::new(1),
        reason: loyalty_core::text::Reason::parse("gift").unwrap(),
        actor: "test".into(),
        audited: false,
    };
    let mut cmds = vec![order_cmd(&app, "g-1", "good"), bad];
    cmds.extend((2..=7).map(|n| order_cmd(&app, &format!("g-{n}"), "good")));
    let answers = futures_util::future::join_all(cmds.into_iter().map(|c| app.state.writer.submit(c))).await;
    match &answers[1] {
        Err(WriteError::Internal { what }) => assert_eq!(what, "adjustment for member bad"),
        other => panic!("the bad command is refused as internal: {other:?}"),
    }
    for (i, a) in answers.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert!(matches!(a, Ok(Outcome::Order { replayed: false, .. })), "command {i} is applied: {a:?}");
    }
    assert_eq!(app.balances("good").await["pending"], 700, "seven orders of 100 points");

    let (s, ct, p) = raw(
        &app.base,
        Method::POST,
        "/v1/members/bad/points/adjustments",
        Some(json!({"points": 1, "reason": "gift", "id": "a2"})),
    )
    .await;
    assert_eq!(
        (s, ct.as_str(), p["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "application/problem+json", Some("internal")),
        "{p}"
    );
    let (s, l) = app.get("/v1/members/bad/ledger").await;
    assert_eq!(
        (s, l["items"].as_array().unwrap().len()),
        (StatusCode::OK, 1),
        "nothing of a refused command is written: {l}"
    );
    let (s, o) = app.post("/v1/orders", order("g-8", "good", 10_000, 0)).await;
    assert_eq!(s, StatusCode::CREATED, "the writer goes on: {o}");
    let (s, h) = app.get("/healthz").await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let r = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 50).await.unwrap();
    assert!(r.violations.iter().all(|v| v.member_id == "bad"), "only the tampered member is wrong: {:?}", r.violations);
}

#[tokio::test]
async fn healthz_reports_a_stopped_writer_and_writes_say_so() {
    let app = spawn_app().await;
    let (s, h) = app.get("/healthz").await;
    assert_eq!((s, h["writes"].as_str()), (StatusCode::OK, Some("ok")), "{h}");
    app.state.writer.stop();
    tokio::time::timeout(Duration::from_secs(10), app.state.writer.stopped()).await.expect("the writer stops");
    let (s, ct, p) = raw(&app.base, Method::GET, "/healthz", None).await;
    assert_eq!(
        (s, ct.as_str(), p["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "application/problem+json", Some("writer_stopped")),
        "{p}"
    );
    let (s, _, p) = raw(&app.base, Method::PUT, "/v1/members/m", Some(json!({"name": "m"}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("writer_stopped")), "{p}");
}

/// SQLite opened read-only (`mode=ro`, what a write-protected file or a read-only mount gives a
/// process that is not root) reads and refuses every write. Tests run as root, which writes
/// through file permissions, so the URL's mode stands for them.
#[tokio::test]
async fn a_read_only_database_is_unhealthy_and_its_writes_do_not_advise_a_retry() {
    let app = spawn_app().await;
    if !is_sqlite(&app) {
        eprintln!("SQLite only: a PostgreSQL database is read-only by its server's settings");
        return;
    }
    app.member("m").await;
    let store = loyalty_store::open(&format!("{}?mode=ro", app.url)).await.expect("a read-only file opens");
    let (_state, base) = serve_store(store, app.program.clone()).await;
    let (s, ct, p) = raw(&base, Method::GET, "/healthz", None).await;
    assert_eq!(
        (s, ct.as_str(), p["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "application/problem+json", Some("read_only")),
        "{p}"
    );
    let (s, _, m) = raw(&base, Method::GET, "/v1/members/m", None).await;
    assert_eq!(s, StatusCode::OK, "reads still work: {m}");
    let (s, _, p) = raw(&base, Method::PUT, "/v1/members/n", Some(json!({"name": "n"}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("read_only")), "{p}");
    assert!(!p["detail"].as_str().unwrap().contains("retry"), "no retry can succeed: {p}");
}

/// `loyalty serve` on a database that takes no writes exits non-zero at once, saying so,
/// instead of logging "serving" and failing every write.
#[tokio::test]
async fn serve_refuses_to_start_on_a_read_only_database() {
    let app = spawn_app().await;
    let url = if is_sqlite(&app) {
        format!("{}?mode=ro", app.url)
    } else {
        format!("{}?options=-c%20default_transaction_read_only%3Don", app.url)
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(["serve", "--database-url", &url, "--listen", "127.0.0.1:0"])
        .env("LOYALTY_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run loyalty serve");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("loyalty serve started on a read-only database");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("does not accept writes"), "{stderr}");
    assert!(!stderr.contains("serving"), "{stderr}");
}
