//! The OpenAPI schemas of payload fields a type alone does not say.

use crate::schema::one_of;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// `v`: always 1 in this release.
pub fn v1() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([1]))
        .description(Some("The payload's version"))
        .into()
}

pub fn points_status() -> Schema {
    one_of(["pending", "active", "expired", "none"])
}

pub fn member_status() -> Schema {
    one_of(crate::ledger::MemberStatus::ALL.iter().map(|s| s.as_str()))
}

pub fn tier_cause() -> Schema {
    one_of(["growth", "assigned", "assignment_ended"])
}

pub fn referral_role() -> Schema {
    one_of(["referrer", "invitee"])
}

/// An event type's name.
pub fn event_type() -> Schema {
    one_of(super::EventType::ALL.iter().map(|t| t.name()))
}
