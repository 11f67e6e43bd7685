//! Spawns the real app on a fresh database for each test: SQLite by default, PostgreSQL
//! when `LOYALTY_TEST_DATABASE_URL` names a server (each test creates its own database and
//! drops it afterwards).
#![allow(dead_code)]

use loyalty_core::Program;
use loyalty_store::Store;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

pub const ADMIN: &str = "test-admin-key-for-the-suite";
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub enum TestDb {
    Sqlite(std::path::PathBuf),
    Postgres { server: String, name: String },
}

impl TestDb {
    /// A fresh, empty database and its URL.
    pub async fn fresh() -> (Self, String) {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}_{}_{}", std::process::id(), n, rand::random::<u32>());
        match std::env::var("LOYALTY_TEST_DATABASE_URL") {
            Ok(server) if server.starts_with("postgres") => {
                let name = format!("loyalty_test_{tag}");
                let admin = sqlx::PgPool::connect(&server).await.expect("connect to the test PostgreSQL server");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create test database");
                admin.close().await;
                let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
                let url = format!("{base}/{name}");
                (Self::Postgres { server, name }, url)
            }
            _ => {
                let path = std::env::temp_dir().join(format!("loyalty_test_{tag}.db"));
                let url = format!("sqlite://{}", path.display());
                (Self::Sqlite(path), url)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            TestDb::Postgres { server, name } => {
                let (server, name) = (server.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        if let Ok(admin) = sqlx::PgPool::connect(&server).await {
                            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&admin)
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    /// The running app's state: its writer, store and clock, for tests that look inside.
    pub state: loyalty_http::AppState,
    pub base: String,
    pub url: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub program: Program,
    pub db: TestDb,
}

/// The default programme without its date-dependent multipliers (member day on the 18th,
/// birthday month), so that point figures do not depend on the day the suite runs.
pub const STABLE: &str = "[member_day]\nday_of_month = 0\n[birthday]\npoints_multiplier = 1.0\n";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(STABLE).await
}

/// Starts the app with a programme file's text on a fresh database, on port 0.
pub async fn spawn_app_with(program_toml: &str) -> TestApp {
    spawn_app_on(program_toml, loyalty_engine::clock::system()).await
}

/// Starts the app on a clock the test sets (`ManualClock`), so that time passes when the test
/// says and no test waits for it.
pub async fn spawn_app_on(program_toml: &str, clock: loyalty_engine::SharedClock) -> TestApp {
    spawn_app_keyed(program_toml, clock, ADMIN).await
}

/// As [`spawn_app_on`], with `admin_key` as the bootstrap admin key instead of [`ADMIN`] (the
/// README's walkthrough sends the key the README starts its server with).
pub async fn spawn_app_keyed(program_toml: &str, clock: loyalty_engine::SharedClock, admin_key: &str) -> TestApp {
    let program = Program::from_toml(program_toml).expect("test programme is valid");
    let (db, url) = TestDb::fresh().await;
    let store = loyalty_store::open(&url).await.expect("open the test store");
    let (state, base) = serve_store_keyed(store.clone(), program.clone(), clock, admin_key).await;
    TestApp { state, base, url, client: reqwest::Client::new(), store, program, db }
}

/// Serves the app on `store` on port 0: its state and base URL.
pub async fn serve_store(store: Arc<dyn Store>, program: Program) -> (loyalty_http::AppState, String) {
    serve_store_on(store, program, loyalty_engine::clock::system()).await
}

/// As [`serve_store`], on the given clock.
pub async fn serve_store_on(
    store: Arc<dyn Store>,
    program: Program,
    clock: loyalty_engine::SharedClock,
) -> (loyalty_http::AppState, String) {
    serve_store_keyed(store, program, clock, ADMIN).await
}

/// As [`serve_store_on`], with the given bootstrap admin key.
pub async fn serve_store_keyed(
    store: Arc<dyn Store>,
    program: Program,
    clock: loyalty_engine::SharedClock,
    admin_key: &str,
) -> (loyalty_http::AppState, String) {
    loyalty::app::apply_program_definitions(store.as_ref(), &program, clock.now())
        .await
        .expect("the programme's definitions are created");
    let settings = loyalty::Settings { admin_key: Some(admin_key.to_owned()), clock, web: Default::default() };
    let app = loyalty::Application::build(store, program, settings).expect("the app builds");
    let (state, router) = (app.state, app.router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (state, base)
}

impl TestApp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(i) = idem {
            req = req.header("Idempotency-Key", i);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let text = resp.text().await.unwrap();
        if !status.is_success() && status != StatusCode::NOT_FOUND || status.is_client_error() {
            assert_eq!(ct, "application/problem+json", "errors are problem+json: {status} {text}");
        }
        assert!(!status.is_server_error(), "no input may produce a 5xx: {path} -> {status} {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None, Some(ADMIN), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(&body), Some(ADMIN), None).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, path, Some(&body), Some(ADMIN), None).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(&body), Some(ADMIN), None).await
    }
    /// Posts raw bytes (malformed bodies).
    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(ct, "application/problem+json");
        (status, resp.json().await.unwrap())
    }

    pub async fn member(&self, id: &str) -> Value {
        self.put(&format!("/v1/members/{id}"), serde_json::json!({"name": id})).await.1
    }

    pub async fn balances(&self, id: &str) -> Value {
        let (s, m) = self.get(&format!("/v1/members/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{m}");
        m["balances"].clone()
    }

    /// Asserts `loyalty verify` finds nothing wrong.
    pub async fn assert_verified(&self) {
        let r = loyalty_engine::jobs::verify_all(self.store.as_ref(), &self.program, 50).await.unwrap();
        assert!(r.violations.is_empty(), "verify found: {:?}", r.violations);
    }
}

/// An order paid `days_ago` days ago for `paid_minor` fen of goods.
pub fn order(id: &str, member: &str, paid_minor: i64, days_ago: i64) -> Value {
    let paid_at = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_hours(24 * days_ago)).unwrap();
    serde_json::json!({
        "id": id, "member_id": member, "paid_at": paid_at.to_string(), "currency": "CNY",
        "lines": [{"sku": "SKU-1", "category": "shoes", "brand": "acme", "quantity": 1, "unit_price_minor": paid_minor, "paid_minor": paid_minor}],
        "shipping_minor": 800
    })
}

/// Runs the `loyalty` binary on the database at `url`: (exit code, stdout, stderr).
pub fn loyalty_bin(url: &str, args: &[&str]) -> (i32, String, String) {
    // Through the environment: each command takes --database-url after its name, and some
    // (check-config) none at all.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .env("LOYALTY_DATABASE_URL", url)
        .args(args)
        .env("LOYALTY_LOG", "warn")
        .output()
        .expect("run loyalty");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
