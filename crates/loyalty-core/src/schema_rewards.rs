//! OpenAPI schemas of the mall's and the lottery's values (see `schema`), from the parsers'
//! own constants.

use crate::rewards::catalogue::MAX_QUANTITY;
use crate::rewards::lottery::{MAX_DRAWS_PER_DAY, MAX_PRIZES, MAX_WEIGHT};
use crate::rewards::redemption::MAX_ADDRESS_TEXT;
use crate::schema::{closed, id_field, int, nullable, one_of, text, text_of};
use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Schema};
use utoipa::openapi::RefOr;

/// What a reward gives (`rewards::RewardItem`): one object per `kind`.
pub fn reward_item() -> Schema {
    OneOfBuilder::new()
        .item(closed(&[("kind", one_of(["coupon"])), ("template", id_field())], &["kind", "template"]))
        .item(closed(&[("kind", one_of(["goods"])), ("sku", text())], &["kind", "sku"]))
        .item(closed(
            &[("kind", one_of(["voucher"])), ("value_minor", int(1, crate::order::MAX_AMOUNT_MINOR).into())],
            &["kind", "value_minor"],
        ))
        .into()
}

/// A reward's price in points per unit.
pub fn price_points() -> Schema {
    int(1, crate::limits::MAX_POINTS / MAX_QUANTITY).into()
}

/// A reward's cash per unit.
pub fn price_cash() -> Schema {
    int(0, crate::order::MAX_AMOUNT_MINOR / MAX_QUANTITY).into()
}

/// Units in one redemption.
pub fn redemption_quantity() -> Schema {
    int(1, MAX_QUANTITY).into()
}

pub fn address_text() -> Schema {
    text_of(1, MAX_ADDRESS_TEXT).into()
}

pub fn address_text_opt() -> Schema {
    nullable(address_text())
}

pub fn prize_weight() -> Schema {
    int(1, MAX_WEIGHT).into()
}

/// What a prize gives (`rewards::PrizeItem`).
pub fn prize_item() -> Schema {
    OneOfBuilder::new()
        .item(closed(
            &[("kind", one_of(["points"])), ("points", int(1, crate::limits::MAX_POINTS).into())],
            &["kind", "points"],
        ))
        .item(closed(&[("kind", one_of(["coupon"])), ("template", id_field())], &["kind", "template"]))
        .item(closed(&[("kind", one_of(["goods"])), ("reward", id_field())], &["kind", "reward"]))
        .item(closed(&[("kind", one_of(["nothing"]))], &["kind"]))
        .into()
}

/// 1 to `MAX_PRIZES` prizes (each as `PrizeInput`'s schema).
pub fn prizes() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("PrizeInput")))
        .min_items(Some(1))
        .max_items(Some(MAX_PRIZES))
        .into()
}

pub fn points_or_zero() -> Schema {
    int(0, crate::limits::MAX_POINTS).into()
}

pub fn draws_per_day() -> Schema {
    int(0, MAX_DRAWS_PER_DAY).into()
}

pub fn draws_per_day_opt() -> Schema {
    nullable(int(1, MAX_DRAWS_PER_DAY).into())
}
