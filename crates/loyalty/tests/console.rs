//! The operator console and the member centre through the real server (SQLite, or PostgreSQL
//! when LOYALTY_TEST_DATABASE_URL is set): sign-in with an admin key only, the session cookie's
//! flags, CSRF on every POST, idle timeouts, revoked keys, adjustments that name the field at
//! fault and write nothing, the dashboard's figures against `/v1/kpis`, search by contact, keys
//! made and revoked, and member tokens that read one member only. The browser tests
//! (`tests/browser/`) drive the same pages in Chromium.

mod common;
use common::*;
use jiff::{SignedDuration, Timestamp};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// A form's fields.
type Form<'a> = [(&'a str, &'a str)];

const INTEGRATION_KEY: &str = "lk_console_integration_key";
const ANALYST_KEY: &str = "lk_console_analyst_key";

/// A client that follows no redirect and keeps no cookie: each test says what it sends.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of `name="{field}" value="…"` in a page.
fn hidden(html: &str, field: &str) -> String {
    let at = html.find(&format!("name=\"{field}\" value=\"")).unwrap_or_else(|| panic!("no {field} in {html}"));
    let rest = &html[at + field.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// `name=value` of a Set-Cookie header of this name, and the whole header.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?.trim();
        pair.starts_with(&format!("{name}=")).then(|| (pair.to_owned(), v.to_owned()))
    })
}

async fn add_key(app: &TestApp, key: &str, name: &str, scope: &str) {
    let hash = loyalty_http::auth::hash_key(key);
    assert!(app.store.insert_api_key(&hash, name, scope, Timestamp::now()).await.unwrap());
}

struct Console {
    c: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Console {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.c.get(format!("{}{path}", self.base)).header(header::COOKIE, &self.cookie).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.c
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A form with the session's CSRF token.
    async fn submit(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(path, &fields).await
    }
}

/// Signs in with `key` through the form: the answer to the POST, and the form's cookie.
async fn try_sign_in(app: &TestApp, key: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let c = client();
    let form = c.get(format!("{}/console/login", app.base)).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let (login_cookie, _) = set_cookie(&form, "loyalty_login").expect("the form sets its double-submit cookie");
    let html = form.text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let mut req = c.post(format!("{}/console/login", app.base)).header(header::COOKIE, login_cookie).form(&[
        ("csrf", csrf.as_str()),
        ("key", key),
        ("next", "/console"),
    ]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn sign_in(app: &TestApp) -> Console {
    let resp = try_sign_in(app, ADMIN, &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (cookie, _) = set_cookie(&resp, "loyalty_console").expect("a session cookie");
    let con = Console { c: client(), base: app.base.clone(), cookie, csrf: String::new() };
    let (s, html) = con.get("/console/members").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let csrf = hidden(&html, "csrf");
    Console { csrf, ..con }
}

/// Every console page without a session goes to the sign-in page, coming back afterwards;
/// a POST without one goes there too and writes nothing.
#[tokio::test]
async fn pages_without_a_session_go_to_the_sign_in_page() {
    let app = spawn_app().await;
    for path in ["/console", "/console/members", "/console/members/x", "/console/keys", "/console/nowhere"] {
        let r = client().get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
        assert!(to.starts_with("/console/login?next=%2Fconsole"), "{path} → {to}");
    }
    app.member("mei").await;
    let r = client()
        .post(format!("{}/console/members/mei/adjustments", app.base))
        .form(&[("points", "100"), ("reason", "x"), ("adjustment_id", "a1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.balances("mei").await["available"], 0, "nothing written");
    let r = client().get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(r.headers()[header::LOCATION], "/console", "the root is the console");
}

/// An admin key signs in; the cookie is HttpOnly and SameSite=Strict, Secure behind TLS.
/// An integration or analyst key, an unknown key or none is refused with a sentence.
#[tokio::test]
async fn only_an_admin_key_signs_in_and_the_cookie_is_locked_down() {
    let app = spawn_app().await;
    add_key(&app, INTEGRATION_KEY, "shop", "integration").await;
    add_key(&app, ANALYST_KEY, "bi", "analyst").await;
    let ok = try_sign_in(&app, ADMIN, &[]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[header::LOCATION], "/console");
    let (_, flags) = set_cookie(&ok, "loyalty_console").unwrap();
    assert!(
        flags.contains("HttpOnly") && flags.contains("SameSite=Strict") && flags.contains("Path=/console"),
        "{flags}"
    );
    assert!(!flags.contains("Secure"), "plain HTTP: {flags}");
    let tls = try_sign_in(&app, ADMIN, &[("x-forwarded-proto", "https")]).await;
    let (_, flags) = set_cookie(&tls, "loyalty_console").unwrap();
    assert!(flags.contains("Secure"), "{flags}");

    for (key, status, says) in [
        (INTEGRATION_KEY, StatusCode::FORBIDDEN, "integration"),
        (ANALYST_KEY, StatusCode::FORBIDDEN, "analyst"),
        ("lk_nobody", StatusCode::UNAUTHORIZED, "无效"),
        ("", StatusCode::UNPROCESSABLE_ENTITY, "请输入"),
    ] {
        let r = try_sign_in(&app, key, &[]).await;
        assert_eq!(r.status(), status, "{key}");
        assert!(set_cookie(&r, "loyalty_console").is_none(), "no session for {key:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains("data-test=\"login-error\"") && html.contains(says), "{key}: {html}");
    }
    // A sign-in form without its token is refused too.
    let r = client().post(format!("{}/console/login", app.base)).form(&[("key", ADMIN)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "loyalty_console").is_none());
}

/// A POST without the session's CSRF token, or with another session's, is refused and writes
/// nothing; with it, the same form adjusts.
#[tokio::test]
async fn every_post_needs_the_sessions_csrf_token() {
    let app = spawn_app().await;
    app.member("mei").await;
    let con = sign_in(&app).await;
    let other = sign_in(&app).await;
    assert_ne!(con.csrf, other.csrf, "per session");
    let form = [("points", "100"), ("reason", "goodwill"), ("adjustment_id", "adj-1")];
    let r = con.post("/console/members/mei/adjustments", &form).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut with_other = vec![("csrf", other.csrf.as_str())];
    with_other.extend_from_slice(&form);
    assert_eq!(con.post("/console/members/mei/adjustments", &with_other).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(con.post("/console/keys", &[("name", "x"), ("scope", "admin")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.balances("mei").await["available"], 0, "nothing written");
    let (_, keys) = app.get("/v1/api-keys").await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 0, "no key made");
    let r = con.submit("/console/members/mei/adjustments", &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.balances("mei").await["available"], 100);
}

/// Bad input re-renders the form naming the field, with what was typed, and writes nothing;
/// a good one goes through the writer once however often it is sent, shows in the ledger and
/// is in the audit log with the operator.
#[tokio::test]
async fn an_adjustment_names_the_field_at_fault_or_is_recorded_once_with_the_operator() {
    let app = spawn_app().await;
    app.put("/v1/members/mei", json!({"name": "Li Mei"})).await;
    let con = sign_in(&app).await;
    let cases: [(&Form, &str, &str); 6] = [
        (&[("points", "100"), ("reason", "")], "error-reason", "原因"),
        (&[("points", "ten"), ("reason", "goodwill")], "error-points", "不是整数"),
        (&[("points", ""), ("reason", "goodwill")], "error-points", "请填写积分"),
        (&[("points", "0"), ("reason", "goodwill")], "error-points", "不能为 0"),
        (&[("points", "1000000000001"), ("reason", "goodwill")], "error-points", "太大"),
        (&[("points", "99999999999999999999999"), ("reason", "goodwill")], "error-points", "太大"),
    ];
    for (fields, error, says) in cases {
        let mut form = vec![("adjustment_id", "adj-bad")];
        form.extend_from_slice(fields);
        let r = con.submit("/console/members/mei/adjustments", &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("data-test=\"{error}\"")) && html.contains(says), "{fields:?}: {error}");
        assert!(html.contains("value=\"goodwill\"") || fields[1].1.is_empty(), "what was typed stays");
    }
    // Taking more than the member has is the rules' refusal, on the form.
    let r = con
        .submit(
            "/console/members/mei/adjustments",
            &[("adjustment_id", "adj-neg"), ("points", "-5"), ("reason", "oops")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("data-test=\"error-points\""));
    let (_, ledger) = app.get("/v1/members/mei/ledger").await;
    assert_eq!(ledger["items"].as_array().unwrap().len(), 0, "nothing written");

    let form = [("adjustment_id", "adj-good"), ("points", "1,500"), ("reason", "complaint goodwill")];
    for _ in 0..2 {
        let r = con.submit("/console/members/mei/adjustments", &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/console/members/mei?adjusted=%2B1500");
    }
    assert_eq!(app.balances("mei").await["available"], 1_500, "sent twice, applied once");
    let (_, ledger) = app.get("/v1/members/mei/ledger").await;
    let items = ledger["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["kind"].as_str(), items[0]["points"].as_i64()), (Some("adjust"), Some(1_500)));
    let audit = app.store.audit_log(&loyalty_core::ids::MemberId::parse("mei").unwrap()).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str(), audit[0].reason.as_deref()),
        ("adjust", "bootstrap-admin", Some("complaint goodwill"))
    );
    let (s, html) = con.get("/console/members/mei?adjusted=%2B1500").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("data-test=\"adjusted\"")
            && html.contains("data-value=\"1500\"")
            && html.contains("complaint goodwill")
    );
    assert!(html.contains("未开通付费会员") && html.contains("data-test=\"insight\""), "membership and insight");
    app.assert_verified().await;
}

/// The dashboard's figures are the API's: each period's row and the tiles equal `/v1/kpis`
/// for the same range, and the charts are there.
#[tokio::test]
async fn the_dashboard_shows_the_apis_figures_and_charts() {
    let app = spawn_app().await;
    for (m, amount) in [("a", 100_000), ("b", 20_000), ("c", 5_000)] {
        app.member(m).await;
        let (s, o) = app.post("/v1/orders", order(&format!("o-{m}"), m, amount, 10)).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    app.post("/v1/members/a/points/adjustments", json!({"id": "x", "points": 250, "reason": "gift"})).await;
    let con = sign_in(&app).await;
    let (s, html) = con.get("/console?granularity=day").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    for chart in ["chart-points", "chart-members", "chart-tiers"] {
        let at = html.find(&format!("data-test=\"{chart}\"")).expect(chart);
        assert!(html[at..].trim_start_matches(|c| c != '<').contains("<svg"), "{chart} has an SVG");
    }
    let from = hidden_value(&html, "from");
    let to = hidden_value(&html, "to");
    let (_, api) = app.get(&format!("/v1/kpis?from={from}&to={to}&granularity=day")).await;
    let periods = api["periods"].as_array().unwrap();
    assert!(periods.len() >= 10);
    for p in periods {
        let label = p["period"].as_str().unwrap();
        let row = &html[html.find(&format!("<tr data-period=\"{label}\">")).expect(label)..];
        let row = &row[..row.find("</tr>").unwrap()];
        for (kpi, v) in [
            ("members_total", &p["members_total"]),
            ("new_members", &p["new_members"]),
            ("active_30d", &p["active_30d"]),
            ("orders", &p["orders"]),
            ("points.issued", &p["points"]["issued"]),
            ("points.redeemed", &p["points"]["redeemed"]),
            ("points.expired", &p["points"]["expired"]),
            ("points.outstanding", &p["points"]["outstanding"]),
            ("liability_minor", &p["liability_minor"]),
        ] {
            assert!(row.contains(&format!("data-kpi=\"{kpi}\" data-value=\"{v}\"")), "{label} {kpi} = {v}: {row}");
        }
    }
    let last = periods.last().unwrap();
    assert_eq!(last["members_total"], 3);
    assert!(html.contains(&format!("data-kpi=\"points.outstanding\" data-value=\"{}\"", last["points"]["outstanding"])));
    // A range the API refuses is said on the page, naming it.
    let (s, html) = con.get("/console?from=2026-12-10&to=2026-12-01").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("data-test=\"range-error\""));
}

/// The value of the `<input … name="{name}" value="…">` of a form.
fn hidden_value(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no input {name}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Members are found by id, by phone in any punctuation, and by email in any case; a search
/// that finds one member goes to its page; the browse list pages by cursor.
#[tokio::test]
async fn members_are_found_by_id_phone_or_email() {
    let app = spawn_app().await;
    app.put("/v1/members/wei", json!({"name": "Wei", "phone": "+86 138-0013-8000", "email": "Wei@Example.com"})).await;
    app.put("/v1/members/wei-2", json!({"name": "Wei's son", "phone": "8613800138000"})).await;
    for i in 0..25 {
        app.member(&format!("m{i:02}")).await;
    }
    let con = sign_in(&app).await;
    let (s, html) = con.get("/console/members?q=%2B86%20138%200013%208000").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("/console/members/wei\"") && html.contains("/console/members/wei-2\""), "both phones");
    for q in ["wei%40example.com", "%20WEI%40EXAMPLE.COM", "wei-2"] {
        let r = con
            .c
            .get(format!("{}/console/members?q={q}", app.base))
            .header(header::COOKIE, &con.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{q}");
    }
    let (_, none) = con.get("/console/members?q=nobody%40example.com").await;
    assert!(none.contains("data-test=\"no-results\""));
    let (_, page1) = con.get("/console/members").await;
    let next = page1.split("?after=").nth(1).map(|r| r[..r.find('"').unwrap()].to_owned()).expect("a next page");
    let (_, page2) = con.get(&format!("/console/members?after={next}")).await;
    assert!(page2.contains("/console/members/wei\"") && !page2.contains("/console/members/m00\""));
    // An erased member's contacts no longer find it.
    app.post("/v1/members/wei/erase", json!({"reason": "asked"})).await;
    let (_, after) = con.get("/console/members?q=wei%40example.com").await;
    assert!(after.contains("data-test=\"no-results\""), "{after}");
}

/// A key made in the console is shown once and works; revoked, it stops; a key revoked while
/// its holder is signed in ends the session.
#[tokio::test]
async fn keys_are_made_shown_once_and_revoked() {
    let app = spawn_app().await;
    let con = sign_in(&app).await;
    let r = con.submit("/console/keys", &[("name", "shop-checkout"), ("scope", "integration")]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    let key = html
        .split("data-test=\"secret\" id=\"new-key\">")
        .nth(1)
        .map(|r| r[..r.find('<').unwrap()].to_owned())
        .unwrap();
    assert!(key.starts_with("lk_"), "{key}");
    let (s, _) = app.send(Method::GET, "/v1/members/nobody", None, Some(&key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the new key works");
    let (_, list) = con.get("/console/keys").await;
    assert!(list.contains("data-key=\"shop-checkout\"") && !list.contains(&key), "listed, never shown again");
    let again = con.submit("/console/keys", &[("name", "shop-checkout"), ("scope", "integration")]).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.unwrap().contains("data-test=\"error-name\""));
    let r = con.submit("/console/keys/shop-checkout/revoke", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, _) = app.send(Method::GET, "/v1/members/nobody", None, Some(&key), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked at once");

    // An operator signed in with a stored admin key loses the session when it is revoked.
    let r = con.submit("/console/keys", &[("name", "ops-lead"), ("scope", "admin")]).await;
    let html = r.text().await.unwrap();
    let admin = html.split("id=\"new-key\">").nth(1).map(|r| r[..r.find('<').unwrap()].to_owned()).unwrap();
    let lead = try_sign_in(&app, &admin, &[]).await;
    let (cookie, _) = set_cookie(&lead, "loyalty_console").unwrap();
    let lead = Console { c: client(), base: app.base.clone(), cookie, csrf: String::new() };
    assert_eq!(lead.get("/console/keys").await.0, StatusCode::OK);
    con.submit("/console/keys/ops-lead/revoke", &[]).await;
    let r = lead.c.get(format!("{}/console/keys", app.base)).header(header::COOKIE, &lead.cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[header::LOCATION].to_str().unwrap().contains("why=revoked"));
}

/// Signing out deletes the session; a session idle for the idle timeout, or past its absolute
/// end, is over.
#[tokio::test]
async fn sessions_end_on_sign_out_idle_and_at_their_absolute_end() {
    let clock = loyalty_engine::clock::ManualClock::at(Timestamp::now());
    let app = spawn_app_on(STABLE, clock.clone()).await;
    let con = sign_in(&app).await;
    let r = con.submit("/console/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(con.get("/console").await.0, StatusCode::SEE_OTHER, "signed out");

    let con = sign_in(&app).await;
    clock.advance(SignedDuration::from_mins(29));
    assert_eq!(con.get("/console").await.0, StatusCode::OK, "used within the idle timeout");
    clock.advance(SignedDuration::from_mins(29));
    assert_eq!(con.get("/console").await.0, StatusCode::OK, "its use was recorded, so idle counts from it");
    clock.advance(SignedDuration::from_mins(31));
    let r = con.c.get(format!("{}/console", app.base)).header(header::COOKIE, &con.cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "idle too long");
    assert!(r.headers()[header::LOCATION].to_str().unwrap().contains("why=expired"));

    let con = sign_in(&app).await;
    for _ in 0..26 {
        clock.advance(SignedDuration::from_mins(28));
        con.get("/console/keys").await;
    }
    assert_eq!(con.get("/console/keys").await.0, StatusCode::SEE_OTHER, "12 hours after sign-in, however busy");
}

/// The store's server gets a member token with its integration key; the token reads its
/// member's centre (`/v1/me`, `/member`) and nothing of another member, by any route.
#[tokio::test]
async fn a_member_token_reads_its_member_and_no_other() {
    let app = spawn_app().await;
    add_key(&app, INTEGRATION_KEY, "shop", "integration").await;
    app.member("ling").await;
    app.member("wei").await;
    app.post("/v1/members/wei/points/adjustments", json!({"id": "w", "points": 999, "reason": "seed"})).await;
    let (s, _) = app.send(Method::POST, "/v1/members/ghost/sessions", None, Some(INTEGRATION_KEY), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p) = app
        .send(Method::POST, "/v1/members/ling/sessions", Some(&json!({"ttl_seconds": 5})), Some(INTEGRATION_KEY), None)
        .await;
    assert_eq!((s, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("ttl_seconds")));
    let (s, session) = app.send(Method::POST, "/v1/members/ling/sessions", None, Some(INTEGRATION_KEY), None).await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(session["url"], format!("/member?token={token}"));

    let me = |t: String| {
        let c = client();
        let url = format!("{}/v1/me", app.base);
        async move {
            let r = c.get(url).bearer_auth(t).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, body) = me(token.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!((body["member_id"].as_str(), body["balances"]["available"].as_i64()), (Some("ling"), Some(0)));
    assert_eq!(body["tier"]["member_id"], "ling");
    // Another member's data by the API's routes: the token is no API key.
    for path in ["/v1/members/wei", "/v1/members/wei/ledger", "/v1/members/ling"] {
        let (s, _) = app.send(Method::GET, path, None, Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
    }
    // A token changed to name wei is refused, as is one signed with another key.
    let parts: Vec<&str> = token.split('.').collect();
    let forged =
        format!("lm1.{}.{}.{}", "wei".bytes().map(|b| format!("{b:02x}")).collect::<String>(), parts[2], parts[3]);
    assert_eq!(me(forged.clone()).await.0, StatusCode::UNAUTHORIZED);
    let r = client().get(format!("{}/member?token={forged}", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let other_key = loyalty_core::access::member_token::sign(
        b"not the engine's key",
        &loyalty_core::ids::MemberId::parse("wei").unwrap(),
        Timestamp::now() + SignedDuration::from_mins(5),
    );
    assert_eq!(me(other_key).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me("".into()).await.0, StatusCode::UNAUTHORIZED);
    // The wei token reads wei.
    let (_, w) = app.send(Method::POST, "/v1/members/wei/sessions", None, Some(INTEGRATION_KEY), None).await;
    let (_, body) = me(w["token"].as_str().unwrap().to_owned()).await;
    assert_eq!((body["member_id"].as_str(), body["balances"]["available"].as_i64()), (Some("wei"), Some(999)));

    // The page: the token goes into a cookie and out of the URL; a check-in is one a day.
    let c = client();
    let r = c.get(format!("{}/member?token={token}", app.base)).send().await.unwrap();
    assert_eq!((r.status(), r.headers()[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/member"));
    let (cookie, flags) = set_cookie(&r, "loyalty_member").unwrap();
    assert!(flags.contains("HttpOnly") && flags.contains("SameSite=Lax") && flags.contains("Path=/member"), "{flags}");
    let page = c.get(format!("{}/member", app.base)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-test=\"tier-name\">普通会员") || html.contains("data-test=\"tier-name\""), "{html}");
    let csrf = hidden(&html, "csrf");
    let post = |csrf: String| {
        let (c, cookie, url) = (c.clone(), cookie.clone(), format!("{}/member/checkins", app.base));
        async move { c.post(url).header(header::COOKIE, cookie).form(&[("csrf", csrf)]).send().await.unwrap() }
    };
    assert_eq!(post("wrong".into()).await.status(), StatusCode::FORBIDDEN, "a form without the page's token");
    let first = post(csrf.clone()).await;
    assert_eq!(first.headers()[header::LOCATION], "/member?checkin=done");
    let second = post(csrf).await;
    assert_eq!(second.headers()[header::LOCATION], "/member?checkin=already");
    let (_, cal) = app.get("/v1/members/ling/checkins").await;
    assert_eq!(cal["days"].as_array().unwrap().len(), 1, "recorded once");
    let (_, body) = me(token).await;
    assert_eq!(body["checkins"]["checked_in_today"], true);
    let again =
        c.get(format!("{}/member?checkin=already", app.base)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("今天已经签到过啦"));
}
