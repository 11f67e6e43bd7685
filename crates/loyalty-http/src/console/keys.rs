//! API keys: the list (never a key or its hash), a new key (its secret shown on the page that
//! answers the form, once, and never again), and revocation (at once on this server; a
//! revoked key's console sessions end with it).

use super::{base, merge, Operator};
use crate::auth::{hash_key, new_key, Scope, BOOTSTRAP_NAME};
use crate::web::{forms::Fields, i18n::tr, i18n::Lang, see_other, PageLang};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    revoked: Option<String>,
}

async fn render(s: &AppState, lang: Lang, op: &Operator, status: StatusCode, extra: minijinja::Value) -> Response {
    let listed = match crate::keys::list_keys(State(s.clone())).await {
        Ok(axum::Json(l)) => l,
        Err(e) => return super::unavailable(lang, e),
    };
    let ctx = minijinja::context! { keys => minijinja::Value::from_serialize(&listed.items), truncated => listed.truncated,
    scopes => Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() };
    let ctx = merge([ctx, extra, base(op, "keys")]);
    super::page(status, "console/keys.html", lang, ctx)
}

/// `GET /console/keys`.
pub async fn list(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    Query(q): Query<KeysQuery>,
) -> Response {
    render(&s, lang, &op, StatusCode::OK, minijinja::context! { revoked => q.revoked }).await
}

/// `POST /console/keys`: a new key of a name and scope. Its secret is on this answer only.
pub async fn create(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    form: Fields,
) -> Response {
    let name = form.get("name").unwrap_or_default().to_owned();
    let scope = form.get("scope").and_then(Scope::parse);
    let form_scope = form.get("scope").unwrap_or_default().to_owned();
    let refuse = |field: &'static str, text: String| {
        let ctx = minijinja::context! { error_field => field, error => text, form_name => name.clone(),
        form_scope => form_scope.clone() };
        (StatusCode::UNPROCESSABLE_ENTITY, ctx)
    };
    // The rule `loyalty keys create` applies.
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        let (status, ctx) = refuse("name", tr(lang, "keys.bad_name", &[]));
        return render(&s, lang, &op, status, ctx).await;
    }
    if name == BOOTSTRAP_NAME {
        let (status, ctx) = refuse("name", tr(lang, "keys.bootstrap_name", &[]));
        return render(&s, lang, &op, status, ctx).await;
    }
    let Some(scope) = scope else {
        let (status, ctx) = refuse("scope", tr(lang, "keys.bad_scope", &[]));
        return render(&s, lang, &op, status, ctx).await;
    };
    let key = new_key();
    match s.store.insert_api_key(&hash_key(&key), &name, scope.as_str(), s.clock.now()).await {
        Ok(true) => {
            tracing::info!(operator = %op.principal.name, key = %name, scope = scope.as_str(), "API key created in the console");
            let ctx = minijinja::context! { created_name => name, created_scope => scope.as_str(), created_key => key };
            render(&s, lang, &op, StatusCode::CREATED, ctx).await
        }
        Ok(false) => {
            let (status, ctx) = refuse("name", tr(lang, "keys.name_taken", &[("name", name.clone())]));
            render(&s, lang, &op, status, ctx).await
        }
        Err(e) => super::unavailable(lang, e.into()),
    }
}

/// `POST /console/keys/{name}/revoke`.
pub async fn revoke(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
) -> Response {
    match crate::keys::revoke_key(State(s.clone()), Path(name.clone())).await {
        Ok(_) => {
            tracing::info!(operator = %op.principal.name, key = %name, "API key revoked in the console");
            see_other(&format!("/console/keys?revoked={}", crate::web::encode(&name)))
        }
        Err(e) if e.0.status == 404 => {
            render(&s, lang, &op, StatusCode::NOT_FOUND, minijinja::context! { error => e.0.detail.clone() }).await
        }
        Err(e) => super::unavailable(lang, e),
    }
}
