//! Who may call what: every route × every scope against the running app (SQLite, or
//! PostgreSQL when LOYALTY_TEST_DATABASE_URL is set), the OpenAPI document's scopes, and the
//! lifecycle of keys (listing, last use, revocation, the bootstrap key, the Bearer scheme).

mod common;
use common::*;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const ADMIN_KEY: &str = "lk_scopes_admin_key";
const ANALYST_KEY: &str = "lk_scopes_analyst_key";
const INTEGRATION_KEY: &str = "lk_scopes_integration_key";
const SCOPES: [(&str, &str); 3] = [("admin", ADMIN_KEY), ("analyst", ANALYST_KEY), ("integration", INTEGRATION_KEY)];

const ADMIN_ONLY: &[&str] = &["admin"];
const SHOP: &[&str] = &["admin", "integration"];
const ANALYSTS: &[&str] = &["admin", "analyst"];
const ANY_READER: &[&str] = &["admin", "integration", "analyst"];

/// The policy: every operation of the API and the scopes that may call it. The store's
/// servers (integration) run checkout; the whole store's figures and member lists are
/// operations data (analyst, read-only); operators (admin) may do everything.
const POLICY: &[(&str, &str, &[&str])] = &[
    ("PUT", "/v1/members/{id}", SHOP),
    ("GET", "/v1/members/{id}", SHOP),
    ("GET", "/v1/members/{id}/ledger", SHOP),
    ("GET", "/v1/members/{id}/lots", SHOP),
    ("POST", "/v1/members/{id}/points/holds", SHOP),
    ("POST", "/v1/members/{id}/points/holds/{hold_id}/capture", SHOP),
    ("POST", "/v1/members/{id}/points/holds/{hold_id}/release", SHOP),
    ("POST", "/v1/orders", SHOP),
    ("GET", "/v1/orders/{id}", SHOP),
    ("POST", "/v1/orders/{id}/refunds", SHOP),
    ("GET", "/v1/members/{id}/tier", SHOP),
    ("GET", "/v1/members/{id}/tier/history", SHOP),
    ("POST", "/v1/members/{id}/activities", SHOP),
    ("GET", "/v1/members/{id}/benefits", SHOP),
    ("POST", "/v1/members/{id}/benefits/free-samples/claims", SHOP),
    ("POST", "/v1/checkout/evaluate", SHOP),
    ("GET", "/v1/coupon-templates", SHOP),
    ("GET", "/v1/coupon-templates/{id}", SHOP),
    ("POST", "/v1/members/{id}/coupons", SHOP),
    ("GET", "/v1/members/{id}/coupons", SHOP),
    ("GET", "/v1/rewards", SHOP),
    ("GET", "/v1/rewards/{id}", SHOP),
    ("POST", "/v1/members/{id}/redemptions", SHOP),
    ("GET", "/v1/members/{id}/redemptions", SHOP),
    ("GET", "/v1/members/{id}/redemptions/{redemption_id}", SHOP),
    ("POST", "/v1/members/{id}/redemptions/{redemption_id}/status", SHOP),
    ("PUT", "/v1/members/{id}/redemptions/{redemption_id}/address", SHOP),
    ("GET", "/v1/lotteries", SHOP),
    ("GET", "/v1/lotteries/{id}", SHOP),
    ("POST", "/v1/lotteries/{id}/draws", SHOP),
    ("GET", "/v1/members/{id}/draws", SHOP),
    ("GET", "/v1/members/{id}/insight", ANY_READER),
    ("GET", "/v1/segments", ANALYSTS),
    ("GET", "/v1/segments/{name}/members", ANALYSTS),
    ("GET", "/v1/kpis", ANALYSTS),
    ("GET", "/v1/models/clv", ANALYSTS),
    ("GET", "/v1/benefits/usage", ANALYSTS),
    ("GET", "/v1/coupon-templates/{id}/report", ANALYSTS),
    ("GET", "/v1/rewards/{id}/report", ANALYSTS),
    ("GET", "/v1/lotteries/{id}/report", ANALYSTS),
    ("GET", "/v1/plans", SHOP),
    ("GET", "/v1/members/{id}/membership", SHOP),
    ("GET", "/v1/members/{id}/membership/history", SHOP),
    ("POST", "/v1/members/{id}/memberships", SHOP),
    ("POST", "/v1/members/{id}/membership/upgrade", SHOP),
    ("POST", "/v1/members/{id}/membership/cancel", SHOP),
    ("POST", "/v1/members/{id}/membership/resume", SHOP),
    ("POST", "/v1/members/{id}/membership/refund", ADMIN_ONLY),
    ("POST", "/v1/members/{id}/plan-invitations", ADMIN_ONLY),
    ("GET", "/v1/memberships/report", ANALYSTS),
    ("POST", "/v1/members/{id}/checkins", SHOP),
    ("POST", "/v1/members/{id}/sessions", SHOP),
    ("GET", "/v1/members/{id}/checkins", SHOP),
    ("POST", "/v1/members/{id}/checkins/makeups", SHOP),
    ("GET", "/v1/tasks", SHOP),
    ("GET", "/v1/tasks/{id}", SHOP),
    ("GET", "/v1/members/{id}/tasks", SHOP),
    ("GET", "/v1/members/{id}/gifts", SHOP),
    ("GET", "/v1/members/{id}/referral", SHOP),
    ("GET", "/v1/members/{id}/referrals", SHOP),
    ("GET", "/v1/referrals/report", ANALYSTS),
    ("GET", "/v1/events", SHOP),
    ("POST", "/v1/members/{id}/points/adjustments", ADMIN_ONLY),
    ("POST", "/v1/members/{id}/tier/assignments", ADMIN_ONLY),
    ("GET", "/v1/api-keys", ADMIN_ONLY),
    ("DELETE", "/v1/api-keys/{name}", ADMIN_ONLY),
    ("GET", "/v1/members/{id}/export", ADMIN_ONLY),
    ("POST", "/v1/members/{id}/erase", ADMIN_ONLY),
    ("POST", "/v1/coupon-templates", ADMIN_ONLY),
    ("POST", "/v1/tasks", ADMIN_ONLY),
    ("PATCH", "/v1/tasks/{id}", ADMIN_ONLY),
    ("PATCH", "/v1/coupon-templates/{id}", ADMIN_ONLY),
    ("POST", "/v1/coupon-templates/{id}/codes", ADMIN_ONLY),
    ("GET", "/v1/coupon-templates/{id}/codes", ADMIN_ONLY),
    ("POST", "/v1/rewards", ADMIN_ONLY),
    ("PATCH", "/v1/rewards/{id}", ADMIN_ONLY),
    ("POST", "/v1/lotteries", ADMIN_ONLY),
    ("PATCH", "/v1/lotteries/{id}", ADMIN_ONLY),
    ("GET", "/v1/members/{id}/draws/{draw_id}/audit", ADMIN_ONLY),
];

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

/// Sends a request and returns its status, `WWW-Authenticate` header and body.
async fn call(
    app: &TestApp,
    m: &str,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut req = app.client.request(method(m), format!("{}{path}", app.base));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let challenge = resp.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = resp.text().await.unwrap();
    (status, challenge, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn add_key(app: &TestApp, key: &str, name: &str, scope: &str) {
    let hash = loyalty_http::auth::hash_key(key);
    assert!(app.store.insert_api_key(&hash, name, scope, jiff::Timestamp::now()).await.unwrap(), "{name} is new");
}

/// Members, an order, points, a diamond member (free samples) and an insight run, made with
/// the bootstrap admin key, for the requests below to act on.
async fn arrange(app: &TestApp) {
    for (scope, key) in SCOPES {
        add_key(app, key, &format!("{scope}-key"), scope).await;
    }
    app.member("shared").await;
    let (s, o) = app.post("/v1/orders", order("o-shared", "shared", 100_000, 10)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let (s, a) = app
        .post("/v1/members/shared/points/adjustments", json!({"id": "seed", "points": 1_000_000, "reason": "seed"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let template = json!({"id": "t-shared", "name": "shared", "benefit": {"kind": "free_shipping"},
        "validity": {"relative": {"days": 1}}, "channels": ["claim", "issue", "code"]});
    let (s, t) = app.post("/v1/coupon-templates", template).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let task = json!({"id": "task-shared", "name": "shared", "goal": {"kind": "orders", "target": 2}, "reward": {"points": 1}});
    let (s, t) = app.post("/v1/tasks", task).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let reward = json!({"id": "r-shared", "name": "Mug", "item": {"kind": "goods", "sku": "MUG"}, "price_points": 10});
    let (s, r) = app.post("/v1/rewards", reward).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let lottery = json!({"id": "l-shared", "name": "Spin", "cost_points": 1, "fallback": "none",
        "prizes": [{"id": "p", "name": "10 points", "weight": 1, "item": {"kind": "points", "points": 10}},
                   {"id": "none", "name": "Thanks", "weight": 1, "item": {"kind": "nothing"}}]});
    let (s, l) = app.post("/v1/lotteries", lottery).await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let redeem = json!({"id": "red-shared", "reward": "r-shared",
        "address": {"name": "Li", "phone": "138", "line": "1 Road"}});
    let (s, r) = app.post("/v1/members/shared/redemptions", redeem).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, d) = app.post("/v1/lotteries/l-shared/draws", json!({"id": "draw-shared", "member_id": "shared"})).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    app.member("sampler").await;
    let (s, t) =
        app.post("/v1/members/sampler/tier/assignments", json!({"tier": "diamond", "reason": "samples"})).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let config = loyalty_report::config::InsightConfig::default();
    loyalty_report::compute::run(app.store.as_ref(), &config, jiff::Timestamp::now()).await.unwrap();
}

/// A request a key allowed to call the route gets a 2xx for, with whatever it needs made
/// first (with the bootstrap admin key). `tag` makes every id unique to one call.
/// A payment for a plan, taken at `now`.
fn pay(id: &str, plan: &str, paid: i64, now: &str) -> Value {
    json!({"id": id, "plan": plan, "paid_minor": paid, "payment_ref": "scope", "started_at": now})
}

/// A member with a running membership of the plan `plus`.
async fn subscribed(app: &TestApp, member: &str, now: &str) {
    app.member(member).await;
    let (s, m) = app
        .post(&format!("/v1/members/{member}/memberships"), pay(&format!("{member}-pay"), "plus", 19_800, now))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
}

/// The programme of these tests: two plans, so that an upgrade has somewhere to go.
const PLANS: &str = "[[plans]]\ncode = \"plus\"\nname = \"PLUS\"\nprice_minor = 19800\nterm = \"year\"\n\
    [[plans]]\ncode = \"plus-max\"\nname = \"PLUS Max\"\nprice_minor = 39800\nterm = \"year\"\n";

async fn allowed_request(app: &TestApp, m: &str, route: &str, tag: &str) -> (String, Option<Value>) {
    let now = jiff::Timestamp::now().to_string();
    let hold = || async {
        let body = json!({"points": 100, "order_amount_minor": 100_000, "order_id": format!("cart-{tag}")});
        let (s, h) = app.post("/v1/members/shared/points/holds", body).await;
        assert_eq!(s, StatusCode::CREATED, "{h}");
        h["id"].as_str().unwrap().to_owned()
    };
    let body = |v: Value| Some(v);
    match (m, route) {
        ("PUT", "/v1/members/{id}") => (format!("/v1/members/new-{tag}"), body(json!({"name": "New"}))),
        ("POST", "/v1/members/{id}/points/holds") => (
            "/v1/members/shared/points/holds".into(),
            body(json!({"points": 100, "order_amount_minor": 100_000, "order_id": format!("cart-{tag}")})),
        ),
        ("POST", "/v1/members/{id}/points/holds/{hold_id}/capture") => {
            (format!("/v1/members/shared/points/holds/{}/capture", hold().await), None)
        }
        ("POST", "/v1/members/{id}/points/holds/{hold_id}/release") => {
            (format!("/v1/members/shared/points/holds/{}/release", hold().await), None)
        }
        ("POST", "/v1/orders") => ("/v1/orders".into(), body(order(&format!("o-{tag}"), "shared", 10_000, 1))),
        ("POST", "/v1/orders/{id}/refunds") => {
            let (s, o) = app.post("/v1/orders", order(&format!("o-{tag}"), "shared", 10_000, 1)).await;
            assert_eq!(s, StatusCode::CREATED, "{o}");
            (format!("/v1/orders/o-{tag}/refunds"), body(json!({"id": format!("rf-{tag}"), "amount_minor": 1_000})))
        }
        ("POST", "/v1/members/{id}/activities") => (
            "/v1/members/shared/activities".into(),
            body(json!({"id": format!("act-{tag}"), "type": "review", "occurred_at": now})),
        ),
        ("POST", "/v1/members/{id}/benefits/free-samples/claims") => {
            ("/v1/members/sampler/benefits/free-samples/claims".into(), body(json!({"id": format!("claim-{tag}")})))
        }
        ("POST", "/v1/checkout/evaluate") => (
            "/v1/checkout/evaluate".into(),
            body(json!({"member_id": "shared", "lines": [{"sku": "A", "quantity": 1, "unit_price_minor": 1_000}]})),
        ),
        ("POST", "/v1/members/{id}/points/adjustments") => (
            "/v1/members/shared/points/adjustments".into(),
            body(json!({"id": format!("adj-{tag}"), "points": 1, "reason": "scope test"})),
        ),
        ("POST", "/v1/members/{id}/tier/assignments") => {
            ("/v1/members/shared/tier/assignments".into(), body(json!({"tier": "silver", "reason": "scope test"})))
        }
        ("DELETE", "/v1/api-keys/{name}") => {
            add_key(app, &format!("lk_throwaway_{tag}"), &format!("throwaway-{tag}"), "integration").await;
            (format!("/v1/api-keys/throwaway-{tag}"), None)
        }
        ("POST", "/v1/members/{id}/erase") => {
            app.member(&format!("gone-{tag}")).await;
            (format!("/v1/members/gone-{tag}/erase"), body(json!({"reason": "scope test"})))
        }
        ("POST", "/v1/coupon-templates") => (
            "/v1/coupon-templates".into(),
            body(json!({"id": format!("t-{tag}"), "name": "scope test", "benefit": {"kind": "free_shipping"},
                "validity": {"relative": {"days": 1}}})),
        ),
        ("PATCH", "/v1/coupon-templates/{id}") => {
            ("/v1/coupon-templates/t-shared".into(), body(json!({"name": format!("renamed by {tag}")})))
        }
        ("POST", "/v1/members/{id}/coupons") => (
            "/v1/members/shared/coupons".into(),
            body(json!({"template": "t-shared", "source": "issue", "id": format!("c-{tag}")})),
        ),
        ("GET", "/v1/coupon-templates/{id}") => ("/v1/coupon-templates/t-shared".into(), None),
        ("POST", "/v1/coupon-templates/{id}/codes") => {
            ("/v1/coupon-templates/t-shared/codes".into(), body(json!({"count": 2, "batch": format!("b-{tag}")})))
        }
        ("GET", "/v1/coupon-templates/{id}/codes") => ("/v1/coupon-templates/t-shared/codes?batch=b".into(), None),
        ("GET", "/v1/coupon-templates/{id}/report") => ("/v1/coupon-templates/t-shared/report".into(), None),
        ("GET", "/v1/segments/{name}/members") => ("/v1/segments/important_value/members".into(), None),
        ("POST", "/v1/rewards") => (
            "/v1/rewards".into(),
            body(
                json!({"id": format!("r-{tag}"), "name": "Cup", "item": {"kind": "voucher", "value_minor": 500}, "price_points": 5}),
            ),
        ),
        ("PATCH", "/v1/rewards/{id}") => {
            ("/v1/rewards/r-shared".into(), body(json!({"name": format!("renamed by {tag}")})))
        }
        ("POST", "/v1/members/{id}/redemptions") => (
            "/v1/members/shared/redemptions".into(),
            body(json!({"id": format!("red-{tag}"), "reward": "r-shared",
                "address": {"name": "Li", "phone": "138", "line": "1 Road"}})),
        ),
        ("GET", "/v1/members/{id}/redemptions/{redemption_id}") => {
            ("/v1/members/shared/redemptions/red-shared".into(), None)
        }
        ("POST", "/v1/members/{id}/redemptions/{redemption_id}/status") => {
            ("/v1/members/shared/redemptions/red-shared/status".into(), body(json!({"status": "shipped"})))
        }
        ("PUT", "/v1/members/{id}/redemptions/{redemption_id}/address") => {
            let redeem = json!({"id": format!("red-{tag}"), "reward": "r-shared",
                "address": {"name": "Li", "phone": "138", "line": "1 Road"}});
            let (s, r) = app.post("/v1/members/shared/redemptions", redeem).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            (
                format!("/v1/members/shared/redemptions/red-{tag}/address"),
                body(json!({"name": "Li", "phone": "139", "line": format!("2 Road {tag}")})),
            )
        }
        ("POST", "/v1/lotteries") => (
            "/v1/lotteries".into(),
            body(json!({"id": format!("l-{tag}"), "name": "Spin", "cost_points": 0, "fallback": "none",
                "prizes": [{"id": "none", "name": "Thanks", "weight": 1, "item": {"kind": "nothing"}}]})),
        ),
        ("PATCH", "/v1/lotteries/{id}") => {
            ("/v1/lotteries/l-shared".into(), body(json!({"name": format!("renamed by {tag}")})))
        }
        ("POST", "/v1/lotteries/{id}/draws") => {
            ("/v1/lotteries/l-shared/draws".into(), body(json!({"id": format!("draw-{tag}"), "member_id": "shared"})))
        }
        ("GET", "/v1/members/{id}/draws/{draw_id}/audit") => {
            ("/v1/members/shared/draws/draw-shared/audit".into(), None)
        }
        ("POST", "/v1/members/{id}/memberships") => {
            app.member(&format!("m-{tag}")).await;
            (format!("/v1/members/m-{tag}/memberships"), body(pay(&format!("p-{tag}"), "plus", 19_800, &now)))
        }
        ("POST", "/v1/members/{id}/membership/upgrade") => {
            subscribed(app, &format!("u-{tag}"), &now).await;
            (
                format!("/v1/members/u-{tag}/membership/upgrade"),
                body(pay(&format!("up-{tag}"), "plus-max", 1_000, &now)),
            )
        }
        ("POST", "/v1/members/{id}/membership/refund") => {
            subscribed(app, &format!("r-{tag}"), &now).await;
            (
                format!("/v1/members/r-{tag}/membership/refund"),
                body(json!({"id": format!("rf-{tag}"), "reason": "scope test"})),
            )
        }
        ("POST", "/v1/members/{id}/membership/cancel") => {
            ("/v1/members/shared/membership/cancel".into(), body(json!({"reason": "scope test"})))
        }
        ("POST", "/v1/members/{id}/membership/resume") => ("/v1/members/shared/membership/resume".into(), None),
        ("POST", "/v1/members/{id}/plan-invitations") => {
            ("/v1/members/shared/plan-invitations".into(), body(json!({"plan": "plus-max"})))
        }
        ("POST", "/v1/members/{id}/sessions") => ("/v1/members/shared/sessions".into(), body(json!({}))),
        ("POST", "/v1/members/{id}/checkins") => {
            app.member(&format!("c-{tag}")).await;
            (format!("/v1/members/c-{tag}/checkins"), body(json!({})))
        }
        ("POST", "/v1/members/{id}/checkins/makeups") => {
            let member = format!("mk-{tag}");
            app.member(&member).await;
            let grant = json!({"id": format!("fund-{tag}"), "points": 100, "reason": "scope test"});
            let (s, a) = app.post(&format!("/v1/members/{member}/points/adjustments"), grant).await;
            assert_eq!(s, StatusCode::CREATED, "{a}");
            let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
            let yesterday = jiff::Timestamp::now().to_zoned(tz).date().yesterday().unwrap();
            (format!("/v1/members/{member}/checkins/makeups"), body(json!({"day": yesterday.to_string()})))
        }
        ("POST", "/v1/tasks") => (
            "/v1/tasks".into(),
            body(
                json!({"id": format!("task-{tag}"), "name": "scope test", "goal": {"kind": "orders"}, "reward": {"points": 1}}),
            ),
        ),
        ("PATCH", "/v1/tasks/{id}") => {
            ("/v1/tasks/task-shared".into(), body(json!({"name": format!("renamed by {tag}")})))
        }
        ("GET", "/v1/tasks/{id}") => ("/v1/tasks/task-shared".into(), None),
        ("GET", r) if r.starts_with("/v1/rewards") => (r.replace("{id}", "r-shared"), None),
        ("GET", r) if r.starts_with("/v1/lotteries") => (r.replace("{id}", "l-shared"), None),
        ("GET", r) => (r.replace("{id}", if r.starts_with("/v1/orders") { "o-shared" } else { "shared" }), None),
        other => panic!("no request for {other:?}: add one"),
    }
}

/// Every route refuses a request without a key (401, `WWW-Authenticate: Bearer`) and with an
/// unknown one (`error="invalid_token"`), answers a 2xx to every scope the policy allows, and a
/// 403 naming the scope to every other, before anything is read or written.
#[tokio::test]
async fn every_route_answers_each_scope_as_the_policy_says() {
    let app = spawn_app_with(&format!("pending_days = 0\n{STABLE}{PLANS}")).await;
    arrange(&app).await;
    subscribed(&app, "shared", &jiff::Timestamp::now().to_string()).await;
    for (i, (m, route, allowed)) in POLICY.iter().enumerate() {
        let any = route.replace("{id}", "shared").replace("{hold_id}", "h-none").replace("{name}", "nobody");
        let empty = (*m != "GET" && *m != "DELETE").then(|| json!({}));
        let (s, challenge, p) = call(&app, m, &any, empty.as_ref(), None).await;
        assert_eq!((s, challenge.as_str()), (StatusCode::UNAUTHORIZED, "Bearer"), "{m} {route} without a key: {p}");
        let (s, challenge, _) = call(&app, m, &any, empty.as_ref(), Some("lk_nobody")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {route} with an unknown key");
        assert_eq!(challenge, "Bearer error=\"invalid_token\"", "{m} {route}");
        for (scope, key) in SCOPES {
            if allowed.contains(&scope) {
                let (path, body) = allowed_request(&app, m, route, &format!("{i}-{scope}")).await;
                let (s, _, v) = call(&app, m, &path, body.as_ref(), Some(key)).await;
                assert!(s.is_success(), "{scope} may call {m} {route}: {path} → {s} {v}");
            } else {
                let (s, challenge, p) = call(&app, m, &any, empty.as_ref(), Some(key)).await;
                assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{scope}: {m} {route}");
                assert!(
                    challenge.starts_with("Bearer error=\"insufficient_scope\""),
                    "{scope}: {m} {route}: {challenge}"
                );
                assert!(p["detail"].as_str().unwrap().contains(scope), "the 403 names the key's scope: {p}");
            }
        }
    }
    app.assert_verified().await;
}

/// The OpenAPI document lists exactly the operations of the policy, each with its scopes as
/// `security` alternatives, as `x-scope`, and in its description.
#[tokio::test]
async fn the_openapi_document_shows_the_scope_of_every_operation() {
    let app = spawn_app().await;
    let (s, doc) = app.get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&m.as_str()) {
                documented.insert((m.to_uppercase(), path.clone()));
                let scopes: BTreeSet<&str> = op["x-scope"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{m} {path}: x-scope"))
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let (_, _, allowed) = POLICY
                    .iter()
                    .find(|(pm, pp, _)| pm.eq_ignore_ascii_case(m) && pp == path)
                    .unwrap_or_else(|| panic!("{m} {path} is not in the policy"));
                assert_eq!(scopes, allowed.iter().copied().collect(), "{m} {path}");
                let security: BTreeSet<&str> =
                    op["security"].as_array().unwrap().iter().map(|r| r["bearer"][0].as_str().unwrap()).collect();
                assert_eq!(security, scopes, "{m} {path}: one security requirement per scope");
                let description = op["description"].as_str().unwrap_or_default();
                assert!(description.contains("**Scope:**"), "{m} {path}: {description}");
                for scope in &scopes {
                    assert!(description.contains(&format!("`{scope}`")), "{m} {path}: {description}");
                }
            }
        }
    }
    let policy: BTreeSet<(String, String)> = POLICY.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, policy, "every operation is documented and in the policy");
}

/// Keys are listed without their secret, record their last use at most once a minute, and a
/// revoked key stops working: at once when revoked through this server, within a second when
/// revoked elsewhere (the CLI, another node).
#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoked_keys_stop_working() {
    let app = spawn_app().await;
    add_key(&app, "lk_shop_key_one", "shop", "integration").await;
    add_key(&app, "lk_report_key_one", "report", "analyst").await;
    let hash = loyalty_http::auth::hash_key("lk_shop_key_one");
    assert!(
        !app.store.insert_api_key("other-hash", "shop", "admin", jiff::Timestamp::now()).await.unwrap(),
        "a live name is not given twice"
    );
    let (s, _, _) = call(&app, "GET", "/v1/members/nobody", None, Some("lk_shop_key_one")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the key works");

    // Its first use is written off the request's path; further uses within the minute are not.
    let mut first_use = Value::Null;
    for _ in 0..100 {
        let (_, list) = app.get("/v1/api-keys").await;
        first_use =
            list["items"].as_array().unwrap().iter().find(|k| k["name"] == "shop").unwrap()["last_used_at"].clone();
        if !first_use.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(first_use.is_string(), "last use recorded");
    for _ in 0..5 {
        call(&app, "GET", "/v1/members/nobody", None, Some("lk_shop_key_one")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (s, list) = app.get("/v1/api-keys").await;
    assert_eq!(s, StatusCode::OK);
    let text = list.to_string();
    assert!(!text.contains(&hash) && !text.contains("lk_shop_key_one"), "neither key nor hash is listed: {text}");
    let shop = list["items"].as_array().unwrap().iter().find(|k| k["name"] == "shop").unwrap().clone();
    assert_eq!(shop["last_used_at"], first_use, "not a write per request");
    assert_eq!((shop["scope"].as_str(), shop["revoked_at"].as_null()), (Some("integration"), Some(())));
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Revoked through this server: refused at once, though the key was cached.
    let (s, r) = app.send(Method::DELETE, "/v1/api-keys/shop", None, Some(ADMIN), None).await;
    assert_eq!((s, r["revoked"].as_u64()), (StatusCode::OK, Some(1)), "{r}");
    let (s, challenge, _) = call(&app, "GET", "/v1/members/nobody", None, Some("lk_shop_key_one")).await;
    assert_eq!((s, challenge.as_str()), (StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\""));
    let (s, r) = app.send(Method::DELETE, "/v1/api-keys/shop", None, Some(ADMIN), None).await;
    assert_eq!((s, r["revoked"].as_u64()), (StatusCode::OK, Some(0)), "revoking again changes nothing: {r}");
    let (s, r) = app.send(Method::DELETE, "/v1/api-keys/nobody", None, Some(ADMIN), None).await;
    assert_eq!((s, r["code"].as_str()), (StatusCode::NOT_FOUND, Some("api_key_not_found")));
    add_key(&app, "lk_shop_key_two", "shop", "integration").await;
    let (s, _, _) = call(&app, "GET", "/v1/members/nobody", None, Some("lk_shop_key_two")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a revoked name can be given to a new key");

    // Revoked elsewhere (as `loyalty keys revoke` does): refused within a second.
    let (s, _, _) = call(&app, "GET", "/v1/kpis", None, Some("lk_report_key_one")).await;
    assert_eq!(s, StatusCode::OK);
    let (n, _) = app.store.revoke_api_key("report", jiff::Timestamp::now()).await.unwrap();
    assert_eq!(n, 1);
    // Polled until refused, and held to the recheck interval (with room for a loaded machine).
    let revoked_at = std::time::Instant::now();
    let mut s = StatusCode::OK;
    while s != StatusCode::UNAUTHORIZED && revoked_at.elapsed() < 3 * loyalty_http::auth::KEY_RECHECK {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        s = call(&app, "GET", "/v1/kpis", None, Some("lk_report_key_one")).await.0;
    }
    assert_eq!(s, StatusCode::UNAUTHORIZED, "refused within {:?}", 3 * loyalty_http::auth::KEY_RECHECK);
}

/// `bearer x` and `BEARER x` work (RFC 7235: the scheme is case-insensitive); other schemes
/// and an empty key are a 401 with the challenge.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for header in [format!("bearer {ADMIN}"), format!("BEARER {ADMIN}"), format!("Bearer   {ADMIN} ")] {
        let r = app.client.get(format!("{}/v1/api-keys", app.base)).header("authorization", &header).send().await;
        assert_eq!(r.unwrap().status(), StatusCode::OK, "{header:?}");
    }
    for header in [format!("Basic {ADMIN}"), "Bearer".to_owned(), "Bearer   ".to_owned(), ADMIN.to_owned()] {
        let r =
            app.client.get(format!("{}/v1/api-keys", app.base)).header("authorization", &header).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer", "{header:?}");
    }
}

/// `loyalty keys list` shows name, scope and dates and never a key; `keys revoke` revokes it;
/// `serve` refuses a bootstrap key under 24 characters before it listens.
#[tokio::test]
async fn the_cli_lists_and_revokes_keys_and_refuses_a_short_bootstrap_key() {
    let (_db, url) = TestDb::fresh().await;
    let (code, key, _) = loyalty_bin(&url, &["keys", "create", "--scope", "analyst", "--name", "bi"]);
    assert_eq!(code, 0);
    let key = key.trim();
    let (code, _, err) = loyalty_bin(&url, &["keys", "create", "--scope", "admin", "--name", "bi"]);
    assert_ne!(code, 0);
    assert!(err.contains("already named \"bi\""), "{err}");
    let (code, out, _) = loyalty_bin(&url, &["keys", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("NAME") && out.contains("bi") && out.contains("analyst"), "{out}");
    assert!(!out.contains(key) && !out.contains(&loyalty_http::auth::hash_key(key)), "{out}");
    let (code, out, _) = loyalty_bin(&url, &["keys", "revoke", "bi"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revoked"), "{out}");
    let store = loyalty_store::open(&url).await.unwrap();
    assert_eq!(store.api_key(&loyalty_http::auth::hash_key(key)).await.unwrap(), None, "revoked");
    assert_eq!(loyalty_bin(&url, &["keys", "revoke", "nobody"]).0, 1);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(["serve", "--database-url", &url, "--listen", "127.0.0.1:0"])
        .env("LOYALTY_ADMIN_KEY", "short-key")
        .env("LOYALTY_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("LOYALTY_ADMIN_KEY is 9 characters long") && err.contains("at least 24"), "{err}");
}
