//! RFC 9457 problem details: every error a client sees, with a stable `code`.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loyalty_core::DomainError;
use loyalty_engine::WriteError;
use serde::Serialize;
use utoipa::ToSchema;

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` style, under our docs).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine code: `validation_failed`, `insufficient_points`, `order_conflict`, …
    pub code: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What differs from the stored resource, for conflicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// For `coupon_limit_reached`: the per-member limit and its period (`lifetime`, `day`,
    /// `week`, `month`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// For `coupon_not_applicable`: why, as `checkout/evaluate` says it (`below_threshold`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// For `birthday_locked`: when the birthday may change again (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_change_at: Option<String>,
}

/// The error type of every handler.
#[derive(Debug, Clone)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem {
            kind: format!("https://loyalty.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            field: None,
            differences: Vec::new(),
            available: None,
            limit: None,
            period: None,
            why_not: None,
            next_change_at: None,
        }))
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }
    pub fn with_code(mut self, code: &str) -> Self {
        self.0.code = code.to_owned();
        self.0.kind = format!("https://loyalty.dev/problems/{code}");
        self
    }
    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", detail).field(field)
    }
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail).field(field)
    }
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", detail)
    }
    /// The database refuses writes. No retry advice: none succeeds until an operator acts.
    pub fn read_only(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read_only",
            format!("{detail}; the database must be made writable before any write can succeed"),
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        if let Some(p) = crate::coupons::problem(&e).or_else(|| crate::rewards::problem(&e)) {
            return p;
        }
        let detail = e.to_string();
        let code = e.code();
        match e {
            DomainError::Invalid { field, .. } => Self::new(StatusCode::BAD_REQUEST, code, detail).field(field),
            DomainError::Unprocessable { field, .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).field(field)
            }
            DomainError::MemberNotFound(_) | DomainError::OrderNotFound(_) | DomainError::HoldNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, code, detail)
            }
            DomainError::InsufficientPoints { available, .. } => {
                let mut p = Self::new(StatusCode::CONFLICT, code, detail);
                p.0.available = Some(available);
                p
            }
            DomainError::OrderConflict { differences, .. }
            | DomainError::RefundConflict { differences, .. }
            | DomainError::Conflict { differences, .. } => {
                let mut p = Self::new(StatusCode::CONFLICT, code, detail);
                p.0.differences = differences;
                p
            }
            DomainError::MemberInactive { .. } | DomainError::MemberErased { .. } | DomainError::HoldState { .. } => {
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            DomainError::Membership { code: "membership_not_found", .. } => {
                Self::new(StatusCode::NOT_FOUND, code, detail)
            }
            DomainError::Membership { .. } => Self::new(StatusCode::CONFLICT, code, detail),
            DomainError::Checkin { .. } => Self::new(StatusCode::CONFLICT, code, detail),
            DomainError::BirthdayLocked { next_change_at, .. } => {
                let mut p = Self::new(StatusCode::CONFLICT, code, detail).field("birthday");
                p.0.next_change_at = Some(next_change_at);
                p
            }
            // Mapped by `coupons::problem` and `rewards::problem` above.
            DomainError::TemplateNotFound(_)
            | DomainError::CouponNotFound(_)
            | DomainError::CouponCodeNotFound(_)
            | DomainError::CouponCodeUsed(_)
            | DomainError::CouponCodeTaken(_)
            | DomainError::CouponOutOfStock { .. }
            | DomainError::CouponLimitReached { .. }
            | DomainError::CouponNotEligible { .. }
            | DomainError::CouponUsed { .. }
            | DomainError::CouponNotApplicable { .. }
            | DomainError::RewardNotFound(_)
            | DomainError::RewardOutOfStock { .. }
            | DomainError::RewardLimitReached { .. }
            | DomainError::RewardNotEligible { .. }
            | DomainError::RedemptionNotFound(_)
            | DomainError::RedemptionState { .. }
            | DomainError::LotteryNotFound(_)
            | DomainError::LotteryNotOpen { .. }
            | DomainError::DrawLimitReached { .. } => {
                unreachable!("coupon, mall and lottery problems are mapped first")
            }
        }
    }
}

impl From<loyalty_engine::definitions::DefineError> for ApiError {
    fn from(e: loyalty_engine::definitions::DefineError) -> Self {
        match e {
            loyalty_engine::definitions::DefineError::Domain(d) => d.into(),
            loyalty_engine::definitions::DefineError::Store(s) => s.into(),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Domain(d) => d.into(),
            WriteError::Store(s) => Self::unavailable(format!("{s}; retry with the same Idempotency-Key")),
            e @ WriteError::ReadOnly(_) => Self::read_only(e),
            e @ WriteError::Internal { .. } => Self::internal(e.to_string()),
            WriteError::Stopped => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "writer_stopped",
                "the writer stopped and this process makes no more writes; it exits to be restarted: retry with the \
                 same Idempotency-Key once it is back",
            ),
        }
    }
}

impl From<loyalty_store::StoreError> for ApiError {
    fn from(e: loyalty_store::StoreError) -> Self {
        tracing::error!(error = %e, "storage error on a read");
        if e.is_read_only() {
            return Self::read_only(e);
        }
        Self::unavailable(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self.0).expect("problems serialise");
        (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Makes every error response a problem: the ones our handlers and layers build already are;
/// this turns the others (axum's 405 with its empty body, an extractor's plain-text rejection)
/// into one with a code of its status, keeping their headers (a 405's `Allow`).
pub async fn problem_bodies(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_problem = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json");
    // The console's and the member centre's pages refuse with a page a person reads.
    let is_page = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let problem = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("");
            let allowed = allow.split(',').map(str::trim).collect::<Vec<_>>().join(", ");
            ApiError::new(status, "method_not_allowed", format!("{method} is not allowed here; allowed: {allowed}"))
        }
        StatusCode::NOT_FOUND => ApiError::not_found("not_found", "no such route; see /docs"),
        _ => {
            let reason = status.canonical_reason().unwrap_or("error");
            let code = reason.to_lowercase().replace([' ', '-'], "_");
            ApiError::new(status, &code, if text.is_empty() { reason.to_owned() } else { text })
        }
    };
    let mut out = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}
