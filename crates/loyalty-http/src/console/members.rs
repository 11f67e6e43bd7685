//! Members: search by id, phone or email (an index probe each; the browse list pages by
//! cursor), the member's page (profile, balances, tier and its progress, lots, the ledger paged
//! by cursor, tier history, coupons, check-ins, tasks, membership, insight, the audit log). Its
//! adjustment form is `adjust.rs`'s.

use super::{base, merge, message, Operator};
use crate::extract::Query as ApiQuery;
use crate::web::{i18n::tr, i18n::Lang, see_other, PageLang};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use loyalty_core::engagement::referral::{normalise_email, normalise_phone};
use loyalty_core::ids::MemberId;
use loyalty_store::Contact;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Members one page of the browse list shows.
pub const BROWSE_PAGE: i64 = 20;
/// Ledger entries, lots and coupons the member page shows at once.
pub const MEMBER_PAGE_ROWS: i64 = 20;
/// Audit records and tier changes the member page shows (the newest).
pub const AUDIT_SHOWN: usize = 10;
pub const HISTORY_SHOWN: i64 = 10;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
    after: Option<String>,
}

/// A member in a list: id, name, tier and points.
#[derive(Serialize)]
struct Row {
    id: String,
    name: Option<String>,
    status: String,
    tier: String,
    available: i64,
}

async fn row(s: &AppState, id: &MemberId) -> Result<Option<Row>, crate::problem::ApiError> {
    let now = s.clock.now();
    let Some(m) = s.writer.cache.member(s.store.as_ref(), id, now).await? else { return Ok(None) };
    let level = loyalty_core::tiers::tier_status(&m.account, &s.program, now).level.name.clone();
    let (b, _) = m.account.balances_at(now);
    Ok(Some(Row {
        id: id.to_string(),
        name: m.profile.name.clone(),
        status: m.account.status().to_string(),
        tier: level,
        available: b.available().get(),
    }))
}

/// Who a query names: the member with that id, and the members with that phone or email.
async fn find(s: &AppState, q: &str) -> Result<Vec<MemberId>, crate::problem::ApiError> {
    let mut found = Vec::new();
    if let Ok(id) = MemberId::parse(q) {
        found.push(id);
    }
    let phone_like = q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    if q.contains('@') {
        if let Some(e) = normalise_email(q) {
            found.extend(
                s.store.members_by_contact(Contact::Email, &e, loyalty_store::sessions::MAX_CONTACT_MATCHES).await?,
            );
        }
    } else if phone_like {
        for p in phone_forms(q) {
            found.extend(
                s.store.members_by_contact(Contact::Phone, &p, loyalty_store::sessions::MAX_CONTACT_MATCHES).await?,
            );
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The digit strings a typed phone may be stored as: its digits, and a mainland mobile with
/// and without the country code 86 (`13900001234` finds `+86 139-0000-1234`).
fn phone_forms(q: &str) -> Vec<String> {
    let Some(d) = normalise_phone(q) else { return Vec::new() };
    let mut forms = vec![d.clone()];
    if d.len() == 11 && d.starts_with('1') {
        forms.push(format!("86{d}"));
    } else if d.len() == 13 && d.starts_with("861") {
        forms.push(d[2..].to_owned());
    }
    forms
}

/// `GET /console/members?q=` (search) or `?after=` (the browse list's next page).
pub async fn search(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    Query(p): Query<SearchQuery>,
) -> Response {
    let q = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let (ids, next) = match q {
        Some(q) => match find(&s, q).await {
            Ok(ids) => (ids, None),
            Err(e) => return super::unavailable(lang, e),
        },
        None => {
            let after = p.after.as_deref().filter(|a| !a.is_empty());
            match s.store.member_ids(after, BROWSE_PAGE).await {
                Ok(raw) => {
                    let next = (raw.len() as i64 == BROWSE_PAGE).then(|| raw.last().cloned()).flatten();
                    (raw.iter().filter_map(|id| MemberId::parse(id).ok()).collect(), next)
                }
                Err(e) => return super::unavailable(lang, e.into()),
            }
        }
    };
    let mut rows = Vec::new();
    for id in &ids {
        match row(&s, id).await {
            Ok(Some(r)) => rows.push(r),
            Ok(None) => {}
            Err(e) => return super::unavailable(lang, e),
        }
    }
    // One member found by a search: straight to the member's page.
    if let (Some(_), [only]) = (q, rows.as_slice()) {
        return see_other(&format!("/console/members/{}", crate::web::encode(&only.id)));
    }
    let ctx = minijinja::context! { q => q.unwrap_or_default(), rows => rows, next => next,
    searched => q.is_some() };
    let ctx = merge([ctx, base(&op, "members")]);
    super::page(StatusCode::OK, "console/members.html", lang, ctx)
}

#[derive(Deserialize, Default)]
pub struct MemberQuery {
    pub(crate) cursor: Option<String>,
    pub(crate) adjusted: Option<String>,
}

/// What the adjustment form was sent with and what was wrong with it, by field.
#[derive(Serialize, Default)]
pub(crate) struct AdjustForm {
    pub(crate) id: String,
    pub(crate) points: String,
    pub(crate) reason: String,
    pub(crate) errors: BTreeMap<&'static str, String>,
}

/// The member's page, with the adjustment form as given (a fresh one: a new id).
pub(crate) async fn member_page(
    s: &AppState,
    lang: Lang,
    op: &Operator,
    id: &str,
    q: &MemberQuery,
    form: AdjustForm,
    status: StatusCode,
) -> Response {
    let Ok(member) = MemberId::parse(id) else {
        return message(
            StatusCode::NOT_FOUND,
            lang,
            "error.not_found",
            tr(lang, "members.not_found", &[("id", id.into())]),
        );
    };
    let path = || Path(member.to_string());
    let view = match crate::members::get_member(State(s.clone()), path()).await {
        Ok(axum::Json(v)) => v,
        Err(e) if e.0.status == 404 => {
            return message(
                StatusCode::NOT_FOUND,
                lang,
                "error.not_found",
                tr(lang, "members.not_found", &[("id", id.into())]),
            )
        }
        Err(e) => return super::unavailable(lang, e),
    };
    let cursor = q.cursor.clone().filter(|c| !c.is_empty());
    let ledger_params = crate::members::LedgerParams {
        limit: Some(MEMBER_PAGE_ROWS),
        cursor: cursor.clone(),
        kind: None,
        from: None,
        to: None,
    };
    let lots_params = crate::members::PageParams { limit: Some(MEMBER_PAGE_ROWS), cursor: None };
    let coupon_params = crate::coupons::CouponListParams { status: None, limit: Some(MEMBER_PAGE_ROWS) };
    let st = || State(s.clone());
    let gathered = async {
        let tier = crate::tiers::get_tier(st(), path()).await?.0;
        let ledger = crate::members::ledger(st(), path(), ApiQuery(ledger_params)).await?.0;
        let lots = crate::members::lots(st(), path(), ApiQuery(lots_params)).await?.0;
        let coupons = crate::coupons::list(st(), path(), ApiQuery(coupon_params)).await?.0;
        let checkins =
            crate::checkins::calendar(st(), path(), ApiQuery(crate::checkins::CalendarParams { month: None })).await?.0;
        let tasks = crate::tasks::member_tasks(st(), path()).await?.0;
        let history_params = crate::members::PageParams { limit: Some(HISTORY_SHOWN), cursor: None };
        let history = crate::tiers::tier_history(st(), path(), ApiQuery(history_params)).await?.0;
        // A member without a membership, and a store without an insight run, show none.
        let membership = absent_if_404(crate::memberships::get_membership(st(), path()).await)?;
        let insight = absent_if_404(crate::insight::member_insight(st(), path()).await)?;
        let mut audit = s.store.audit_log(&member).await?;
        audit.reverse();
        audit.truncate(AUDIT_SHOWN);
        let audit: Vec<_> = audit
            .iter()
            .map(|a| {
                minijinja::context! { action => a.action.clone(), actor => a.actor.clone(), reason => a.reason.clone(),
                at => loyalty_core::calendar::rfc3339(a.at, &s.program.tz), detail => a.detail.clone() }
            })
            .collect();
        Ok::<_, crate::problem::ApiError>(minijinja::context! { tier => minijinja::Value::from_serialize(&tier),
        ledger => minijinja::Value::from_serialize(&ledger), lots => minijinja::Value::from_serialize(&lots),
        coupons => minijinja::Value::from_serialize(&coupons), checkins => minijinja::Value::from_serialize(&checkins),
        tasks => minijinja::Value::from_serialize(&tasks), audit => audit,
        history => minijinja::Value::from_serialize(&history.items),
        membership => minijinja::Value::from_serialize(&membership), insight => minijinja::Value::from_serialize(&insight),
        progress => progress(&tier) })
    };
    let data = match gathered.await {
        Ok(d) => d,
        Err(e) => return super::unavailable(lang, e),
    };
    let form = if form.id.is_empty() { AdjustForm { id: crate::web::random_hex::<16>(), ..form } } else { form };
    let ctx = minijinja::context! { member => minijinja::Value::from_serialize(&view), form => minijinja::Value::from_serialize(&form),
    cursor => cursor, adjusted => q.adjusted.clone() };
    let ctx = merge([ctx, data, base(op, "members")]);
    super::page(status, "console/member.html", lang, ctx)
}

/// A read's view, or none where the API answers 404 (no membership, no insight run yet).
fn absent_if_404<T>(r: crate::problem::ApiResult<axum::Json<T>>) -> crate::problem::ApiResult<Option<T>> {
    match r {
        Ok(axum::Json(v)) => Ok(Some(v)),
        Err(e) if e.0.status == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// The progress bar's fill, in percent: growth in the window over the next tier's entry (full
/// at the top tier).
pub(crate) fn progress(tier: &crate::tiers::TierView) -> i64 {
    match &tier.next_tier {
        Some(next) if next.entry > 0 => (tier.growth_in_window.max(0) * 100 / next.entry).clamp(0, 100),
        _ => 100,
    }
}

/// `GET /console/members/{id}?cursor=`.
pub async fn show(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
    Query(q): Query<MemberQuery>,
) -> Response {
    member_page(&s, lang, &op, &id, &q, AdjustForm::default(), StatusCode::OK).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mainland_mobile_is_looked_up_with_and_without_86() {
        assert_eq!(super::phone_forms("139 0000 1234"), ["13900001234", "8613900001234"]);
        assert_eq!(super::phone_forms("+86 139-0000-1234"), ["8613900001234", "13900001234"]);
        assert_eq!(super::phone_forms("(020) 1234-5678"), ["02012345678"]);
        assert!(super::phone_forms("()").is_empty());
    }
}
