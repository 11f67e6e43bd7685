//! The mall's figures for one catalogue item (analysts).

use super::extract::path_id;
use super::problem::{ApiResult, Problem};
use super::AppState;
use axum::extract::{Path, State};
use loyalty_core::ids::RewardId;
use loyalty_core::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct RewardReportView {
    pub reward: String,
    pub redemptions: i64,
    /// Units redeemed and not cancelled, and units cancelled.
    pub units: i64,
    pub cancelled_units: i64,
    /// Points consumed, net of cancellations, and the cash collected with them.
    pub points_consumed: i64,
    pub cash_minor: i64,
    /// Units left; absent when unlimited.
    pub stock_left: Option<i64>,
    /// Redemptions by status.
    pub by_status: Vec<StatusCount>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusCount {
    pub status: String,
    pub redemptions: i64,
}

#[utoipa::path(get, path = "/v1/rewards/{id}/report", tag = "mall", params(("id" = loyalty_core::ids::RewardId, Path)),
    responses((status = 200, body = RewardReportView), (status = 404, body = Problem)))]
pub async fn report(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<RewardReportView>> {
    let id = path_id("reward_id", &id, RewardId::parse)?;
    if s.store.reward(&id).await?.is_none() {
        return Err(DomainError::RewardNotFound(id.to_string()).into());
    }
    let r = s.store.reward_report(&id).await?;
    Ok(axum::Json(RewardReportView {
        reward: id.to_string(),
        redemptions: r.redemptions,
        units: r.units,
        cancelled_units: r.cancelled_units,
        points_consumed: r.points,
        cash_minor: r.cash_minor,
        stock_left: r.stock_left,
        by_status: r
            .by_status
            .into_iter()
            .map(|(st, n)| StatusCount { status: st.as_str().to_owned(), redemptions: n })
            .collect(),
    }))
}
