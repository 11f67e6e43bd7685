//! The paid-membership report's range read on a SQLite file: on one of member insight's
//! read-only connections, in one read transaction, every source stepped in key order and taken
//! where SQLite holds it (see `SqliteStore::member_activity_direct` for why not the pool).

use super::{InsightReaders, SqliteStore};
use crate::analytics::{out_of_order, MonthlySpend, MonthlyUnpacker};
use crate::convert::{corrupt, micros};
use crate::membership_facts::{merge_facts, report_term, FactsQuery, MemberFacts, ReportTerm, TERM_SELECT};
use rusqlite::types::ValueRef;

impl SqliteStore {
    /// `None` for a store in memory, which only the pool can see.
    pub(super) async fn member_facts_direct(&self, q: &FactsQuery) -> Option<crate::Result<Vec<MemberFacts>>> {
        let readers = self.readers.clone()?;
        let q = q.clone();
        let read = tokio::task::spawn_blocking(move || read_facts(&readers, &q)).await;
        Some(read.unwrap_or_else(|e| Err(corrupt("members", format!("reading a range failed: {e}")))))
    }
}

fn read_facts(readers: &InsightReaders, q: &FactsQuery) -> crate::Result<Vec<MemberFacts>> {
    let mut conn = readers.take()?;
    let facts = read_range(&mut conn, q)?;
    readers.put(conn);
    Ok(facts)
}

/// `member_id > ?1 [AND member_id <= ?2]` and the number of the next parameter.
fn bounds(q: &FactsQuery) -> (&'static str, usize) {
    if q.through.is_some() {
        ("member_id > ?1 AND member_id <= ?2", 3)
    } else {
        ("member_id > ?1", 2)
    }
}

fn text<'a>(v: ValueRef<'a>, table: &'static str) -> crate::Result<&'a str> {
    v.as_str().map_err(|e| corrupt(table, format!("a text column is not text: {e}")))
}

fn opt_text(v: ValueRef<'_>, table: &'static str) -> crate::Result<Option<String>> {
    match v {
        ValueRef::Null => Ok(None),
        v => text(v, table).map(|s| Some(s.to_owned())),
    }
}

/// Steps `sql` over the range with `extra` parameters after the bounds, handing each row on.
fn each_row(
    tx: &rusqlite::Transaction<'_>,
    q: &FactsQuery,
    sql: &str,
    extra: &[i64],
    mut each: impl FnMut(&rusqlite::Row<'_>) -> crate::Result<()>,
) -> crate::Result<()> {
    let mut stmt = tx.prepare_cached(sql)?;
    let mut params: Vec<rusqlite::types::Value> = vec![q.after.clone().unwrap_or_default().into()];
    if let Some(t) = &q.through {
        params.push(t.clone().into());
    }
    params.extend(extra.iter().map(|&v| rusqlite::types::Value::from(v)));
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(())
}

/// Appends `(id, value)` to `out`, which the `ORDER BY member_id` of the statement keeps sorted.
fn push_sorted<T>(out: &mut Vec<(String, T)>, id: &str, value: T, table: &'static str) -> crate::Result<()> {
    if out.last().is_some_and(|(last, _)| last.as_str() > id) {
        return Err(corrupt(table, "rows came out of key order under ORDER BY"));
    }
    out.push((id.to_owned(), value));
    Ok(())
}

fn read_range(conn: &mut rusqlite::Connection, q: &FactsQuery) -> crate::Result<Vec<MemberFacts>> {
    let (range, n) = bounds(q);
    // One transaction, so that every source sees the same snapshot.
    let tx = conn.transaction()?;
    let mut members: Vec<(String, String)> = Vec::new();
    let sql = format!(
        "SELECT member_id, COALESCE(tier, '') FROM members WHERE {range} AND registered_at <= ?{n} ORDER BY member_id"
    );
    each_row(&tx, q, &sql, &[micros(q.at)], |r| {
        let tier = text(r.get_ref(1)?, "members")?.to_owned();
        push_sorted(&mut members, text(r.get_ref(0)?, "members")?, tier, "members")
    })?;
    let mut segments: Vec<(String, String)> = Vec::new();
    if let Some((slot, run)) = q.run {
        let sql = format!(
            "SELECT member_id, value_segment FROM member_insight WHERE {range} AND slot = ?{n} AND run_id = ?{} \
             ORDER BY member_id",
            n + 1
        );
        each_row(&tx, q, &sql, &[slot, run], |r| {
            let segment = text(r.get_ref(1)?, "member_insight")?.to_owned();
            push_sorted(&mut segments, text(r.get_ref(0)?, "member_insight")?, segment, "member_insight")
        })?;
    }
    let mut terms: Vec<(String, ReportTerm)> = Vec::new();
    let sql = format!("SELECT {TERM_SELECT} FROM membership_terms WHERE {range} ORDER BY member_id, starts_at");
    each_row(&tx, q, &sql, &[], |r| {
        let t = "membership_terms";
        let term = report_term(
            (text(r.get_ref(1)?, t)?.to_owned(), text(r.get_ref(9)?, t)?.to_owned(), opt_text(r.get_ref(10)?, t)?),
            [r.get(2)?, r.get(3)?, r.get(4)?, r.get(8)?],
            (r.get(5)?, r.get(6)?, r.get(7)?),
        )?;
        push_sorted(&mut terms, text(r.get_ref(0)?, t)?, term, t)
    })?;
    let spend = read_spend(&tx, q, range)?;
    Ok(merge_facts(members, segments, terms, spend))
}

/// The range's activity logs in key order, folded by month as they are stepped.
fn read_spend(
    tx: &rusqlite::Transaction<'_>,
    q: &FactsQuery,
    range: &str,
) -> crate::Result<Vec<(String, MonthlySpend)>> {
    let mut unpacker = MonthlyUnpacker::new(&q.grid, micros(q.at));
    if q.grid.months() == 0 {
        // No month to sum into: the logs need not be read at all.
        return Ok(Vec::new());
    }
    let sql = format!("SELECT log FROM member_activity WHERE {range} ORDER BY member_id, span");
    each_row(tx, q, &sql, &[], |r| {
        let log =
            r.get_ref(0)?.as_bytes().map_err(|e| corrupt("member_activity", format!("a log is not text: {e}")))?;
        if unpacker.feed(log)? {
            Ok(())
        } else {
            Err(out_of_order())
        }
    })?;
    Ok(unpacker.finish())
}
