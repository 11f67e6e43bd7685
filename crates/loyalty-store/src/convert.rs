//! Conversions between stored primitives and domain values, shared by both backends.

use crate::{Result, StoreError};
use jiff::Timestamp;
use loyalty_core::ledger::*;

/// Instants are stored as microseconds since the Unix epoch.
pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn ts(table: &'static str, v: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(v).map_err(|e| StoreError::Corrupt { table, reason: e.to_string() })
}

pub fn opt_ts(table: &'static str, v: Option<i64>) -> Result<Option<Timestamp>> {
    v.map(|v| ts(table, v)).transpose()
}

pub fn parse_enum<T>(table: &'static str, raw: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(raw).ok_or_else(|| StoreError::Corrupt { table, reason: format!("unknown value {raw:?}") })
}

pub fn json<T: serde::de::DeserializeOwned>(table: &'static str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt { table, reason: e.to_string() })
}

pub fn corrupt(table: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, reason: reason.into() }
}

/// Largest number of bound values one statement may carry on either backend
/// (SQLite allows 32,766; PostgreSQL 65,535).
pub const MAX_BINDS: usize = 30_000;
/// Largest number of ids in one `IN (…)` list.
pub const IN_CHUNK: usize = 5_000;

pub fn buckets(pending: i64, active: i64, held: i64, debt: i64) -> Buckets {
    Buckets { pending, active, held, debt }
}
