//! `Idempotency-Key` under concurrency (issue 14 §0b) and the purge of kept responses (§7):
//! a key binds to exactly one request however many arrive at once, and kept responses age by
//! the real clock. Runs on SQLite, and on PostgreSQL with `LOYALTY_TEST_DATABASE_URL`.

mod common;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PARALLEL: usize = 50;

/// One answer as a client sees it.
struct Answer {
    status: StatusCode,
    body: Value,
    /// `Idempotent-Replayed: true`: the answer of an earlier request, not a run of this one.
    replayed: bool,
    retry_after: Option<String>,
}

impl Answer {
    fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }
}

/// Sends every `(path, body)` at once with Idempotency-Key `key`, as the admin.
async fn all_at_once(app: &TestApp, key: &str, requests: Vec<(String, Value)>) -> Vec<Answer> {
    let sends = requests.into_iter().map(|(path, body)| {
        let req = app.client.post(format!("{}{path}", app.base)).bearer_auth(ADMIN).header("Idempotency-Key", key);
        async move {
            let resp = req.json(&body).send().await.expect("request sent");
            let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let (replayed, retry_after) = (header("idempotent-replayed").is_some(), header("retry-after"));
            let status = resp.status();
            let text = resp.text().await.unwrap();
            Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), replayed, retry_after }
        }
    });
    futures_util::future::join_all(sends).await
}

/// Asserts every answer other than the ones `executed` picks is a refusal of the key: a 422
/// `idempotency_key_reused`, or a 409 `idempotency_key_in_use` with `Retry-After`.
fn assert_refused(answers: &[&Answer]) {
    for a in answers {
        match a.status {
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(a.code(), Some("idempotency_key_reused"), "{}", a.body),
            StatusCode::CONFLICT => {
                assert_eq!(a.code(), Some("idempotency_key_in_use"), "{}", a.body);
                assert!(a.retry_after.is_some(), "a 409 says when to retry");
            }
            other => panic!("a refused request got {other}: {}", a.body),
        }
    }
}

/// Whether order `id` exists in the store.
async fn order_exists(app: &TestApp, id: &str) -> bool {
    let (s, o) = app.get(&format!("/v1/orders/{id}")).await;
    assert!(s == StatusCode::OK || o["code"] == "order_not_found", "{s} {o}");
    s == StatusCode::OK
}

/// A member with 10,000 available points, for holds: enough for all 50 holds of 100, so only
/// the key can stop them.
async fn member_with_points(app: &TestApp, id: &str) {
    app.member(id).await;
    let (s, _) = app.post("/v1/orders", order(&format!("{id}-o"), id, 1_000_000, 10)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(app.balances(id).await["available"], 10_000);
}

fn hold(order_id: &str) -> Value {
    json!({"points": 100, "order_amount_minor": 100_000, "order_id": order_id, "ttl_seconds": 600})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_orders_with_one_key_and_different_bodies_execute_exactly_one() {
    // Proves the key is claimed before anything runs: of 50 different orders sent at once with
    // one key, exactly one is placed (the store holds one order, one earning) and every other
    // request is refused, never executed.
    let app = spawn_app().await;
    app.member("ann").await;
    let requests = (0..PARALLEL).map(|i| ("/v1/orders".to_owned(), order(&format!("o-{i}"), "ann", 10_000, 1)));
    let answers = all_at_once(&app, "one-key", requests.collect()).await;
    let (placed, refused): (Vec<_>, Vec<_>) = answers.iter().partition(|a| a.status == StatusCode::CREATED);
    assert_eq!(placed.len(), 1, "exactly one request ran: {:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_refused(&refused);
    let winner = placed[0].body["id"].as_str().unwrap().to_owned();
    let mut in_store = Vec::new();
    for i in 0..PARALLEL {
        if order_exists(&app, &format!("o-{i}")).await {
            in_store.push(format!("o-{i}"));
        }
    }
    assert_eq!(in_store, [winner], "the store holds the one order that was answered 201");
    assert_eq!(app.balances("ann").await["pending"], 100, "one order's points");
    app.assert_verified().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_identical_orders_with_one_key_run_once_and_all_get_its_answer() {
    // Proves concurrent twins wait for the first request's answer and replay it: the handler
    // runs once (one answer not marked replayed), and every other answer is that same 201 and
    // body, marked replayed, or a 409 when the wait ran out.
    let app = spawn_app().await;
    app.member("bo").await;
    let body = order("o-1", "bo", 10_000, 1);
    let answers = all_at_once(&app, "twin-key", vec![("/v1/orders".to_owned(), body); PARALLEL]).await;
    let (ran, others): (Vec<_>, Vec<_>) = answers.iter().partition(|a| !a.replayed && a.status != StatusCode::CONFLICT);
    assert_eq!(ran.len(), 1, "one run: {:?}", answers.iter().map(|a| (a.status, a.replayed)).collect::<Vec<_>>());
    assert_eq!(ran[0].status, StatusCode::CREATED, "{}", ran[0].body);
    for a in &others {
        if a.status == StatusCode::CONFLICT {
            assert_refused(&[a]);
        } else {
            assert_eq!((a.status, &a.body), (StatusCode::CREATED, &ran[0].body), "the first answer, replayed");
        }
    }
    assert_eq!(app.balances("bo").await["pending"], 100);
    let (_, l) = app.get("/v1/members/bo/ledger?kind=earn").await;
    assert_eq!(l["items"].as_array().unwrap().len(), 1, "one earning: {l}");
    app.assert_verified().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_holds_with_one_key_and_different_bodies_take_points_once() {
    // Proves the same for holds: the engine deduplicates holds by order id only, so for 50 holds
    // for different orders sent at once with one key, the key alone must let one be taken (100
    // points held).
    let app = spawn_app().await;
    member_with_points(&app, "cy").await;
    let requests = (0..PARALLEL).map(|i| ("/v1/members/cy/points/holds".to_owned(), hold(&format!("c-{i}"))));
    let answers = all_at_once(&app, "hold-key", requests.collect()).await;
    let (taken, refused): (Vec<_>, Vec<_>) = answers.iter().partition(|a| a.status == StatusCode::CREATED);
    assert_eq!(taken.len(), 1, "exactly one hold: {:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_refused(&refused);
    let b = app.balances("cy").await;
    assert_eq!((b["held"].as_i64(), b["available"].as_i64()), (Some(100), Some(9_900)));
    app.assert_verified().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_identical_holds_with_one_key_take_points_once() {
    // Proves twins of a hold run once: one answer is not marked replayed (a twin that ran would
    // get the engine's own replay of the hold by its order id, a 200 not marked), the others are
    // its 201 replayed or a 409, and 100 points are held.
    let app = spawn_app().await;
    member_with_points(&app, "di").await;
    let requests = vec![("/v1/members/di/points/holds".to_owned(), hold("d-1")); PARALLEL];
    let answers = all_at_once(&app, "hold-twin", requests).await;
    let (ran, others): (Vec<_>, Vec<_>) = answers.iter().partition(|a| !a.replayed && a.status != StatusCode::CONFLICT);
    assert_eq!(ran.len(), 1, "one run: {:?}", answers.iter().map(|a| (a.status, a.replayed)).collect::<Vec<_>>());
    assert_eq!(ran[0].status, StatusCode::CREATED, "{}", ran[0].body);
    for a in &others {
        if a.status == StatusCode::CONFLICT {
            assert_refused(&[a]);
        } else {
            assert_eq!((a.status, &a.body), (StatusCode::CREATED, &ran[0].body), "the first answer, replayed");
        }
    }
    let b = app.balances("di").await;
    assert_eq!((b["held"].as_i64(), b["available"].as_i64()), (Some(100), Some(9_900)));
    app.assert_verified().await;
}

/// Makes every write of order `id` fail in the database, so its batch fails (a 503).
async fn refuse_order_writes(app: &TestApp, id: &str) {
    let statements = if app.store.backend() == "postgres" {
        vec![
            "CREATE FUNCTION refuse_order() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER refuse_order BEFORE INSERT OR UPDATE ON orders FOR EACH ROW \
                 WHEN (NEW.order_id = '{id}') EXECUTE FUNCTION refuse_order()"
            ),
        ]
    } else {
        vec![
            format!(
                "CREATE TRIGGER refuse_order BEFORE INSERT ON orders WHEN NEW.order_id = '{id}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            ),
            format!(
                "CREATE TRIGGER refuse_order_update BEFORE UPDATE ON orders WHEN NEW.order_id = '{id}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            ),
        ]
    };
    for s in statements {
        app.store.execute_raw(&s).await.expect("create the refusing trigger");
    }
}

async fn allow_order_writes(app: &TestApp) {
    let statements: &[&str] = if app.store.backend() == "postgres" {
        &["DROP TRIGGER refuse_order ON orders", "DROP FUNCTION refuse_order()"]
    } else {
        &["DROP TRIGGER refuse_order", "DROP TRIGGER refuse_order_update"]
    };
    for s in statements {
        app.store.execute_raw(s).await.expect("drop the refusing trigger");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_5xx_releases_the_key_so_a_retry_runs() {
    // Proves a 5xx is no answer: while the database refuses the order, every request with the
    // key fails (503) or is told to wait (409), none is kept; once the database accepts it, a
    // retry with the same key runs and places the order, and the key is then bound to it.
    let app = spawn_app().await;
    app.member("eve").await;
    refuse_order_writes(&app, "o-1").await;
    let body = order("o-1", "eve", 10_000, 1);
    let answers = all_at_once(&app, "flaky", vec![("/v1/orders".to_owned(), body.clone()); 10]).await;
    for a in &answers {
        match a.status {
            StatusCode::SERVICE_UNAVAILABLE => assert!(!a.replayed, "a 5xx is never kept or replayed"),
            StatusCode::CONFLICT => assert_refused(&[a]),
            other => panic!("the database refuses the order, yet {other}: {}", a.body),
        }
    }
    assert!(answers.iter().any(|a| a.status == StatusCode::SERVICE_UNAVAILABLE));
    assert!(!order_exists(&app, "o-1").await);
    allow_order_writes(&app).await;
    let retry = all_at_once(&app, "flaky", vec![("/v1/orders".to_owned(), body)]).await;
    assert_eq!((retry[0].status, retry[0].replayed), (StatusCode::CREATED, false), "{}", retry[0].body);
    assert!(order_exists(&app, "o-1").await);
    let other = all_at_once(&app, "flaky", vec![("/v1/orders".to_owned(), order("o-2", "eve", 10_000, 1))]).await;
    assert_refused(&[&other[0]]);
    assert_eq!(other[0].status, StatusCode::UNPROCESSABLE_ENTITY);
    app.assert_verified().await;
}

/// Waits until the answer for `key` is committed to the store (it goes out before).
async fn kept(app: &TestApp, key: &str) -> loyalty_store::IdemRecord {
    for _ in 0..250 {
        if let Some(rec) = app.store.idem_get("bootstrap-admin", key).await.unwrap() {
            return rec;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the answer for {key:?} was never kept");
}

#[tokio::test]
async fn jobs_run_now_in_the_future_purges_kept_responses_by_the_real_clock() {
    // Proves the purge cutoff comes from the real clock, not from `--now`: `jobs run --now` three
    // days ahead keeps a response kept a moment ago (its key still refuses another body), and
    // `--now` three days back still purges a response kept 49 real hours ago.
    let app = spawn_app().await;
    app.member("fen").await;
    let (s, _) = app
        .send(reqwest::Method::POST, "/v1/orders", Some(&order("o-1", "fen", 10_000, 1)), Some(ADMIN), Some("recent"))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    kept(&app, "recent").await;
    let old = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_hours(49)).unwrap();
    app.store
        .execute_raw(&format!(
            "INSERT INTO idempotency (principal, idem_key, request_hash, status, body, created_at) \
             VALUES ('bootstrap-admin', 'old', 'h', 201, '{{}}', {})",
            old.as_microsecond()
        ))
        .await
        .unwrap();

    let in_3_days = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(72)).unwrap().to_string();
    let (code, out, err) = loyalty_bin(&app.url, &["jobs", "run", "--now", &in_3_days]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 1 idempotency records purged"), "only the 49-hour-old one: {out}");
    assert!(app.store.idem_get("bootstrap-admin", "recent").await.unwrap().is_some(), "kept a moment ago: kept");
    assert!(app.store.idem_get("bootstrap-admin", "old").await.unwrap().is_none());
    let (s, p) = app
        .send(reqwest::Method::POST, "/v1/orders", Some(&order("o-2", "fen", 10_000, 1)), Some(ADMIN), Some("recent"))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));
    assert!(!order_exists(&app, "o-2").await, "the reused key placed nothing");

    app.store
        .execute_raw(&format!(
            "INSERT INTO idempotency (principal, idem_key, request_hash, status, body, created_at) \
             VALUES ('bootstrap-admin', 'old-2', 'h', 201, '{{}}', {})",
            old.as_microsecond()
        ))
        .await
        .unwrap();
    let three_days_ago = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_hours(72)).unwrap().to_string();
    let (code, out, err) = loyalty_bin(&app.url, &["jobs", "run", "--now", &three_days_ago]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 1 idempotency records purged"), "49 real hours old, whatever --now says: {out}");
    assert!(app.store.idem_get("bootstrap-admin", "recent").await.unwrap().is_some());
}
