//! The write transaction's entry (`Writes`) and the ledger reads (`LedgerReads`) on this
//! backend.

use super::dialect::*;
use super::load::*;
use super::rows::*;
use super::tiers::*;
use crate::convert::*;
use crate::*;
use loyalty_core::ids::*;
use loyalty_core::ledger::*;
use loyalty_core::order::{Order, Refund};
use loyalty_core::tiers::{Action, ActionKind, TierEvent};
use loyalty_core::verify::MemberHistory;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

#[async_trait::async_trait]
impl Writes for StoreImpl {
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(self.begin_tx().await?))
    }

    async fn sync_log(&self) -> Result<()> {
        super::sync_log_file(self.log_file()).await
    }

    async fn begin_snapshot(&self) -> Result<Option<Box<dyn Tx>>> {
        Ok(self.begin_snapshot_tx().await?.map(|t| Box::new(t) as Box<dyn Tx>))
    }
}

#[async_trait::async_trait]
impl LedgerReads for StoreImpl {
    async fn member(&self, id: &MemberId, growth_since: jiff::Timestamp) -> Result<Option<MemberRecord>> {
        let mut conn = self.pool.acquire().await?;
        let mut found = load_members_on(&mut conn, &[id.as_str().to_owned()], "", micros(growth_since)).await?;
        Ok(found.remove(id))
    }

    async fn tier_events(&self, id: &MemberId, before: Option<i64>, limit: i64) -> Result<Vec<TierEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {TIER_EVENT_COLS} FROM tier_events WHERE member_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(id.as_str().to_owned())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tier_event_row).collect()
    }

    async fn actions(&self, id: &MemberId, kind: ActionKind, since: jiff::Timestamp) -> Result<Vec<Action>> {
        let mut conn = self.pool.acquire().await?;
        select_actions(&mut conn, id, kind, micros(since), None).await
    }

    async fn ledger(&self, q: &LedgerQuery) -> Result<Vec<Entry>> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {ENTRY_COLS} FROM entries WHERE member_id = "));
        qb.push_bind(q.member_id.clone());
        if let Some(b) = q.before_seq {
            qb.push(" AND seq < ").push_bind(b);
        }
        if !q.kinds.is_empty() {
            qb.push(" AND kind IN (");
            let mut sep = qb.separated(", ");
            for k in &q.kinds {
                sep.push_bind(k.as_str());
            }
            qb.push(")");
        }
        if let Some(f) = q.from {
            qb.push(" AND at >= ").push_bind(micros(f));
        }
        if let Some(t) = q.to {
            qb.push(" AND at < ").push_bind(micros(t));
        }
        qb.push(" ORDER BY seq DESC LIMIT ").push_bind(q.limit);
        qb.build().fetch_all(&self.pool).await?.iter().map(|r| entry_row(&One(r))).collect()
    }

    async fn lots(&self, id: &MemberId, before: Option<i64>, limit: i64) -> Result<Vec<Lot>> {
        let rows = sqlx::query(&format!(
            "SELECT {LOT_COLS} FROM lots WHERE member_id = $1 AND lot_no < $2 ORDER BY lot_no DESC LIMIT $3"
        ))
        .bind(id.as_str().to_owned())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| lot_row(&One(r)).map(|(_, l)| l)).collect()
    }

    async fn order(&self, id: &OrderId) -> Result<Option<(Order, Vec<Refund>)>> {
        let mut tx = self.begin_tx().await?;
        let mut found = tx.load_orders(std::slice::from_ref(id)).await?;
        let Some(order) = found.remove(id) else { return Ok(None) };
        let refunds = tx.load_refunds(&[(order.order.member_id.clone(), id.clone())]).await?;
        Ok(Some((order, refunds)))
    }

    async fn due_members(&self, now: jiff::Timestamp, limit: i64) -> Result<Vec<MemberId>> {
        let n = micros(now);
        // Each source is read through its own partial index, up to `limit` each;
        // the caller advances what it gets, which takes it out of the due sets. The
        // ids come back packed in one text (see `Packed`).
        let sql = format!(
            "SELECT CAST({}member_id)) AS TEXT) AS packed FROM (\
             SELECT member_id FROM (SELECT member_id FROM lots WHERE status = 'pending' AND activates_at <= $1 LIMIT $2) a \
             UNION SELECT member_id FROM (SELECT member_id FROM lots WHERE status = 'active' AND remaining > 0 AND expires_at <= $1 LIMIT $2) b \
             UNION SELECT member_id FROM (SELECT member_id FROM holds WHERE status = 'open' AND expires_at <= $1 LIMIT $2) c \
             UNION SELECT member_id FROM (SELECT member_id FROM members WHERE tier_review_at <= $1 LIMIT $2) d) AS due",
            PACK
        );
        let packed: Option<String> =
            sqlx::query(&sql).bind(n).bind(limit).fetch_one(&self.pool).await?.try_get("packed")?;
        let mut ids = Packed::parse(Packed::names("member_id"), "members", packed.as_deref())?
            .rows()
            .map(|r| MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt("members", e.0)))
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn member_ids(&self, after: Option<&str>, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT member_id FROM members WHERE member_id > $1 ORDER BY member_id LIMIT $2")
            .bind(after.unwrap_or("").to_owned())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("member_id")?)).collect()
    }

    async fn histories(&self, ids: &[String]) -> Result<Vec<MemberHistory>> {
        let mut by_id: HashMap<String, MemberHistory> = HashMap::new();
        let mut conn = self.pool.acquire().await?;
        let conn = &mut *conn;
        let head = format!("SELECT {MEMBER_COLS} FROM members WHERE member_id");
        for r in select_in(&mut *conn, MEMBER_COLS, "members", &head, ids, "", &[]).await?.rows() {
            let m = member_row(&r)?;
            let id = m.account.member_id().as_str().to_owned();
            let history = MemberHistory {
                member_id: id.clone(),
                stored: m.account.buckets(),
                entries: vec![],
                lots: vec![],
                open_holds: vec![],
                growth: vec![],
                growth_total: m.account.growth_total(),
            };
            by_id.insert(id, history);
        }
        let head = format!("SELECT {ENTRY_COLS} FROM entries WHERE member_id");
        for r in select_in(&mut *conn, ENTRY_COLS, "entries", &head, ids, " ORDER BY member_id, seq", &[]).await?.rows()
        {
            let mid = r.text("member_id")?;
            let e = entry_row(&r)?;
            by_id
                .get_mut(&mid)
                .ok_or_else(|| corrupt("entries", format!("entry of unknown member {mid}")))?
                .entries
                .push(e);
        }
        let head = format!("SELECT {LOT_COLS} FROM lots WHERE member_id");
        for r in select_in(&mut *conn, LOT_COLS, "lots", &head, ids, "", &[]).await?.rows() {
            let (mid, lot) = lot_row(&r)?;
            by_id.get_mut(&mid).ok_or_else(|| corrupt("lots", format!("lot of unknown member {mid}")))?.lots.push(lot);
        }
        let head = format!("SELECT {HOLD_COLS} FROM holds WHERE member_id");
        for r in select_in(&mut *conn, HOLD_COLS, "holds", &head, ids, " AND status = 'open'", &[]).await?.rows() {
            let (mid, hold) = hold_row(&r)?;
            by_id
                .get_mut(&mid)
                .ok_or_else(|| corrupt("holds", format!("hold of unknown member {mid}")))?
                .open_holds
                .push(hold);
        }
        let head = format!("SELECT {GROWTH_COLS} FROM growth_entries WHERE member_id");
        for r in select_in(&mut *conn, GROWTH_COLS, "growth_entries", &head, ids, " ORDER BY member_id, seq", &[])
            .await?
            .rows()
        {
            let (mid, g) = growth_row(&r)?;
            by_id
                .get_mut(&mid)
                .ok_or_else(|| corrupt("growth_entries", format!("growth of unknown member {mid}")))?
                .growth
                .push(g);
        }
        let mut out: Vec<MemberHistory> = by_id.into_values().collect();
        for h in &mut out {
            h.entries.sort_by_key(|e| e.seq);
            h.lots.sort_by_key(|l| l.lot_no);
            h.growth.sort_by_key(|g| g.seq);
        }
        out.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Ok(out)
    }

    async fn totals(&self) -> Result<StoreTotals> {
        let count = |t: &'static str| format!("SELECT COUNT(*) AS n FROM {t}");
        let members = sqlx::query(&count("members")).fetch_one(&self.pool).await?.try_get("n")?;
        let orders = sqlx::query(&count("orders")).fetch_one(&self.pool).await?.try_get("n")?;
        let entries = sqlx::query(&count("entries")).fetch_one(&self.pool).await?.try_get("n")?;
        Ok(StoreTotals { members, orders, entries })
    }
}

/// `verify`'s check of a table that records points it paid (`table.points` per member) against
/// the ledger's earn entries of `source_kind`: the members whose two sums differ, at most `$1`.
/// One grouping over both row sets, not a join of two grouped subqueries: SQLite joins those
/// without an index, which took 51 s at 30,000 members.
pub(super) fn earned_against_ledger(table: &str, source_kind: &str) -> String {
    format!(
        "SELECT member_id, CAST(SUM(recorded) AS BIGINT) AS recorded, CAST(SUM(ledger) AS BIGINT) AS ledger FROM \
         (SELECT member_id, points AS recorded, 0 AS ledger FROM {table} \
          UNION ALL SELECT member_id, 0, points FROM entries WHERE source_kind = '{source_kind}' AND kind = 'earn') both_sides \
         GROUP BY member_id HAVING SUM(recorded) <> SUM(ledger) ORDER BY member_id LIMIT $1"
    )
}
