//! The event log on this backend: what a batch writes (its events, last, and the expiry
//! notices it gave), the write transaction's load of those notices, and the reads of `Events`.

use super::dialect::*;
use super::load::select_in;
use super::write::insert_rows;
use crate::checkins::{day_number, from_day_number};
use crate::convert::*;
use crate::events::*;
use crate::*;
use jiff::civil::Date;
use loyalty_core::events::{Event, EventType};
use loyalty_core::ids::MemberId;
use sqlx::{QueryBuilder, Row};

type Conn = <Db as sqlx::Database>::Connection;

const COLS: &str = "seq, kind, member_id, occurred_at, payload";

/// The last day each of `ids` was told of expiring points (members never told have none).
pub(super) async fn load_notices(conn: &mut Conn, ids: &[String]) -> Result<HashMap<MemberId, Date>> {
    let cols = "member_id, day";
    let head = format!("SELECT {cols} FROM expiry_notices WHERE member_id");
    let mut out = HashMap::new();
    for r in select_in(&mut *conn, cols, "expiry_notices", &head, ids, "", &[]).await?.rows() {
        let m = MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt("expiry_notices", e.0))?;
        let n = r.i64("day")?;
        out.insert(m, from_day_number(n).ok_or_else(|| corrupt("expiry_notices", format!("day {n}")))?);
    }
    Ok(out)
}

/// Writes the batch's expiry notices, then its events, numbered from the log's counter. Runs
/// last in the batch's write, so that the counter's row lock, which orders the transactions
/// that write events by their commits, is held only from here to the commit.
pub(super) async fn write_events(conn: &mut Conn, c: &Changes, recorded_at: i64) -> Result<()> {
    insert_rows(
        conn,
        "expiry_notices",
        "member_id, day",
        " ON CONFLICT (member_id) DO UPDATE SET day = excluded.day",
        &c.expiry_notices,
        |s, (m, day)| {
            s.push_bind(m.as_str().to_owned());
            s.push_bind(day_number(*day));
        },
    )
    .await?;
    if c.events.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(c.events.len()).expect("a batch's events fit in i64");
    let first: i64 = sqlx::query_scalar(
        "UPDATE event_log SET next_seq = next_seq + $1, started_at = COALESCE(started_at, $2) WHERE id = 1 \
         RETURNING next_seq - $1",
    )
    .bind(n)
    .bind(recorded_at)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<(i64, &Event)> = (first..).zip(&c.events).collect();
    insert_rows(conn, "events", COLS, "", &rows, |s, (seq, e)| {
        s.push_bind(*seq);
        s.push_bind(e.kind.code());
        s.push_bind(e.member_id.as_str().to_owned());
        s.push_bind(micros(e.occurred_at));
        s.push_bind(e.payload.stored());
    })
    .await
}

/// Reads one stored row; a row that is not an event of its type is corrupt.
fn stored_event(r: &<Db as sqlx::Database>::Row) -> Result<StoredEvent> {
    let seq: i64 = r.try_get("seq")?;
    let at = ts("events", r.try_get("occurred_at")?)?;
    let member: String = r.try_get("member_id")?;
    let payload: String = r.try_get("payload")?;
    let event = Event::from_stored(r.try_get("kind")?, &member, at, &payload)
        .map_err(|e| corrupt("events", format!("event {seq}: {e}")))?;
    Ok(StoredEvent { seq, event })
}

/// The position of the last event written.
async fn head(pool: &sqlx::Pool<Db>) -> Result<i64> {
    let next: i64 = sqlx::query_scalar("SELECT next_seq FROM event_log WHERE id = 1").fetch_one(pool).await?;
    Ok(next - 1)
}

/// A `GROUP BY` over a table's rows and the events of one type naming them (`items`: the
/// payload's elements that hold the table's `keys`), answering the keys that break the rule:
/// at most one event a row, none for a row that is not there, and exactly one for a row
/// recorded since the log began (`$1`; rows from before it may have none). One grouping over
/// both row sets, not a join of two: the log has no index by member, and a join would be a
/// nested loop on SQLite.
fn one_event_each(table: &str, keys: &[&str], items: &[usize]) -> String {
    let cols = keys.join(", ");
    let from_events: Vec<String> =
        keys.iter().zip(items).map(|(k, i)| format!("{} AS {k}", json_item("payload", *i))).collect();
    format!(
        "SELECT member_id, {cols}, CAST(SUM(r) AS BIGINT) AS rows_, CAST(SUM(e) AS BIGINT) AS events_ FROM \
         (SELECT member_id, {cols}, 1 AS r, 0 AS e, created_at AS c FROM {table} \
          UNION ALL SELECT member_id, {}, 0, 1, NULL FROM events WHERE kind = $2) both_sides \
         GROUP BY member_id, {cols} HAVING SUM(r) <> 1 OR SUM(e) > 1 OR (SUM(e) = 0 AND MAX(c) >= $1) \
         ORDER BY member_id, {cols} LIMIT $3",
        from_events.join(", ")
    )
}

#[async_trait::async_trait]
impl Events for StoreImpl {
    async fn events_after(&self, after: i64, kinds: &[EventType], limit: i64, scan: i64) -> Result<EventPage> {
        assert!(limit > 0 && scan >= limit, "a page reads at least one event and scans at least its limit");
        // The head first, then the rows: every event at or below the head was committed
        // before the head was (migration 0018), so the rows' read, which starts later, sees
        // all of them. The other way round a page could end past rows it did not see.
        let head = head(&self.pool).await?;
        let upper = after.saturating_add(scan).min(head);
        if upper <= after {
            return Ok(EventPage { events: Vec::new(), next: after, head });
        }
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!("SELECT {COLS} FROM events WHERE seq > "));
        qb.push_bind(after).push(" AND seq <= ").push_bind(upper);
        if !kinds.is_empty() {
            qb.push(" AND kind IN (");
            let mut sep = qb.separated(", ");
            for k in kinds {
                sep.push_bind(k.code());
            }
            qb.push(")");
        }
        qb.push(" ORDER BY seq LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let events = rows.iter().map(stored_event).collect::<Result<Vec<_>>>()?;
        let next = match events.last() {
            Some(last) if events.len() as i64 == limit => last.seq,
            _ => upper,
        };
        // The server's writer on SQLite commits before the log is on disk and syncs it once
        // for several batches (`Tx::commit_deferred`). A consumer must never move past a
        // position a power loss could still take back: the positions would be written again,
        // with other events, behind its cursor. So what a page hands out is synced first (the
        // writer has mostly done it already; PostgreSQL's commits are durable, and this does
        // nothing there).
        self.sync_log().await?;
        Ok(EventPage { events, next, head })
    }

    async fn expiring_members(&self, now: Timestamp, until: Timestamp, day: Date, limit: i64) -> Result<Vec<MemberId>> {
        // The range of the partial index on active lots with points left, by expiry.
        let rows = sqlx::query(
            "SELECT DISTINCT l.member_id FROM lots l \
             WHERE l.status = 'active' AND l.remaining > 0 AND l.expires_at > $1 AND l.expires_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM expiry_notices n WHERE n.member_id = l.member_id AND n.day >= $3) \
             ORDER BY l.member_id LIMIT $4",
        )
        .bind(micros(now))
        .bind(micros(until))
        .bind(day_number(day))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("member_id")?;
                MemberId::parse(&id).map_err(|e| corrupt("lots", e.0))
            })
            .collect()
    }

    async fn event_problems(&self, limit: i64) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let (next, started): (i64, Option<i64>) =
            sqlx::query_as("SELECT next_seq, started_at FROM event_log WHERE id = 1").fetch_one(&self.pool).await?;
        let (count, min, max): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(seq), MAX(seq) FROM events").fetch_one(&self.pool).await?;
        if count != next - 1 || (count > 0 && (min, max) != (Some(1), Some(count))) {
            out.push(format!(
                "the event log holds {count} events at positions {} to {}, its counter says 1 to {}: positions have gaps or the counter is wrong",
                min.unwrap_or(0),
                max.unwrap_or(0),
                next - 1
            ));
        }
        // Every row reads as an event of its type, in pages by position.
        let mut after = 0_i64;
        loop {
            let rows = sqlx::query(&format!("SELECT {COLS} FROM events WHERE seq > $1 ORDER BY seq LIMIT 10000"))
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for r in &rows {
                if let Err(e) = stored_event(r) {
                    out.push(e.to_string());
                }
            }
            if out.len() as i64 >= limit {
                break;
            }
        }
        // Orders and refunds: at most one event each, exactly one since the log began, and
        // none of an order or refund that is not recorded.
        let since = started.unwrap_or(i64::MAX);
        let checks = [
            ("orders", &["order_id"][..], &[1][..], EventType::OrderPlaced, "order.placed"),
            ("refunds", &["order_id", "refund_id"][..], &[1, 2][..], EventType::OrderRefunded, "order.refunded"),
        ];
        for (table, keys, items, kind, name) in checks {
            let rows = sqlx::query(&one_event_each(table, keys, items))
                .bind(since)
                .bind(kind.code())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                let key: Vec<String> =
                    keys.iter().map(|k| r.try_get::<String, _>(*k)).collect::<std::result::Result<_, _>>()?;
                out.push(format!(
                    "member {}/{}: {} {table} row(s) and {} {name} event(s), expected one event of each row",
                    r.try_get::<String, _>("member_id")?,
                    key.join("/"),
                    r.try_get::<i64, _>("rows_")?,
                    r.try_get::<i64, _>("events_")?,
                ));
            }
        }
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }
}
