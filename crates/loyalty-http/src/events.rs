//! The event log, read forward: `GET /v1/events?after=CURSOR&types=a,b&limit=N`, in commit
//! order, for pull consumers and replays (docs/EVENTS.md).

use super::extract::Query;
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use axum::extract::State;
use loyalty_core::events::{EventType, Payload};
use loyalty_store::StoredEvent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most events one page returns, and the default.
pub const MAX_LIMIT: i64 = 1_000;
pub const DEFAULT_LIMIT: i64 = 100;
/// Most positions one page looks at when filtering by type: a page of a rare type ends there
/// (with fewer events, or none) and its `next_cursor` moves past what it looked at.
pub const MAX_SCAN: i64 = 10_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// A `next_cursor` (or an event's `cursor`) this API returned: the events after it.
    /// Omitted: from the first event.
    #[param(schema_with = cursor_schema)]
    after: Option<String>,
    /// Comma-separated event types (`order.placed,points.expiring`); omitted: every type.
    #[param(schema_with = types_schema)]
    types: Option<String>,
    /// 1 to 1000, default 100.
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
}

/// Positions are non-negative 64-bit numbers, so a cursor's first digit is 0–7 (Schemathesis
/// sent `c54df668a2208ed5`, which no position can be).
fn cursor_schema() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some("^[0-7][0-9a-f]{15}$"))
        .into()
}

fn types_schema() -> utoipa::openapi::schema::Schema {
    let names: Vec<String> = EventType::ALL.iter().map(|t| t.name().replace('.', "\\.")).collect();
    loyalty_core::schema::list_of(names.iter().map(String::as_str))
}

fn limit_schema() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::int_range(1, MAX_LIMIT)
}

/// An event as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// `evt_` and 32 hex digits, derived from what caused the event: the same cause always
    /// has the same id, so a consumer that sees an id twice (a replay) may drop the second.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = loyalty_core::events::schema::event_type)]
    pub kind: String,
    pub member_id: String,
    /// RFC 3339, UTC.
    #[schema(schema_with = loyalty_core::schema::instant)]
    pub occurred_at: String,
    /// The event's place in the log: pass as `after` to read what follows it.
    #[schema(schema_with = cursor_schema)]
    pub cursor: String,
    /// The type's payload (docs/EVENTS.md), `v` its version.
    pub payload: Payload,
}

/// A page of the log.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventView>,
    /// Pass as `after` for the next page: after the last event returned, or, when the page
    /// found fewer than `limit`, after every position it looked at. Always present: at the end
    /// of the log it is where new events will start.
    #[schema(schema_with = cursor_schema)]
    pub next_cursor: String,
    /// More of the log lies after `next_cursor` now (read again at once rather than wait).
    pub has_more: bool,
}

/// A position as a cursor: 16 hex digits, an opaque string to consumers.
pub fn cursor(seq: i64) -> String {
    format!("{seq:016x}")
}

fn parse_cursor(raw: &str) -> ApiResult<i64> {
    let bad = || ApiError::bad_request("after", format!("after {raw:?} is not a cursor this API returned"));
    if raw.len() != 16 || !raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad());
    }
    i64::from_str_radix(raw, 16).map_err(|_| bad())
}

fn parse_types(raw: Option<&str>) -> ApiResult<Vec<EventType>> {
    let mut out = Vec::new();
    for name in raw.into_iter().flat_map(|r| r.split(',')).filter(|n| !n.is_empty()) {
        let t = EventType::from_name(name).ok_or_else(|| {
            ApiError::bad_request("types", format!("types: {name:?} is not an event type (see docs/EVENTS.md)"))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn view(e: &StoredEvent) -> EventView {
    EventView {
        id: e.event.id(),
        kind: e.event.kind.name().to_owned(),
        member_id: e.event.member_id.as_str().to_owned(),
        occurred_at: e.event.occurred_at.to_string(),
        cursor: cursor(e.seq),
        payload: e.event.payload.clone(),
    }
}

/// The event log after a cursor, in commit order: every event committed before another has
/// a smaller cursor, on SQLite and PostgreSQL alike, so reading from the last `next_cursor`
/// never misses one. With `types`, a page looks at no more than 10,000 positions and may come
/// back short, even empty; its `next_cursor` still moves on.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventParams),
    responses((status = 200, body = EventPage), (status = 400, body = Problem)))]
pub async fn list(State(s): State<AppState>, Query(p): Query<EventParams>) -> ApiResult<axum::Json<EventPage>> {
    let after = p.after.as_deref().map(parse_cursor).transpose()?.unwrap_or(0);
    let kinds = parse_types(p.types.as_deref())?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request("limit", format!("limit {limit} must be between 1 and {MAX_LIMIT}")));
    }
    let scan = if kinds.is_empty() { limit } else { MAX_SCAN };
    let page = s.store.events_after(after, &kinds, limit, scan).await?;
    Ok(axum::Json(EventPage {
        items: page.events.iter().map(view).collect(),
        next_cursor: cursor(page.next),
        has_more: page.next < page.head,
    }))
}
