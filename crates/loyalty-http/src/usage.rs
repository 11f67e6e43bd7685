//! Benefit usage and cost for operations: how often each benefit was used, by how many
//! members, and what it gave away, per tier, over a time range.

use super::extract::Query;
use super::problem::{ApiError, ApiResult, Problem};
use super::views::rfc3339;
use super::AppState;
use axum::extract::State;
use jiff::Timestamp;
use loyalty_core::order::parse_instant;
use loyalty_core::usage;
use loyalty_store::{UsageQuery, UsageRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Start of the range, inclusive (RFC 3339); default the start of this month in the
    /// programme's time zone.
    #[param(schema_with = loyalty_core::schema::instant)]
    pub from: Option<String>,
    /// End of the range, exclusive (RFC 3339); default now.
    #[param(schema_with = loyalty_core::schema::instant)]
    pub to: Option<String>,
    /// Only this tier's uses (a tier code of the programme).
    pub tier: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TierUsage {
    pub tier: String,
    /// Orders that used the benefit (claims, for `free_sample`).
    pub uses: i64,
    pub members: i64,
    /// Discount given or shipping waived (minor units); for multipliers the value of the
    /// extra points at the redemption rate.
    pub value_minor: i64,
    /// Points earned above the base rate (multipliers only).
    pub extra_points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BenefitUsageView {
    /// e.g. `member_discount`, `category_discount:beauty`, `member_day_discount`,
    /// `free_shipping`, `tier_multiplier:gold`, `member_day`, `birthday_month`, `free_sample`.
    pub benefit: String,
    /// The benefit code without its qualifier (`category_discount`, `tier_multiplier`, …).
    pub kind: String,
    /// `order` or `claim` (free samples).
    pub counted_in: String,
    pub uses: i64,
    /// Distinct members across the tiers below.
    pub members: i64,
    pub value_minor: i64,
    pub extra_points: i64,
    pub by_tier: Vec<TierUsage>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageTotals {
    /// Discounts given plus shipping waived (minor units); multipliers are in `extra_points`.
    pub given_minor: i64,
    pub extra_points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BenefitUsageReport {
    pub from: String,
    pub to: String,
    pub tier: Option<String>,
    pub benefits: Vec<BenefitUsageView>,
    pub totals: UsageTotals,
}

fn params(s: &AppState, p: &UsageParams, now: Timestamp) -> ApiResult<UsageQuery> {
    let to = p.to.as_deref().map(|r| parse_instant("to", r)).transpose()?.unwrap_or(now);
    let from = match p.from.as_deref() {
        Some(r) => parse_instant("from", r)?,
        None => loyalty_core::tiers::period_bounds(&s.program, loyalty_core::tiers::CapPeriod::Month, now).0,
    };
    if from >= to {
        return Err(ApiError::invalid("to", format!("the range is empty: to ({to}) must be after from ({from})")));
    }
    if let Some(t) = &p.tier {
        if loyalty_core::tiers::level_index(&s.program, t).is_none() {
            let codes: Vec<&str> = s.program.file.tiers.levels.iter().map(|l| l.code.as_str()).collect();
            return Err(ApiError::invalid(
                "tier",
                format!("{t:?} is not a tier of the programme: {}", codes.join(", ")),
            ));
        }
    }
    Ok(UsageQuery { from, to, tier: p.tier.clone() })
}

fn view(total: &UsageRow, per_tier: &[UsageRow]) -> BenefitUsageView {
    let kind = usage::kind(&total.benefit).to_owned();
    BenefitUsageView {
        benefit: total.benefit.clone(),
        counted_in: if kind == usage::FREE_SAMPLE { "claim" } else { "order" }.into(),
        kind,
        uses: total.uses,
        members: total.members,
        value_minor: total.value_minor,
        extra_points: total.extra_points,
        by_tier: per_tier
            .iter()
            .filter(|r| r.benefit == total.benefit)
            .map(|r| TierUsage {
                tier: r.tier.clone().unwrap_or_default(),
                uses: r.uses,
                members: r.members,
                value_minor: r.value_minor,
                extra_points: r.extra_points,
            })
            .collect(),
    }
}

/// How much each benefit was used and what it cost, per tier, between `from` and `to`
/// (by when the order was paid or the sample claimed). Values are what each order recorded
/// when it was placed; later refunds do not reduce them.
#[utoipa::path(get, path = "/v1/benefits/usage", tag = "tiers", params(UsageParams),
    responses((status = 200, body = BenefitUsageReport), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn benefit_usage(
    State(s): State<AppState>,
    Query(p): Query<UsageParams>,
) -> ApiResult<axum::Json<BenefitUsageReport>> {
    let q = params(&s, &p, s.clock.now())?;
    let mut report = s.store.benefit_usage(&q).await?;
    // Benefits in byte order (the same on both databases whatever PostgreSQL's collation),
    // and each benefit's tiers in the ladder's order.
    report.by_benefit.sort_by(|a, b| a.benefit.cmp(&b.benefit));
    let rung = |t: &Option<String>| {
        t.as_deref().and_then(|t| loyalty_core::tiers::level_index(&s.program, t)).unwrap_or(usize::MAX)
    };
    report.by_tier.sort_by(|a, b| (&a.benefit, rung(&a.tier), &a.tier).cmp(&(&b.benefit, rung(&b.tier), &b.tier)));
    let benefits: Vec<BenefitUsageView> = report.by_benefit.iter().map(|t| view(t, &report.by_tier)).collect();
    let money = benefits.iter().filter(|b| usage::gives_money(&b.kind));
    let totals = UsageTotals {
        given_minor: money.map(|b| b.value_minor).sum(),
        extra_points: benefits.iter().map(|b| b.extra_points).sum(),
    };
    let tz = &s.program.tz;
    Ok(axum::Json(BenefitUsageReport {
        from: rfc3339(q.from, tz),
        to: rfc3339(q.to, tz),
        tier: q.tier,
        benefits,
        totals,
    }))
}
