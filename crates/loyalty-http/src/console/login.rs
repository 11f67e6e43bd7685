//! Sign-in with an API key of scope `admin`, and sign-out.

use super::{message, page, Operator, LOGIN_COOKIE, SESSION_COOKIE};
use crate::auth::{hash_key, principal_for_hash, Scope};
use crate::web::{self, cookies, forms::Fields, i18n::tr, i18n::Lang, PageLang};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use loyalty_core::access::{csrf, session};
use loyalty_store::ConsoleSession;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    why: Option<String>,
}

/// Where to go after signing in: a console page, never another site.
fn next_page(raw: Option<&str>) -> String {
    match raw {
        Some(p) if p.starts_with("/console") && !p.contains("//") && !p.contains('\\') => p.to_owned(),
        _ => "/console".to_owned(),
    }
}

fn cookie<'a>(name: &'a str, value: &'a str, max_age: Option<i64>, secure: bool) -> cookies::Cookie<'a> {
    cookies::Cookie {
        name,
        value,
        path: "/console",
        max_age,
        http_only: true,
        same_site: cookies::SameSite::Strict,
        secure,
    }
}

/// The form, with a fresh double-submit token.
fn render_form(
    s: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    next: &str,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let nonce = web::random_hex::<32>();
    let ctx = minijinja::context! { csrf => csrf::login_token(&nonce), next => next, error => error, notice => notice };
    let mut resp = page(status, "console/login.html", lang, ctx);
    let secure = web::over_tls(headers, &s.web.settings);
    cookie(LOGIN_COOKIE, &nonce, Some(3600), secure).set(resp.headers_mut());
    resp
}

/// `GET /console/login`.
pub async fn form(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let notice = match q.why.as_deref() {
        Some("expired") => Some(tr(lang, "login.expired", &[])),
        Some("revoked") => Some(tr(lang, "login.revoked", &[])),
        Some("signed_out") => Some(tr(lang, "login.signed_out", &[])),
        _ => None,
    };
    render_form(&s, &headers, lang, StatusCode::OK, &next_page(q.next.as_deref()), None, notice)
}

/// `POST /console/login`: an admin key starts a session; any other key, or none, is refused
/// with the form again and a sentence saying why.
pub async fn sign_in(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    form: Fields,
) -> Response {
    let next = next_page(form.get("next"));
    let nonce = cookies::get(&headers, LOGIN_COOKIE).unwrap_or("");
    if nonce.is_empty() || !csrf::matches(&csrf::login_token(nonce), form.get(super::CSRF_FIELD)) {
        let why = tr(lang, "error.csrf", &[]);
        return render_form(&s, &headers, lang, StatusCode::FORBIDDEN, &next, Some(why), None);
    }
    let Some(key) = form.get("key") else {
        return render_form(
            &s,
            &headers,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &next,
            Some(tr(lang, "login.no_key", &[])),
            None,
        );
    };
    let key_hash = hash_key(key);
    let principal = match principal_for_hash(&s, &key_hash).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            let why = tr(lang, "login.unknown_key", &[]);
            return render_form(&s, &headers, lang, StatusCode::UNAUTHORIZED, &next, Some(why), None);
        }
        Err(e) => return super::unavailable(lang, e),
    };
    if principal.scope != Scope::Admin {
        let why = tr(
            lang,
            "login.not_admin",
            &[("name", principal.name.clone()), ("scope", principal.scope.as_str().into())],
        );
        return render_form(&s, &headers, lang, StatusCode::FORBIDDEN, &next, Some(why), None);
    }
    let now = s.clock.now();
    let policy = s.web.settings.sessions;
    if let Err(e) = s.store.purge_sessions(now, policy.idle_before(now)).await {
        tracing::warn!(error = %e, "could not purge ended console sessions");
    }
    let id = session::session_id(rand::random());
    let row = ConsoleSession {
        session_hash: session::session_hash(&id),
        principal: principal.name.clone(),
        scope: principal.scope.as_str().to_owned(),
        key_hash,
        created_at: now,
        last_seen_at: now,
        expires_at: policy.expires_at(now),
    };
    if let Err(e) = s.store.insert_session(&row).await {
        return super::unavailable(lang, e.into());
    }
    tracing::info!(operator = %principal.name, "console sign-in");
    let secure = web::over_tls(&headers, &s.web.settings);
    let mut resp = web::see_other(&next);
    cookie(SESSION_COOKIE, &id, None, secure).set(resp.headers_mut());
    cookie(LOGIN_COOKIE, "", Some(0), secure).set(resp.headers_mut());
    resp
}

/// `POST /console/logout`: the session's row is deleted, so the cookie signs nobody in again.
pub async fn sign_out(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Extension(op): Extension<Operator>,
) -> Response {
    if let Err(e) = s.store.delete_session(&session::session_hash(&op.session_id)).await {
        return message(StatusCode::SERVICE_UNAVAILABLE, lang, "error.unavailable", e.to_string());
    }
    let mut resp = web::see_other("/console/login?why=signed_out");
    cookie(SESSION_COOKIE, "", Some(0), web::over_tls(&headers, &s.web.settings)).set(resp.headers_mut());
    resp
}
