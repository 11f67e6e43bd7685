//! Coupon codes over HTTP: generating a batch of one-time codes for a template, exporting a
//! batch as CSV, and turning what a member typed (a public or one-time code) into the writer's
//! issue command.

use super::extract::{path_id, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use loyalty_core::coupons::code::{self, MAX_CODES_PER_BATCH};
use loyalty_core::coupons::Channel;
use loyalty_core::ids::{CouponId, MemberId, TemplateId};
use loyalty_core::DomainError;
use loyalty_engine::Command;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Codes written to the store per statement round, and per page of an export.
const CHUNK: usize = 10_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodesRequest {
    /// How many one-time codes to generate: 1 to 1,000,000.
    #[schema(schema_with = codes_count)]
    pub count: i64,
    /// The batch's name (letters, digits, `. _ : -`), to export it by; sent again, the batch is
    /// topped up to `count` rather than doubled.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub batch: String,
}

#[derive(Serialize, ToSchema)]
pub struct CodesView {
    pub template: String,
    pub batch: String,
    /// Codes the batch holds now.
    pub count: i64,
    /// Export: `GET` this path (CSV).
    pub export: String,
}

fn codes_count() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::int_range(1, MAX_CODES_PER_BATCH)
}

fn batch_id(raw: &str) -> ApiResult<String> {
    path_id("batch", raw, loyalty_core::ids::ClaimId::parse).map(|b| b.to_string())
}

/// Generates one-time codes for the template (which must have the `code` channel): 16
/// characters of Crockford base32 from 80 random bits each, unique in the store.
#[utoipa::path(post, path = "/v1/coupon-templates/{id}/codes", tag = "coupons", request_body = CodesRequest, params(("id" = loyalty_core::ids::TemplateId, Path)),
    responses((status = 201, body = CodesView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn generate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<CodesRequest>,
) -> ApiResult<(StatusCode, axum::Json<CodesView>)> {
    let id = path_id("template_id", &id, TemplateId::parse)?;
    loyalty_core::limits::check_range("count", r.count, 1, MAX_CODES_PER_BATCH)?;
    let batch = batch_id(&r.batch)?;
    let t =
        s.store.template(&id).await?.ok_or_else(|| ApiError::from(DomainError::TemplateNotFound(id.to_string())))?;
    if !t.terms.channels.contains(&Channel::Code) {
        return Err(ApiError::invalid("template_id", format!("template {id} does not have the code channel")));
    }
    let now = s.clock.now();
    let mut have = count_batch(&s, &id, &batch).await?;
    while have < r.count {
        // All that are missing at once (at most 1,000,000 codes, about 40 MB), in key order, so
        // that the insert walks the unique index on `code` once from one end to the other
        // instead of touching a random page for every code (or for every sorted chunk).
        let want = usize::try_from(r.count - have).unwrap_or(0);
        let mut codes: Vec<String> = (0..want).map(|_| code::one_time(rand::random())).collect();
        codes.sort_unstable();
        // A collision (one in 2^80 per pair) is skipped by the insert and made up next round.
        have += i64::try_from(s.store.insert_codes(&id, &batch, &codes, now).await?).unwrap_or(0);
    }
    let export = format!("/v1/coupon-templates/{id}/codes?batch={batch}");
    Ok((StatusCode::CREATED, axum::Json(CodesView { template: id.to_string(), batch, count: have, export })))
}

async fn count_batch(s: &AppState, id: &TemplateId, batch: &str) -> ApiResult<i64> {
    let (mut n, mut after) = (0i64, String::new());
    loop {
        let page = s.store.codes(id, batch, &after, CHUNK as i64).await?;
        n += page.len() as i64;
        match page.last() {
            Some(last) if page.len() == CHUNK => after.clone_from(&last.code),
            _ => return Ok(n),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    pub batch: String,
}

/// A batch of codes as CSV (`code,member_id,coupon_id,redeemed_at`), streamed page by page.
#[utoipa::path(get, path = "/v1/coupon-templates/{id}/codes", tag = "coupons", params(("id" = loyalty_core::ids::TemplateId, Path),
        ("batch" = loyalty_core::ids::ClaimId, Query, description = "The batch's name, as it was generated")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn export(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<ExportParams>,
) -> ApiResult<Response> {
    let id = path_id("template_id", &id, TemplateId::parse)?;
    let batch = batch_id(&p.batch)?;
    if s.store.template(&id).await?.is_none() {
        return Err(DomainError::TemplateNotFound(id.to_string()).into());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        let tz = s.program.tz.clone();
        let mut page = String::from("code,member_id,coupon_id,redeemed_at\n");
        let mut after = String::new();
        loop {
            let rows = match s.store.codes(&id, &batch, &after, CHUNK as i64).await {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            for c in &rows {
                let (m, cp, at) = match &c.redeemed {
                    Some((m, cp, at)) => (m.to_string(), cp.to_string(), loyalty_core::calendar::rfc3339(*at, &tz)),
                    None => Default::default(),
                };
                page.push_str(&format!("{},{m},{cp},{at}\n", c.code));
            }
            if tx.send(Ok(std::mem::take(&mut page))).await.is_err() {
                return;
            }
            match rows.last() {
                Some(last) if rows.len() == CHUNK => after.clone_from(&last.code),
                _ => return,
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

/// The writer's command for a coupon a member obtains: from a template (`template`), or by
/// typing a code (`code`: the public code of a template, or a one-time code).
pub(crate) async fn issue_command(
    s: &AppState,
    member: MemberId,
    (template, code, source): (Option<&str>, Option<&str>, Option<Channel>),
    coupon: CouponId,
) -> ApiResult<Command> {
    match (template, code) {
        (Some(t), None) => {
            let template = Some(path_id("template", t, TemplateId::parse)?);
            let channel = source.ok_or_else(|| {
                ApiError::invalid("source", "a coupon from a template needs its source: claim or issue")
            })?;
            Ok(Command::IssueCoupon { member, template, coupon, channel, code: None })
        }
        (None, Some(raw)) => {
            if source.is_some_and(|c| c != Channel::Code) {
                return Err(ApiError::invalid("source", "a coupon obtained by code has source `code`"));
            }
            let typed = code::normalize("code", raw)?;
            let public = s.store.template_by_code(&typed).await?;
            let (template, code) = match public {
                Some(t) => (Some(t.id), None),
                None => (None, Some(typed)),
            };
            Ok(Command::IssueCoupon { member, template, coupon, channel: Channel::Code, code })
        }
        _ => Err(ApiError::invalid("template", "send exactly one of template or code")),
    }
}
