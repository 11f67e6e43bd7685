//! Daily check-in (签到): today's check-in, a make-up of a missed day, and the month's
//! calendar with the streak. Thin handlers: the rules are the core's (`engagement`), decided
//! by the writer on the member's days it holds.

use super::extract::{path_id, Json, Query};
use super::members::unexpected;
use super::problem::{ApiError, ApiResult, Problem};
use super::views::BalancesAfter;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use loyalty_core::engagement::{checkin, local_day, CheckinSettings, Day};
use loyalty_core::ids::MemberId;
use loyalty_core::DomainError;
use loyalty_engine::{Command, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn member(raw: &str) -> ApiResult<MemberId> {
    path_id("member_id", raw, MemberId::parse)
}

/// One checked-in day.
#[derive(Serialize, ToSchema)]
pub struct CheckinDayView {
    /// The local calendar day (programme time zone).
    pub day: String,
    /// `checkin`, or `makeup` for a missed day made up.
    pub kind: String,
    /// When it was recorded (a make-up: when it was made).
    pub at: String,
    /// The streak ending on this day.
    pub streak: i64,
    /// What the day's record earned: the daily reward and the milestones it paid.
    pub points: i64,
    pub growth: i64,
    pub milestones: Vec<i64>,
    /// A make-up's price in points, or the make-up card it used.
    pub cost_points: i64,
    pub card: Option<String>,
}

pub(crate) fn day_view(d: &Day, tz: &jiff::tz::TimeZone) -> CheckinDayView {
    CheckinDayView {
        day: d.day.to_string(),
        kind: d.kind.as_str().to_owned(),
        at: loyalty_core::calendar::rfc3339(d.at, tz),
        streak: d.streak,
        points: d.points,
        growth: d.growth,
        milestones: d.milestones.clone(),
        cost_points: d.cost_points,
        card: d.card.clone(),
    }
}

/// The next streak day that pays a bonus.
#[derive(Serialize, ToSchema)]
pub struct NextMilestoneView {
    /// The streak day it pays on, and how many more check-ins reach it.
    pub streak_day: i64,
    pub days_left: i64,
    pub points: i64,
    pub growth: i64,
    /// A coupon template it issues.
    pub coupon: Option<String>,
}

fn next_milestone(s: &CheckinSettings, streak: i64) -> Option<NextMilestoneView> {
    s.next_milestone(streak).map(|(day, m)| NextMilestoneView {
        streak_day: day,
        days_left: day - streak,
        points: m.points,
        growth: m.growth,
        coupon: m.coupon.clone(),
    })
}

/// What a check-in or make-up earned.
#[derive(Serialize, ToSchema)]
pub struct CheckinRewardView {
    pub points: i64,
    pub growth: i64,
    /// Milestone days paid (a make-up that joins two runs may pay several).
    pub milestones: Vec<i64>,
    /// Coupons issued for milestones.
    pub coupons: Vec<String>,
    /// Milestone coupons that could not be issued, each with why (the check-in stands).
    pub not_given: Vec<String>,
    /// Points a make-up cost.
    pub cost_points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CheckinView {
    pub member_id: String,
    pub day: CheckinDayView,
    /// The running streak after it.
    pub streak: i64,
    pub reward: CheckinRewardView,
    pub next_milestone: Option<NextMilestoneView>,
    /// Make-ups left this month.
    pub makeups_left: i64,
    pub balances: BalancesAfter,
}

fn reply(s: &AppState, member: &MemberId, o: Outcome) -> ApiResult<(StatusCode, axum::Json<CheckinView>)> {
    let Outcome::Checkin(c) = o else { return Err(unexpected(o)) };
    let settings = &s.program.file.checkin;
    let r = &c.reward;
    let view = CheckinView {
        member_id: member.to_string(),
        day: day_view(&c.day, &s.program.tz),
        streak: c.streak,
        reward: CheckinRewardView {
            points: r.points,
            growth: r.growth,
            milestones: r.milestones.clone(),
            coupons: c.coupons.iter().map(|c| c.coupon_id.to_string()).collect(),
            not_given: c.not_given.clone(),
            cost_points: r.cost_points,
        },
        next_milestone: next_milestone(settings, c.streak),
        makeups_left: c.makeups_left,
        balances: c.balances.into(),
    };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// When the member checked in (RFC 3339), if the request may arrive late: at most five
    /// minutes before now. Default now. The day is its local day in the programme's zone.
    #[schema(schema_with = loyalty_core::schema::instant_opt)]
    pub at: Option<String>,
}

/// Checks the member in for today (the programme's local day). The answer: the streak,
/// today's reward, the next milestone. A second check-in the same day, however many are sent
/// at once, is a 409 `already_checked_in` and rewards nothing; 409 `checkin_off` when the
/// programme has none; 422 naming `at`.
#[utoipa::path(post, path = "/v1/members/{id}/checkins", tag = "engagement", request_body = CheckinRequest, params(("id" = MemberId, Path)),
    responses((status = 201, body = CheckinView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn check_in(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<CheckinView>)> {
    let member = member(&id)?;
    // The body is optional: a check-in for now needs none.
    let r: CheckinRequest =
        if body.trim_ascii().is_empty() { CheckinRequest::default() } else { super::extract::parse_json(&body)? };
    let now = s.clock.now();
    let at = r.at.as_deref().map(|raw| loyalty_core::instant::parse_instant("at", raw)).transpose()?;
    let at = checkin::checkin_instant(at, now)?;
    let o = s.writer.submit(Command::Checkin { member: member.clone(), at }).await?;
    reply(&s, &member, o)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeupRequest {
    /// The missed day to make up (`YYYY-MM-DD`, a local day within the programme's window).
    #[schema(schema_with = loyalty_core::schema::date)]
    pub day: String,
    /// A make-up card to use up instead of the points price: the member's coupon of one of
    /// `[checkin.makeup].cards`, usable now.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::id_field_opt)]
    pub card: Option<String>,
}

/// Makes up a missed day (补签) within the programme's window, at its points price or with a
/// make-up card, at most `[checkin.makeup].per_month` a month: it earns the day's reward and
/// mends the streak, paying any milestone the joined streak reaches. 409 `already_checked_in`,
/// `makeup_limit_reached`, `makeup_off`, `insufficient_points`, `card_not_usable`; 404 for a
/// card the member does not hold; 422 naming `day` or `card`.
#[utoipa::path(post, path = "/v1/members/{id}/checkins/makeups", tag = "engagement", request_body = MakeupRequest, params(("id" = MemberId, Path)),
    responses((status = 201, body = CheckinView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn make_up(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<MakeupRequest>,
) -> ApiResult<(StatusCode, axum::Json<CheckinView>)> {
    let member = member(&id)?;
    let day = crate::insight::date("day", &r.day)?;
    let card = r.card.as_deref().map(|c| path_id("card", c, loyalty_core::ids::CouponId::parse)).transpose()?;
    let o = s.writer.submit(Command::Makeup { member: member.clone(), day, card }).await?;
    reply(&s, &member, o)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CalendarParams {
    /// The month, `YYYY-MM`; default the current one (programme time zone).
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}$")]
    pub month: Option<String>,
}

/// A month of the member's check-ins.
#[derive(Serialize, ToSchema)]
pub struct CalendarView {
    pub member_id: String,
    pub month: String,
    /// Today, in the programme's zone, and whether the member checked in on it.
    pub today: String,
    pub checked_in_today: bool,
    /// The running streak (today's, or yesterday's until today is checked in).
    pub streak: i64,
    pub next_milestone: Option<NextMilestoneView>,
    pub makeups_left: i64,
    /// The days of the month checked in, by day.
    pub days: Vec<CheckinDayView>,
}

fn month(raw: &str) -> ApiResult<Date> {
    let bad = || ApiError::invalid("month", format!("{raw:?} is not a month like 2026-12"));
    let (y, m) = raw.split_once('-').ok_or_else(bad)?;
    let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if y.to_string().len() != 4 || m.to_string().len() > 2 || raw.len() != 7 || !(1970..2200).contains(&y) {
        return Err(bad());
    }
    Date::new(y, m, 1).map_err(|_| bad())
}

/// The month's calendar, the streak and the make-ups left.
#[utoipa::path(get, path = "/v1/members/{id}/checkins", tag = "engagement", params(("id" = MemberId, Path), CalendarParams),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn calendar(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<CalendarParams>,
) -> ApiResult<axum::Json<CalendarView>> {
    let member = member(&id)?;
    let now = s.clock.now();
    if s.writer.cache.member(s.store.as_ref(), &member, now).await?.is_none() {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    }
    let settings = &s.program.file.checkin;
    let today = local_day(&s.program, now);
    let first = match p.month.as_deref() {
        Some(raw) => month(raw)?,
        None => today.first_of_month(),
    };
    let next = first.last_of_month().tomorrow().map_err(|_| ApiError::invalid("month", "past the last month"))?;
    let shown = s.store.checkin_days(&member, first, next).await?;
    // The streak and the monthly make-ups read the recent days, whatever month is shown.
    let from = loyalty_core::engagement::Calendar::load_from(settings, today);
    let tomorrow = today.tomorrow().map_err(|_| ApiError::invalid("month", "past the last day"))?;
    let recent = s.store.checkin_days(&member, from, tomorrow).await?;
    let cal = loyalty_core::engagement::Calendar::new(member.clone(), from, recent);
    let streak = cal.current_streak(today);
    Ok(axum::Json(CalendarView {
        member_id: member.to_string(),
        month: format!("{:04}-{:02}", first.year(), first.month()),
        today: today.to_string(),
        checked_in_today: cal.days.contains_key(&today),
        streak,
        next_milestone: next_milestone(settings, streak),
        makeups_left: cal.makeups_left(settings, today),
        days: shown.iter().map(|d| day_view(d, &s.program.tz)).collect(),
    }))
}
