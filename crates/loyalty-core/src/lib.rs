//! The pure domain core of Loyalty: identifiers, the programme, the points ledger rules,
//! orders and refunds, and the checks `loyalty verify` runs. No I/O, no clock reads: every
//! rule takes the current instant as an argument, so the server, the importer and a
//! what-if simulator run the very same code.

pub mod access;
pub mod account;
pub mod amount;
pub mod calendar;
pub mod checkout;
pub mod config_file;
pub mod coupons;
pub mod definitions;
pub mod engagement;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod instant;
pub mod ledger;
pub mod limits;
pub mod member;
pub mod membership;
pub mod order;
pub mod program;
pub mod rewards;
#[cfg(feature = "openapi")]
pub mod schema;
#[cfg(feature = "openapi")]
mod schema_rewards;
mod spend;
pub mod text;
pub mod tiers;
pub mod usage;
pub mod verify;

pub use account::Account;
pub use amount::{Money, Points};
pub use error::DomainError;
pub use program::Program;
