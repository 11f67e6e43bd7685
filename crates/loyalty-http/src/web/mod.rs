//! Server-rendered pages, shared by the operator console (`crate::console`) and the member
//! centre (`crate::member_centre`): templates (`templates`, minijinja), the strings of each
//! language (`i18n`), static assets embedded in the binary (`assets`), cookies (`cookies`)
//! and form bodies (`forms`). Pages answer HTML, also when they refuse, so the problem+json
//! layer lets `text/html` through.

pub mod assets;
pub mod cookies;
pub mod forms;
pub mod i18n;
pub mod templates;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use loyalty_core::access::session::SessionPolicy;
use std::sync::Arc;

/// How the pages run: cookie flags and the console's session lifetimes.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Always mark cookies `Secure` (behind a TLS terminator that sends no
    /// `X-Forwarded-Proto`): `LOYALTY_SECURE_COOKIES=1`.
    pub secure_cookies: bool,
    pub sessions: SessionPolicy,
}

/// The pages' part of the application state.
#[derive(Debug, Clone, Default)]
pub struct WebState {
    pub settings: WebSettings,
    /// The member token's HMAC key, read from the store (made there on first use) once.
    pub(crate) member_secret: Arc<tokio::sync::OnceCell<Arc<[u8]>>>,
}

impl WebState {
    pub fn new(settings: WebSettings) -> Self {
        Self { settings, member_secret: Default::default() }
    }
}

/// Whether cookies set on this request's answer must be `Secure`: the request came over TLS
/// (as a proxy in front says with `X-Forwarded-Proto: https`), or the settings say always.
pub fn over_tls(headers: &HeaderMap, settings: &WebSettings) -> bool {
    settings.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// Who may frame a page: the console nobody, the member centre any page (stores embed it
/// in an iframe or a WebView).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Deny,
    Embeddable,
}

/// An HTML answer with the headers every page carries: no caching (pages show personal data),
/// a content security policy that allows only this server's own scripts and styles, no
/// referrer (a member centre URL may carry a token), no MIME sniffing.
pub fn html(status: StatusCode, body: String, framing: Framing) -> Response {
    let frame = match framing {
        Framing::Deny => "frame-ancestors 'none'",
        Framing::Embeddable => "frame-ancestors *",
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         base-uri 'none'; {frame}"
    );
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if framing == Framing::Deny {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}

/// A 303 to `location` (after a form, the browser GETs the page it names).
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// `n` random bytes, hex.
pub fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    hex::encode(bytes)
}

/// Renders a template into an HTML answer; a template that fails to render is a 500 (logged),
/// never a half page.
pub fn render(
    status: StatusCode,
    template: &str,
    lang: i18n::Lang,
    ctx: minijinja::Value,
    framing: Framing,
) -> Response {
    match templates::render(template, lang, ctx) {
        Ok(body) => html(status, body, framing),
        Err(e) => {
            tracing::error!(template, error = %format!("{e:#}"), "a page did not render");
            let text = i18n::tr(lang, "error.internal", &[]);
            html(StatusCode::INTERNAL_SERVER_ERROR, format!("<!doctype html><p>{text}</p>"), framing)
        }
    }
}

/// The language of a page request (see [`i18n::negotiate`]), as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct PageLang(pub i18n::Lang);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(i18n::negotiate(query_lang(parts.uri.query()).as_deref(), &parts.headers)))
    }
}

/// The `lang` parameter of a query string.
pub fn query_lang(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v.into_owned())
}

/// The layer around every page: a `?lang=` that names a language is kept in a cookie, so the
/// next pages (and the forms' redirects) stay in it.
pub async fn remember_lang(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let chosen = query_lang(req.uri().query()).as_deref().and_then(i18n::Lang::parse);
    let mut resp = next.run(req).await;
    if let Some(lang) = chosen {
        let c = cookies::Cookie {
            name: i18n::LANG_COOKIE,
            value: lang.as_str(),
            path: "/",
            max_age: Some(365 * 24 * 3600),
            http_only: true,
            same_site: cookies::SameSite::Lax,
            secure: false,
        };
        c.set(resp.headers_mut());
    }
    resp
}
