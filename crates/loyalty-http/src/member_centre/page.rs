//! The member centre's page (`/member`): mobile first, embeddable in a store's iframe or
//! WebView. It shows the same [`MeView`](super::api::MeView) `/v1/me` answers, and its
//! check-in button posts through the writer (one a day; a second is said kindly).

use super::{api::me_view, member_of, MEMBER_COOKIE};
use crate::web::{self, cookies, forms::Fields, i18n::tr, i18n::Lang, Framing, PageLang};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::civil::Date;
use loyalty_core::access::csrf;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    token: Option<String>,
    checkin: Option<String>,
    lang: Option<String>,
}

fn message(status: StatusCode, lang: Lang, title_key: &str, text_key: &str) -> Response {
    let ctx = minijinja::context! { title => tr(lang, title_key, &[]), text => tr(lang, text_key, &[]) };
    web::render(status, "member/message.html", lang, ctx, Framing::Embeddable)
}

/// One cell of the month's calendar.
#[derive(Serialize)]
struct Cell {
    day: Option<i8>,
    checked: bool,
    today: bool,
}

/// The month of `today` in weeks from Monday, each day marked checked in or not.
fn month_grid(today: Date, checked: &[String]) -> Vec<Vec<Cell>> {
    let first = today.first_of_month();
    let lead = first.weekday().to_monday_zero_offset() as usize;
    let mut cells: Vec<Cell> = (0..lead).map(|_| Cell { day: None, checked: false, today: false }).collect();
    for d in 1..=today.days_in_month() {
        let date = first.with().day(d).build().unwrap_or(first);
        let key = date.to_string();
        cells.push(Cell { day: Some(d), checked: checked.contains(&key), today: date == today });
    }
    while !cells.len().is_multiple_of(7) {
        cells.push(Cell { day: None, checked: false, today: false });
    }
    let mut weeks = Vec::new();
    let mut it = cells.into_iter().peekable();
    while it.peek().is_some() {
        weeks.push(it.by_ref().take(7).collect());
    }
    weeks
}

/// `GET /member?token=…` keeps the token in a cookie and comes back without it in the URL;
/// `GET /member` shows the page for the cookie's token.
pub async fn home(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Response {
    if let Some(token) = q.token.as_deref().filter(|t| !t.is_empty()) {
        return match member_of(&s, token).await {
            Ok(Ok((_, expires))) => {
                let age = expires.as_second() - s.clock.now().as_second();
                let back = match q.lang.as_deref().and_then(web::i18n::Lang::parse) {
                    Some(l) => format!("/member?lang={}", l.as_str()),
                    None => "/member".to_owned(),
                };
                let mut resp = web::see_other(&back);
                cookie(token, Some(age.max(0)), web::over_tls(&headers, &s.web.settings)).set(resp.headers_mut());
                resp
            }
            Ok(Err(_)) => message(StatusCode::UNAUTHORIZED, lang, "member.link_title", "member.link_expired"),
            Err(e) => web::html(StatusCode::SERVICE_UNAVAILABLE, e.0.detail.clone(), Framing::Embeddable),
        };
    }
    let Some(token) = cookies::get(&headers, MEMBER_COOKIE).filter(|t| !t.is_empty()) else {
        return message(StatusCode::UNAUTHORIZED, lang, "member.link_title", "member.link_missing");
    };
    let (member, expires) = match member_of(&s, token).await {
        Ok(Ok(m)) => m,
        Ok(Err(_)) => return message(StatusCode::UNAUTHORIZED, lang, "member.link_title", "member.link_expired"),
        Err(e) => return web::html(StatusCode::SERVICE_UNAVAILABLE, e.0.detail.clone(), Framing::Embeddable),
    };
    let me = match me_view(&s, &member, expires).await {
        Ok(me) => me,
        Err(e) if e.0.status == 404 => return message(StatusCode::NOT_FOUND, lang, "member.link_title", "member.gone"),
        Err(e) => return web::html(StatusCode::SERVICE_UNAVAILABLE, e.0.detail.clone(), Framing::Embeddable),
    };
    let today: Date = me.checkins.today.parse().unwrap_or_else(|_| Date::constant(2026, 1, 1));
    let checked: Vec<String> = me.checkins.days.iter().map(|d| d.day.clone()).collect();
    let notice = match q.checkin.as_deref() {
        Some("done") => Some(("ok", tr(lang, "member.checked_in", &[]))),
        Some("already") => Some(("info", tr(lang, "member.already_checked_in", &[]))),
        Some("off") => Some(("info", tr(lang, "member.checkin_off", &[]))),
        _ => None,
    };
    let weekdays: Vec<String> = (0..7).map(|i| tr(lang, &format!("member.weekday{i}"), &[])).collect();
    let ctx = minijinja::context! {
        me => minijinja::Value::from_serialize(&me),
        weeks => minijinja::Value::from_serialize(month_grid(today, &checked)),
        weekdays => weekdays,
        csrf => csrf::member_token(token),
        notice => notice.map(|(kind, text)| minijinja::context! { kind => kind, text => text }),
    };
    web::render(StatusCode::OK, "member/home.html", lang, ctx, Framing::Embeddable)
}

fn cookie(token: &str, max_age: Option<i64>, secure: bool) -> cookies::Cookie<'_> {
    cookies::Cookie {
        name: MEMBER_COOKIE,
        value: token,
        path: "/member",
        max_age,
        http_only: true,
        same_site: cookies::SameSite::Lax,
        secure,
    }
}

/// `POST /member/checkins`: the check-in button. The form carries the page's CSRF token
/// (derived from the member token, which a page of another site cannot read).
pub async fn check_in(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    form: Fields,
) -> Response {
    let Some(token) = cookies::get(&headers, MEMBER_COOKIE).filter(|t| !t.is_empty()) else {
        return message(StatusCode::UNAUTHORIZED, lang, "member.link_title", "member.link_missing");
    };
    if !csrf::matches(&csrf::member_token(token), form.get("csrf")) {
        return message(StatusCode::FORBIDDEN, lang, "member.link_title", "member.form_expired");
    }
    let member = match member_of(&s, token).await {
        Ok(Ok((m, _))) => m,
        Ok(Err(_)) => return message(StatusCode::UNAUTHORIZED, lang, "member.link_title", "member.link_expired"),
        Err(e) => return web::html(StatusCode::SERVICE_UNAVAILABLE, e.0.detail.clone(), Framing::Embeddable),
    };
    let done = crate::checkins::check_in(State(s.clone()), Path(member.to_string()), axum::body::Bytes::new()).await;
    let outcome = match done {
        Ok(_) => "done",
        Err(e) if e.0.code == "already_checked_in" => "already",
        Err(e) if e.0.code == "checkin_off" => "off",
        Err(e) => {
            tracing::warn!(member = %member, code = %e.0.code, "a member centre check-in was refused");
            return message(
                StatusCode::from_u16(e.0.status).unwrap_or(StatusCode::CONFLICT),
                lang,
                "member.link_title",
                "member.checkin_failed",
            );
        }
    };
    web::see_other(&format!("/member?checkin={outcome}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_starts_on_monday_and_marks_the_days() {
        // December 2026 begins on a Tuesday.
        let weeks = month_grid(Date::constant(2026, 12, 3), &["2026-12-01".into(), "2026-12-03".into()]);
        assert_eq!(weeks[0][0].day, None);
        assert_eq!(weeks[0][1].day, Some(1));
        assert!(weeks[0][1].checked && !weeks[0][2].checked && weeks[0][3].checked && weeks[0][3].today);
        assert!(weeks.iter().all(|w| w.len() == 7));
        assert_eq!(weeks.iter().flatten().filter(|c| c.day.is_some()).count(), 31);
    }
}
