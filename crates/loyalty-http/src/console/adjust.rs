//! Points adjustments from the member page: the form's fields are checked before anything is
//! sent, then the writer's `Adjust` (the same command as `POST
//! /v1/members/{id}/points/adjustments`) runs with `audited`, so the audit record with the
//! operator commits with the adjustment. The form carries an adjustment id made when it was
//! rendered: sent twice, it adjusts once. Any refusal renders the page again naming the field,
//! with what was typed, and writes nothing.

use super::members::{member_page, AdjustForm, MemberQuery};
use super::{message, Operator};
use crate::web::{forms::Fields, i18n::tr, i18n::Lang, see_other, PageLang};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use loyalty_core::ids::{AdjustmentId, MemberId};
use loyalty_core::text::Reason;
use loyalty_engine::{Command, Outcome};
use std::collections::BTreeMap;

/// The adjustment a form asks for, or its fields' errors.
fn parse_adjustment(
    lang: Lang,
    f: &Fields,
) -> Result<(AdjustmentId, loyalty_core::Points, Reason), BTreeMap<&'static str, String>> {
    let mut errors = BTreeMap::new();
    let points = match f.get("points") {
        None => {
            errors.insert("points", tr(lang, "adjust.points_missing", &[]));
            None
        }
        Some(raw) => match raw.replace([',', ' '], "").parse::<i64>() {
            // Digits that do not fit are a number, only too big for any adjustment.
            Err(_) if raw.trim_start_matches(['-', '+']).chars().all(|c| c.is_ascii_digit() || c == ',') => {
                let max = crate::web::templates::group(loyalty_core::limits::MAX_POINTS);
                errors.insert("points", tr(lang, "adjust.points_too_big", &[("max", max)]));
                None
            }
            Err(_) => {
                errors.insert("points", tr(lang, "adjust.points_not_number", &[("raw", raw.into())]));
                None
            }
            Ok(p) => match loyalty_core::limits::check_adjustment(p) {
                Ok(()) => Some(p),
                Err(_) if p == 0 => {
                    errors.insert("points", tr(lang, "adjust.points_zero", &[]));
                    None
                }
                Err(_) => {
                    let max = crate::web::templates::group(loyalty_core::limits::MAX_POINTS);
                    errors.insert("points", tr(lang, "adjust.points_too_big", &[("max", max)]));
                    None
                }
            },
        },
    };
    let reason = match f.get("reason").map(Reason::parse) {
        None => {
            errors.insert("reason", tr(lang, "adjust.reason_missing", &[]));
            None
        }
        Some(Err(e)) => {
            errors.insert("reason", tr(lang, "adjust.reason_invalid", &[("why", e.0)]));
            None
        }
        Some(Ok(r)) => Some(r),
    };
    let id = f.get("adjustment_id").and_then(|raw| AdjustmentId::parse(raw).ok());
    if id.is_none() {
        errors.insert("form", tr(lang, "error.csrf", &[]));
    }
    match (id, points, reason) {
        (Some(id), Some(p), Some(r)) if errors.is_empty() => Ok((id, loyalty_core::Points::new(p), r)),
        _ => Err(errors),
    }
}

/// `POST /console/members/{id}/adjustments`: through the writer, or the page again with the
/// fields named and nothing written.
pub async fn adjust(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
    form: Fields,
) -> Response {
    let again = |errors: BTreeMap<&'static str, String>| AdjustForm {
        id: form.get("adjustment_id").unwrap_or_default().to_owned(),
        points: form.get("points").unwrap_or_default().to_owned(),
        reason: form.get("reason").unwrap_or_default().to_owned(),
        errors,
    };
    let Ok(member) = MemberId::parse(&id) else {
        return message(StatusCode::NOT_FOUND, lang, "error.not_found", tr(lang, "members.not_found", &[("id", id)]));
    };
    let q = MemberQuery::default();
    let (adj, points, reason) = match parse_adjustment(lang, &form) {
        Ok(a) => a,
        Err(errors) => {
            return member_page(&s, lang, &op, &id, &q, again(errors), StatusCode::UNPROCESSABLE_ENTITY).await
        }
    };
    let cmd = Command::Adjust {
        member: member.clone(),
        id: adj.clone(),
        points,
        reason,
        actor: op.principal.name.clone(),
        audited: true,
    };
    match s.writer.submit(cmd).await {
        Ok(Outcome::Adjusted { .. }) => {
            // The redirect says what was done for the page's notice (display only: the page
            // reads the ledger itself).
            let shown = if points.get() > 0 { format!("+{}", points.get()) } else { points.get().to_string() };
            see_other(&format!(
                "/console/members/{}?adjusted={}",
                crate::web::encode(member.as_str()),
                crate::web::encode(&shown)
            ))
        }
        Ok(other) => super::unavailable(lang, crate::members::unexpected(other)),
        Err(e) => {
            let e: crate::problem::ApiError = e.into();
            if e.0.status >= 500 {
                return super::unavailable(lang, e);
            }
            // The rules refused it (not enough points to take, a closed member, the same id
            // with other figures): said on the form, and nothing was written.
            let mut errors = BTreeMap::new();
            let field = if e.0.field.as_deref() == Some("reason") { "reason" } else { "points" };
            errors.insert(field, e.0.detail.clone());
            member_page(
                &s,
                lang,
                &op,
                &id,
                &q,
                again(errors),
                StatusCode::from_u16(e.0.status).unwrap_or(StatusCode::CONFLICT),
            )
            .await
        }
    }
}
