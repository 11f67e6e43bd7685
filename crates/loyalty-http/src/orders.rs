//! Orders and refunds.

use super::extract::{path_id, Json};
use super::members::unexpected;
use super::problem::{ApiError, ApiResult, Problem};
use super::views::OrderView;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use loyalty_core::ids::OrderId;
use loyalty_core::order::{OrderInput, RefundInput};
use loyalty_engine::{Command, Outcome};

/// Records a paid order and credits its points (pending until the return window closes).
/// Sending the same order again returns the same result (200) and credits nothing.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = OrderInput,
    responses((status = 201, body = OrderView), (status = 200, body = OrderView, description = "Already recorded with this body"),
        (status = 404, body = Problem, description = "member_not_found"), (status = 409, body = Problem, description = "order_conflict"), (status = 422, body = Problem)))]
pub async fn post_order(
    State(s): State<AppState>,
    Json(input): Json<OrderInput>,
) -> ApiResult<(StatusCode, axum::Json<OrderView>)> {
    let order = input.validate(&s.program, s.clock.now())?;
    match s.writer.submit(Command::PlaceOrder { order, create_member: false }).await? {
        Outcome::Order { order, replayed } => {
            metrics::counter!("loyalty_orders_total", "replayed" => replayed.to_string()).increment(1);
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            let refunds = if replayed {
                s.store.order(&order.order.id).await?.map(|(_, r)| r).unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok((status, axum::Json(OrderView::new(&order, &refunds, &s.program))))
        }
        other => Err(unexpected(other)),
    }
}

/// An order with its earned, clawed-back and refunded totals and its refunds.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", params(("id" = loyalty_core::ids::OrderId, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
pub async fn get_order(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<OrderView>> {
    let id = path_id("order_id", &id, OrderId::parse)?;
    let (order, refunds) = s
        .store
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("order {id} not found")))?;
    Ok(axum::Json(OrderView::new(&order, &refunds, &s.program)))
}

/// Refunds part or all of an order by amount or by lines; claws back points in proportion.
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders", request_body = RefundInput, params(("id" = loyalty_core::ids::OrderId, Path)),
    responses((status = 201, body = OrderView), (status = 200, body = OrderView, description = "Already recorded"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "refund_conflict"), (status = 422, body = Problem, description = "more than was paid")))]
pub async fn post_refund(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<RefundInput>,
) -> ApiResult<(StatusCode, axum::Json<OrderView>)> {
    let order_id = path_id("order_id", &id, OrderId::parse)?;
    path_id("id", &input.id, loyalty_core::ids::RefundId::parse)?;
    check_refund_numbers(&input)?;
    match s.writer.submit(Command::Refund { order_id: order_id.clone(), input }).await? {
        Outcome::Refund { order, replayed } => {
            let refunds = s.store.order(&order_id).await?.map(|(_, r)| r).unwrap_or_default();
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            Ok((status, axum::Json(OrderView::new(&order, &refunds, &s.program))))
        }
        other => Err(unexpected(other)),
    }
}

/// A refund's numbers, bounded before the command is queued: an amount of 1 to
/// `MAX_AMOUNT_MINOR`, at most `MAX_LINES` lines of 1 to `MAX_QUANTITY` units. What the order
/// allows (what is left to refund) is the rules' to judge.
fn check_refund_numbers(input: &RefundInput) -> Result<(), ApiError> {
    use loyalty_core::limits::check_range;
    use loyalty_core::order::{MAX_AMOUNT_MINOR, MAX_LINES, MAX_QUANTITY};
    if let Some(a) = input.amount_minor {
        check_range("amount_minor", a, 1, MAX_AMOUNT_MINOR)?;
    }
    let lines = input.lines.as_deref().unwrap_or_default();
    if lines.len() > MAX_LINES {
        return Err(ApiError::invalid("lines", format!("must hold 1 to {MAX_LINES} lines")));
    }
    for (i, l) in lines.iter().enumerate() {
        check_range(&format!("lines[{i}].quantity"), l.quantity, 1, MAX_QUANTITY)?;
    }
    Ok(())
}
