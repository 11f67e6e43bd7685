//! What a write transaction loads: members (in full or in part), their lots and holds, in a
//! handful of statements whose text never depends on the batch.

use super::dialect::*;
use super::rows::*;
use super::tiers::*;
use crate::convert::*;
use crate::*;
use loyalty_core::ids::*;
use sqlx::Row;
use std::collections::HashMap;

/// `SELECT cols … WHERE col` in `ids`[ tail]`, each statement answering its rows packed
/// into one JSON text (see [`Packed`]). `head` selects exactly the columns named in
/// `cols`, in that order; `tail` may filter with `$2`, `$3`, … (bound from `args`),
/// order, group or lock. The ids travel as one JSON array bound to `$1`, so the
/// statement's text is the same whatever the ids and the driver prepares it once: an
/// IN list of binds was a new statement for every batch size, prepared again and again.
/// Chunks bound how much one statement answers.
pub(super) async fn select_in(
    conn: &mut <Db as sqlx::Database>::Connection,
    cols: &'static str,
    table: &'static str,
    head: &str,
    ids: &[String],
    tail: &str,
    args: &[i64],
) -> Result<Packed> {
    let names = Packed::names(cols);
    let mut out = Packed::parse(names.clone(), table, None)?;
    let sql = format!("SELECT CAST({}{cols})) AS TEXT) AS packed FROM ({head} {}{tail}) AS p", PACK, IDS);
    // Each chunk's answer is parsed while the database answers the next one.
    let mut answered: Option<Option<String>> = None;
    for chunk in ids.chunks(IN_CHUNK) {
        let list = serde_json::to_string(chunk).expect("a list of strings serialises");
        let mut q = sqlx::query(&sql).bind(list);
        for a in args {
            q = q.bind(*a);
        }
        let previous = answered.take();
        let (row, parsed) = tokio::join!(q.fetch_one(&mut *conn), async {
            previous.map(|packed| Packed::parse(names.clone(), table, packed.as_deref())).transpose()
        });
        if let Some(parsed) = parsed? {
            out.extend(parsed);
        }
        answered = Some(row?.try_get("packed")?);
    }
    if let Some(packed) = answered {
        out.extend(Packed::parse(names.clone(), table, packed.as_deref())?);
    }
    Ok(out)
}

/// Member rows, keyed by id.
pub(super) async fn member_rows(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[String],
    lock: &str,
) -> Result<HashMap<String, MemberRecord>> {
    let mut out: HashMap<String, MemberRecord> = HashMap::new();
    let head = format!("SELECT {MEMBER_COLS} FROM members WHERE member_id");
    for r in select_in(&mut *conn, MEMBER_COLS, "members", &head, ids, lock, &[]).await?.rows() {
        let m = member_row(&r)?;
        out.insert(m.account.member_id().as_str().to_owned(), m);
    }
    Ok(out)
}

/// Lots selected by `tail` into the loaded members.
pub(super) async fn lots_into(
    conn: &mut <Db as sqlx::Database>::Connection,
    out: &mut HashMap<String, MemberRecord>,
    ids: &[String],
    tail: &str,
    args: &[i64],
) -> Result<()> {
    let head = format!("SELECT {LOT_COLS} FROM lots WHERE member_id");
    for r in select_in(&mut *conn, LOT_COLS, "lots", &head, ids, tail, args).await?.rows() {
        let (mid, lot) = lot_row(&r)?;
        if let Some(m) = out.get_mut(mid.as_str()) {
            m.account.load_lot(lot);
        }
    }
    Ok(())
}

/// Open holds into the loaded members, then the lots they took from (which also puts
/// every loaded member's lots in `lot_no` order: see `load_held_lots`).
pub(super) async fn holds_into(
    conn: &mut <Db as sqlx::Database>::Connection,
    out: &mut HashMap<String, MemberRecord>,
    ids: &[String],
) -> Result<()> {
    let head = format!("SELECT {HOLD_COLS} FROM holds WHERE member_id");
    for r in select_in(&mut *conn, HOLD_COLS, "holds", &head, ids, " AND status = 'open'", &[]).await?.rows() {
        let (mid, hold) = hold_row(&r)?;
        if let Some(m) = out.get_mut(mid.as_str()) {
            m.account.load_hold(hold);
        }
    }
    for id in ids {
        if let Some(m) = out.get_mut(id.as_str()) {
            load_held_lots(&mut *conn, m).await?;
        }
    }
    Ok(())
}

/// Every open lot: pending, or active with points left.
pub(super) const OPEN_LOTS: &str = " AND (status = 'pending' OR (status = 'active' AND remaining > 0))";

/// Loads members for a write: `full` with every open lot, `partial` with pending lots
/// and active lots due by `due_by` only (each read through its partial index).
pub(super) async fn load_members_for_write(
    conn: &mut <Db as sqlx::Database>::Connection,
    full: &[String],
    partial: &[String],
    lock: &str,
    due_by: i64,
) -> Result<HashMap<String, MemberRecord>> {
    let mut ids: Vec<String> = full.iter().chain(partial).cloned().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), full.len() + partial.len(), "a member is loaded in full or in part, not both");
    let mut out = member_rows(&mut *conn, &ids, lock).await?;
    lots_into(&mut *conn, &mut out, full, OPEN_LOTS, &[]).await?;
    lots_into(&mut *conn, &mut out, partial, " AND status = 'pending'", &[]).await?;
    lots_into(
        &mut *conn,
        &mut out,
        partial,
        " AND status = 'active' AND remaining > 0 AND expires_at <= $2",
        &[due_by],
    )
    .await?;
    holds_into(&mut *conn, &mut out, &ids).await?;
    for id in partial {
        if let Some(m) = out.get_mut(id.as_str()) {
            m.account.set_partially_loaded();
        }
    }
    Ok(out)
}

/// Loads members in full with growth entries after `growth_since` (reads).
pub(super) async fn load_members_on(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[String],
    lock: &str,
    growth_since: i64,
) -> Result<HashMap<MemberId, MemberRecord>> {
    let mut out = member_rows(&mut *conn, ids, lock).await?;
    lots_into(&mut *conn, &mut out, ids, OPEN_LOTS, &[]).await?;
    holds_into(&mut *conn, &mut out, ids).await?;
    load_growth(&mut *conn, &mut out, ids, growth_since).await?;
    Ok(out.into_values().map(|m| (m.account.member_id().clone(), m)).collect())
}

/// Lots that open holds took points from but that hold no points now; then the member's lots
/// in `lot_no` order, however many statements loaded them.
pub(super) async fn load_held_lots(conn: &mut <Db as sqlx::Database>::Connection, m: &mut MemberRecord) -> Result<()> {
    let acc = &mut m.account;
    let missing = acc.held_lots_missing();
    let mut lots = Vec::with_capacity(missing.len());
    for no in missing {
        let row = sqlx::query(&format!("SELECT {LOT_COLS} FROM lots WHERE member_id = $1 AND lot_no = $2"))
            .bind(acc.member_id().as_str().to_owned())
            .bind(no)
            .fetch_one(&mut *conn)
            .await?;
        lots.push(lot_row(&One(&row))?.1);
    }
    acc.load_missing_lots(lots);
    Ok(())
}

/// What the latest complete insight run says of each of `members` (see
/// [`Tx::load_insight_facts`]). One statement per `IN_CHUNK` members: the run is found in
/// the same statement, and a run without rows for the chunk still answers its id (the left
/// join's one row with no member).
pub(super) async fn insight_facts_for_write(
    conn: &mut <Db as sqlx::Database>::Connection,
    members: &[MemberId],
) -> Result<HashMap<MemberId, loyalty_core::coupons::InsightFacts>> {
    use loyalty_core::coupons::InsightFacts;
    let sql = format!(
        "SELECT r.run_id, i.member_id, i.value_segment, i.score_segment, i.stage \
         FROM (SELECT run_id, slot FROM insight_runs WHERE status = 'complete' ORDER BY run_id DESC LIMIT 1) AS r \
         LEFT JOIN member_insight i ON i.slot = r.slot AND i.run_id = r.run_id AND i.member_id {IDS}"
    );
    let mut out = HashMap::with_capacity(members.len());
    for chunk in members.chunks(IN_CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(MemberId::as_str).collect();
        let list = serde_json::to_string(&ids).expect("a list of strings serialises");
        let rows = sqlx::query(&sql).bind(list).fetch_all(&mut *conn).await?;
        let mut run = None;
        for r in rows {
            let run_id: i64 = r.try_get("run_id")?;
            run = Some(run_id);
            let Some(id) = r.try_get::<Option<String>, _>("member_id")? else { continue };
            let id = MemberId::parse(&id).map_err(|e| corrupt("member_insight", e.0))?;
            let facts = InsightFacts::Member {
                run_id,
                value_segment: r.try_get("value_segment")?,
                score_segment: r.try_get("score_segment")?,
                stage: r.try_get("stage")?,
            };
            out.insert(id, facts);
        }
        for id in chunk {
            let none = run.map_or(InsightFacts::NoRun, |run_id| InsightFacts::NotInRun { run_id });
            out.entry(id.clone()).or_insert(none);
        }
    }
    Ok(out)
}
