//! The operator console (`/console`): server-rendered pages for operations staff, signed in
//! with an API key of scope `admin`. Access is one layer (`guard`) around every page but the
//! sign-in: it finds the session by its cookie, ends it when idle, expired or when its key is
//! no longer a live admin key, and refuses any POST whose form does not carry the session's
//! CSRF token before the handler runs, so no handler checks either itself. The pages read
//! through the same handlers and store reads as the API, so they show the API's figures.

pub mod adjust;
pub mod dashboard;
pub mod keys;
pub mod login;
pub mod members;

use crate::auth::{Principal, Scope};
use crate::web::{self, i18n::Lang, Framing, PageLang};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use loyalty_core::access::{csrf, session};

/// The session cookie: `HttpOnly`, `SameSite=Strict`, `Secure` over TLS, for `/console` only.
pub const SESSION_COOKIE: &str = "loyalty_console";
/// The sign-in form's double-submit cookie (there is no session yet to derive a token from).
pub const LOGIN_COOKIE: &str = "loyalty_login";
/// The form field every console POST carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf";

/// A signed-in operator, put in the request by `guard`.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The key signed in with: its name is the actor of what the operator does.
    pub principal: Principal,
    /// The CSRF token every form of the session carries.
    pub csrf: String,
    /// The session's cookie value (to sign out).
    pub session_id: String,
}

pub fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/console", get(dashboard::page))
        .route("/console/members", get(members::search))
        .route("/console/members/{id}", get(members::show))
        .route("/console/members/{id}/adjustments", post(adjust::adjust))
        .route("/console/keys", get(keys::list).post(keys::create))
        .route("/console/keys/{name}/revoke", post(keys::revoke))
        .route("/console/logout", post(login::sign_out))
        .route("/console/{*rest}", get(not_found))
        .route_layer(from_fn_with_state(state, guard));
    Router::new().route("/console/login", get(login::form).post(login::sign_in)).merge(guarded)
}

/// The context every console page starts from: who is signed in, the CSRF token, which tab.
pub(crate) fn base(op: &Operator, nav: &str) -> minijinja::Value {
    minijinja::context! { operator => op.principal.name.clone(), csrf => op.csrf.clone(), nav => nav }
}

/// Merges page contexts (no key is in two of them).
pub(crate) fn merge<const N: usize>(parts: [minijinja::Value; N]) -> minijinja::Value {
    minijinja::value::merge_maps(parts)
}

/// A console page.
pub(crate) fn page(status: StatusCode, template: &str, lang: Lang, ctx: minijinja::Value) -> Response {
    web::render(status, template, lang, ctx, Framing::Deny)
}

/// A page with one message (a refusal, a page that is not there).
pub(crate) fn message(status: StatusCode, lang: Lang, title_key: &str, text: String) -> Response {
    let title = web::i18n::tr(lang, title_key, &[]);
    page(status, "console/message.html", lang, minijinja::context! { title => title, text => text })
}

async fn not_found(PageLang(lang): PageLang) -> Response {
    message(StatusCode::NOT_FOUND, lang, "error.not_found", web::i18n::tr(lang, "error.not_found_text", &[]))
}

/// To the sign-in page, coming back to a GET's page afterwards (a POST is not replayed: what
/// it would have written is not written).
fn to_sign_in(req: &Request, why: Option<&str>) -> Response {
    let mut location = "/console/login".to_owned();
    let mut params = Vec::new();
    if req.method() == Method::GET {
        let here = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/console");
        params.push(format!("next={}", web::encode(here)));
    }
    if let Some(why) = why {
        params.push(format!("why={why}"));
    }
    if !params.is_empty() {
        location = format!("{location}?{}", params.join("&"));
    }
    web::see_other(&location)
}

/// The layer around every console page but the sign-in (see the module's doc).
async fn guard(State(s): State<AppState>, PageLang(lang): PageLang, req: Request, next: Next) -> Response {
    let Some(id) = web::cookies::get(req.headers(), SESSION_COOKIE).filter(|v| session::looks_like_session_id(v))
    else {
        return to_sign_in(&req, None);
    };
    let id = id.to_owned();
    let hash = session::session_hash(&id);
    let now = s.clock.now();
    let policy = s.web.settings.sessions;
    let stored = match s.store.session(&hash).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return to_sign_in(&req, None),
        Err(e) => return unavailable(lang, e.into()),
    };
    match policy.state(stored.created_at, stored.last_seen_at, now) {
        session::SessionState::Live { touch } => {
            if touch {
                if let Err(e) = s.store.touch_session(&hash, now).await {
                    tracing::warn!(error = %e, "could not record a console session's use");
                }
            }
        }
        session::SessionState::Idle | session::SessionState::Expired => {
            let _ = s.store.delete_session(&hash).await;
            return to_sign_in(&req, Some("expired"));
        }
    }
    // The key must still be live and an admin's: revoking it ends its sessions at once.
    let principal = match crate::auth::principal_for_hash(&s, &stored.key_hash).await {
        Ok(Some(p)) if p.scope == Scope::Admin && p.name == stored.principal => p,
        Ok(_) => {
            let _ = s.store.delete_session(&hash).await;
            return to_sign_in(&req, Some("revoked"));
        }
        Err(e) => return unavailable(lang, e),
    };
    let operator = Operator { principal, csrf: csrf::console_token(&id), session_id: id };
    let mut req = req;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let (buffered, fields) = match web::forms::buffer(req).await {
            Ok(b) => b,
            Err(status) => return message(status, lang, "error.refused", web::i18n::tr(lang, "error.too_large", &[])),
        };
        if !csrf::matches(&operator.csrf, fields.get(CSRF_FIELD)) {
            return message(StatusCode::FORBIDDEN, lang, "error.refused", web::i18n::tr(lang, "error.csrf", &[]));
        }
        req = buffered;
    }
    req.extensions_mut().insert(operator);
    next.run(req).await
}

/// The store could not be read: a page that says so (the API's 503, as a page).
pub(crate) fn unavailable(lang: Lang, e: crate::problem::ApiError) -> Response {
    let status = StatusCode::from_u16(e.0.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    message(status, lang, "error.unavailable", e.0.detail.clone())
}
