//! Referral (邀请有礼): a member's code, its invitees with their states and rewards, and the
//! operations report. Thin handlers: the rules are the core's (`engagement::referral`),
//! decided by the writer; invitations arrive as `referred_by` on `PUT /v1/members/{id}`.

use super::extract::{path_id, Query};
use super::members::unexpected;
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use axum::extract::{Path, State};
use loyalty_core::calendar::rfc3339;
use loyalty_core::engagement::referral::{month_text, Given, Referral, State as RState};
use loyalty_core::ids::MemberId;
use loyalty_core::DomainError;
use loyalty_engine::{Command, Outcome, ReferralOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn member(raw: &str) -> ApiResult<MemberId> {
    path_id("member_id", raw, MemberId::parse)
}

/// What one side of a referral was given when it paid.
#[derive(Serialize, ToSchema)]
pub struct GivenView {
    pub points: i64,
    pub growth: i64,
    /// The coupon issued, if the programme gives one and it could be issued.
    pub coupon: Option<String>,
}

impl From<&Given> for GivenView {
    fn from(g: &Given) -> Self {
        Self { points: g.points, growth: g.growth, coupon: g.coupon.clone() }
    }
}

/// One referral, or one refused attempt.
#[derive(Serialize, ToSchema)]
pub struct ReferralView {
    pub referrer_id: String,
    pub invitee_id: String,
    /// The code the invitee registered with.
    pub code: String,
    /// `pending` (no order yet), `qualifying` (first order placed, paid at `due_at`),
    /// `rewarded`, `cancelled` (first order refunded in the window) or `refused`.
    pub state: String,
    /// Why it was refused or cancelled: `self_referral`, `same_phone`, `same_email`,
    /// `invitee_existed`, `loop`, `monthly_cap`, `first_order_refunded`.
    pub reason: Option<String>,
    pub created_at: String,
    pub first_order_id: Option<String>,
    pub ordered_at: Option<String>,
    /// When the return window of the first order ends and the referral pays.
    pub due_at: Option<String>,
    /// When it was paid (or refused for the monthly cap), and the month that counts.
    pub settled_at: Option<String>,
    pub month: Option<String>,
    pub referrer_reward: GivenView,
    pub invitee_reward: GivenView,
}

pub(crate) fn view(r: &Referral, tz: &jiff::tz::TimeZone) -> ReferralView {
    let at = |t: Option<jiff::Timestamp>| t.map(|t| rfc3339(t, tz));
    ReferralView {
        referrer_id: r.referrer_id.to_string(),
        invitee_id: r.invitee_id.to_string(),
        code: r.code.clone(),
        state: r.state.as_str().to_owned(),
        reason: r.reason.map(|x| x.as_str().to_owned()),
        created_at: rfc3339(r.created_at, tz),
        first_order_id: r.first_order_id.clone(),
        ordered_at: at(r.ordered_at),
        due_at: at(r.due_at),
        settled_at: at(r.settled_at),
        month: r.settled_month.map(month_text),
        referrer_reward: (&r.referrer_given).into(),
        invitee_reward: (&r.invitee_given).into(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReferralCodeView {
    pub member_id: String,
    /// 8 characters of Crockford's base32; any case is accepted back as `referred_by`.
    pub code: String,
}

/// The member's referral code (邀请码): the same on every call, given on the first.
#[utoipa::path(get, path = "/v1/members/{id}/referral", tag = "engagement", params(("id" = MemberId, Path)),
    responses((status = 200, body = ReferralCodeView), (status = 404, body = Problem)))]
pub async fn code(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<ReferralCodeView>> {
    let member = member(&id)?;
    if let Some(code) = s.store.referral_code(&member).await? {
        return Ok(axum::Json(ReferralCodeView { member_id: member.to_string(), code }));
    }
    match s.writer.submit(Command::ReferralCode { member: member.clone() }).await? {
        Outcome::Referral(ReferralOutcome::Code { code, .. }) => {
            Ok(axum::Json(ReferralCodeView { member_id: member.to_string(), code }))
        }
        other => Err(unexpected(other)),
    }
}

/// How many of a member's invitations are in each state.
#[derive(Serialize, ToSchema, Default)]
pub struct ReferralCounts {
    pub invited: i64,
    pub pending: i64,
    pub qualifying: i64,
    pub rewarded: i64,
    pub cancelled: i64,
    pub refused: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ReferralsView {
    pub member_id: String,
    pub code: Option<String>,
    pub counts: ReferralCounts,
    /// Points the member earned as referrer.
    pub points_earned: i64,
    /// Its invitees and refused attempts, newest first (at most 500).
    pub invitees: Vec<ReferralView>,
    /// The member's own referral as invitee, and attempts that named it.
    pub invited_by: Vec<ReferralView>,
}

/// The member's invitees: each one's state and rewards, and refused attempts with their reason.
#[utoipa::path(get, path = "/v1/members/{id}/referrals", tag = "engagement", params(("id" = MemberId, Path)),
    responses((status = 200, body = ReferralsView), (status = 404, body = Problem)))]
pub async fn list(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<ReferralsView>> {
    let member = member(&id)?;
    if s.writer.cache.member(s.store.as_ref(), &member, s.clock.now()).await?.is_none() {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    }
    let code = s.store.referral_code(&member).await?;
    let (mine, theirs) = s.store.member_referrals(&member).await?;
    let mut counts = ReferralCounts { invited: mine.len() as i64, ..Default::default() };
    for r in &mine {
        *match r.state {
            RState::Pending => &mut counts.pending,
            RState::Qualifying => &mut counts.qualifying,
            RState::Rewarded => &mut counts.rewarded,
            RState::Cancelled => &mut counts.cancelled,
            RState::Refused => &mut counts.refused,
        } += 1;
    }
    let tz = &s.program.tz;
    Ok(axum::Json(ReferralsView {
        member_id: member.to_string(),
        code,
        points_earned: mine.iter().map(|r| r.referrer_given.points).sum(),
        counts,
        invitees: mine.iter().map(|r| view(r, tz)).collect(),
        invited_by: theirs.iter().map(|r| view(r, tz)).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First local day, inclusive; default the first of this month (programme time zone).
    #[param(schema_with = loyalty_core::schema::date)]
    from: Option<String>,
    /// Last local day, inclusive; default today. At most 366 days after `from`.
    #[param(schema_with = loyalty_core::schema::date)]
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RefusedView {
    pub reason: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TopReferrerView {
    pub referrer_id: String,
    pub rewarded: i64,
    /// Points paid for its referrals, both sides.
    pub points: i64,
}

/// The referral programme over a range of local days.
#[derive(Serialize, ToSchema)]
pub struct ReferralReportView {
    pub from: String,
    pub to: String,
    /// Invitations made (refused attempts included).
    pub invitations: i64,
    /// Refused and cancelled attempts by reason (the monthly cap's counted when it was decided).
    pub refused: Vec<RefusedView>,
    /// Invitees whose first order was placed in the range.
    pub conversions: i64,
    /// Referrals paid in the range, and what they cost: points and growth to both sides, and
    /// coupons issued.
    pub rewarded: i64,
    pub cost_points: i64,
    pub cost_growth: i64,
    pub cost_coupons: i64,
    pub top_referrers: Vec<TopReferrerView>,
}

/// Invitations, refusals by reason, conversions, rewards and their cost, and the top referrers.
#[utoipa::path(get, path = "/v1/referrals/report", tag = "engagement", params(ReportParams),
    responses((status = 200, body = ReferralReportView), (status = 400, body = Problem)))]
pub async fn report(
    State(s): State<AppState>,
    Query(p): Query<ReportParams>,
) -> ApiResult<axum::Json<ReferralReportView>> {
    let today = loyalty_core::engagement::local_day(&s.program, s.clock.now());
    let to = p.to.as_deref().map(|raw| crate::insight::date("to", raw)).transpose()?.unwrap_or(today);
    let from =
        p.from.as_deref().map(|raw| crate::insight::date("from", raw)).transpose()?.unwrap_or(to.first_of_month());
    if from > to {
        return Err(ApiError::invalid("from", format!("{from} is after to ({to})")));
    }
    if (to - from).get_days() > 366 {
        return Err(ApiError::invalid("to", format!("{to} is more than 366 days after from ({from})")));
    }
    let start = |d: jiff::civil::Date, field: &str| {
        d.to_zoned(s.program.tz.clone()).map(|z| z.timestamp()).map_err(|e| ApiError::invalid(field, e.to_string()))
    };
    let end = to.tomorrow().map_err(|_| ApiError::invalid("to", "past the last day"))?;
    let r = s.store.referral_report(start(from, "from")?, start(end, "to")?).await?;
    Ok(axum::Json(ReferralReportView {
        from: from.to_string(),
        to: to.to_string(),
        invitations: r.invitations,
        refused: r.refused.into_iter().map(|(reason, count)| RefusedView { reason, count }).collect(),
        conversions: r.conversions,
        rewarded: r.rewarded,
        cost_points: r.cost_points,
        cost_growth: r.cost_growth,
        cost_coupons: r.cost_coupons,
        top_referrers: r
            .top_referrers
            .into_iter()
            .map(|(referrer_id, rewarded, points)| TopReferrerView { referrer_id, rewarded, points })
            .collect(),
    }))
}
