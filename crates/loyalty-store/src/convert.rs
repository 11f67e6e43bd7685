//! Conversions between stored primitives and domain values, shared by both backends.

use crate::{Result, StoreError};
use jiff::Timestamp;
use loyalty_core::ledger::*;
use loyalty_core::{Money, Points};

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
/// Largest number of ids one load statement is given.
pub const IN_CHUNK: usize = 5_000;

pub fn buckets(pending: i64, active: i64, held: i64, debt: i64) -> Buckets {
    Buckets {
        pending: Points::new(pending),
        active: Points::new(active),
        held: Points::new(held),
        debt: Points::new(debt),
    }
}

/// A stored row's cells by column name, whether the row came from the driver one by one or
/// packed with others into one JSON text (see [`Packed`]). The row decoders take this, so
/// both ways share one decoder per table.
pub trait Cells {
    fn i64(&self, col: &str) -> Result<i64>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;

    /// A points column: the columns are `BIGINT`, the domain's type is `Points`.
    fn points(&self, col: &str) -> Result<Points> {
        self.i64(col).map(Points::new)
    }

    /// A money column, in minor units.
    fn money(&self, col: &str) -> Result<Money> {
        self.i64(col).map(Money::new)
    }
}

/// Rows that one statement answered as a single JSON text, an array of arrays
/// (`json_group_array(json_array(…))` on SQLite, `json_agg(json_build_array(…))` on
/// PostgreSQL), with the column names in the order of each inner array.
///
/// Why: sqlx's SQLite driver copies every cell of every row on its worker thread and hands
/// the rows over one by one, several microseconds a row; loads of thousands of members were
/// mostly that. One text per statement, parsed here, costs a fraction of it on either
/// backend. JSON keeps integers exact (64-bit, both databases print them in full) and
/// escapes text.
pub struct Packed {
    table: &'static str,
    names: Vec<&'static str>,
    rows: Vec<Vec<serde_json::Value>>,
}

impl Packed {
    /// Column names as a `"a, b, c"` list (the `*_COLS` constants).
    pub fn names(cols: &'static str) -> Vec<&'static str> {
        cols.split(", ").map(str::trim).collect()
    }

    /// Parses one statement's packed text (`None` when it matched no row).
    pub fn parse(names: Vec<&'static str>, table: &'static str, packed: Option<&str>) -> Result<Self> {
        let rows: Vec<Vec<serde_json::Value>> = match packed {
            None => Vec::new(),
            Some(text) => json(table, text)?,
        };
        if let Some(bad) = rows.iter().find(|r| r.len() != names.len()) {
            return Err(corrupt(table, format!("packed row of {} cells for {} columns", bad.len(), names.len())));
        }
        Ok(Packed { table, names, rows })
    }

    pub fn rows(&self) -> impl Iterator<Item = PackedRow<'_>> {
        self.rows.iter().map(|vals| PackedRow {
            table: self.table,
            names: &self.names,
            vals,
            hint: std::cell::Cell::new(0),
        })
    }

    pub fn extend(&mut self, other: Packed) {
        assert_eq!(self.names, other.names, "packed rows of one shape");
        self.rows.extend(other.rows);
    }
}

/// One row of a [`Packed`] answer.
pub struct PackedRow<'a> {
    table: &'static str,
    names: &'a [&'static str],
    vals: &'a [serde_json::Value],
    /// Where the last column was found: decoders read columns in about the stored order,
    /// so the search for the next one starts there.
    hint: std::cell::Cell<usize>,
}

impl PackedRow<'_> {
    fn cell(&self, col: &str) -> Result<&serde_json::Value> {
        let n = self.names.len();
        let start = self.hint.get();
        for k in 0..n {
            let i = (start + k) % n;
            if self.names[i] == col {
                self.hint.set((i + 1) % n);
                return Ok(&self.vals[i]);
            }
        }
        Err(corrupt(self.table, format!("no column {col}")))
    }

    fn int(&self, col: &str, v: &serde_json::Value) -> Result<i64> {
        v.as_i64().ok_or_else(|| corrupt(self.table, format!("column {col}: {v} is not a 64-bit integer")))
    }

    fn string(&self, col: &str, v: &serde_json::Value) -> Result<String> {
        v.as_str().map(str::to_owned).ok_or_else(|| corrupt(self.table, format!("column {col}: {v} is not text")))
    }
}

impl Cells for PackedRow<'_> {
    fn i64(&self, col: &str) -> Result<i64> {
        self.int(col, self.cell(col)?)
    }

    fn opt_i64(&self, col: &str) -> Result<Option<i64>> {
        match self.cell(col)? {
            serde_json::Value::Null => Ok(None),
            v => self.int(col, v).map(Some),
        }
    }

    fn text(&self, col: &str) -> Result<String> {
        self.string(col, self.cell(col)?)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self.cell(col)? {
            serde_json::Value::Null => Ok(None),
            v => self.string(col, v).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_keep_integers_text_and_nulls_exact() {
        let text = r#"[["m1", 9223372036854775807, null, "a \"quoted\" 会员"], ["m2", -9223372036854775808, 7, null]]"#;
        let p = Packed::parse(Packed::names("id, big, maybe, note"), "t", Some(text)).unwrap();
        let rows: Vec<_> = p.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text("id").unwrap(), "m1");
        assert_eq!(rows[0].i64("big").unwrap(), i64::MAX);
        assert_eq!(rows[0].opt_i64("maybe").unwrap(), None);
        assert_eq!(rows[0].opt_text("note").unwrap().as_deref(), Some("a \"quoted\" 会员"));
        // Out of order reads still find their column.
        assert_eq!(rows[1].opt_text("note").unwrap(), None);
        assert_eq!(rows[1].i64("big").unwrap(), i64::MIN);
        assert_eq!(rows[1].opt_i64("maybe").unwrap(), Some(7));
        assert!(rows[1].i64("missing").is_err());
        assert!(rows[1].i64("id").is_err(), "text is not an integer");
        assert!(rows[1].text("big").is_err(), "an integer is not text");
    }

    #[test]
    fn packed_rejects_rows_of_the_wrong_shape() {
        assert!(Packed::parse(Packed::names("a, b"), "t", Some("[[1]]")).is_err());
        assert!(Packed::parse(Packed::names("a"), "t", Some("not json")).is_err());
        assert_eq!(Packed::parse(Packed::names("a"), "t", None).unwrap().rows().count(), 0);
    }
}
