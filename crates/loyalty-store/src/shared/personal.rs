//! A member's personal data on this backend (`PersonalData`): everything held about one member,
//! read in one snapshot for an export, and the audit log of exports and erasures.

use super::dialect::*;
use super::load::*;
use super::rows::*;
use super::tiers::*;
use super::write::*;
use crate::convert::*;
use crate::*;
use loyalty_core::ids::*;
use sqlx::Row;

const AUDIT_COLS: &str = "member_id, audit_id, action, actor, reason, detail, at";
const ADJUSTMENT_COLS: &str = "member_id, adjustment_id, points, reason, actor, created_at";

fn audit_row(r: &DbRow) -> Result<AuditRecord> {
    let t = "audit_log";
    Ok(AuditRecord {
        member_id: MemberId::parse(&r.try_get::<String, _>("member_id")?).map_err(|e| corrupt(t, e.0))?,
        audit_id: r.try_get("audit_id")?,
        action: r.try_get("action")?,
        actor: r.try_get("actor")?,
        reason: r.try_get("reason")?,
        detail: r.try_get("detail")?,
        at: ts(t, r.try_get("at")?)?,
    })
}

fn adjustment_row(r: &DbRow) -> Result<Adjustment> {
    let t = "adjustments";
    Ok(Adjustment {
        member_id: MemberId::parse(&r.try_get::<String, _>("member_id")?).map_err(|e| corrupt(t, e.0))?,
        adjustment_id: AdjustmentId::parse(&r.try_get::<String, _>("adjustment_id")?).map_err(|e| corrupt(t, e.0))?,
        points: loyalty_core::Points::new(r.try_get("points")?),
        reason: r.try_get("reason")?,
        actor: r.try_get("actor")?,
        created_at: ts(t, r.try_get("created_at")?)?,
    })
}

/// Writes a batch's audit records; one already kept under its id stays as it was (a second
/// erasure is no new record).
pub(super) async fn write_audit(conn: &mut <Db as sqlx::Database>::Connection, audit: &[AuditRecord]) -> Result<()> {
    insert_rows(conn, "audit_log", AUDIT_COLS, " ON CONFLICT (member_id, audit_id) DO NOTHING", audit, |s, a| {
        s.push_bind(a.member_id.as_str().to_owned());
        s.push_bind(a.audit_id.clone());
        s.push_bind(a.action.clone());
        s.push_bind(a.actor.clone());
        s.push_bind(a.reason.clone());
        s.push_bind(a.detail.clone());
        s.push_bind(micros(a.at));
    })
    .await
}

/// The rows of one member's table, in `order`, at most `MemberData::MAX_ROWS + 1`.
async fn member_table(
    conn: &mut <Db as sqlx::Database>::Connection,
    cols: &str,
    table: &str,
    order: &str,
    id: &MemberId,
) -> Result<Vec<DbRow>> {
    let sql = format!("SELECT {cols} FROM {table} WHERE member_id = $1 ORDER BY {order} LIMIT $2");
    let limit = i64::try_from(MemberData::MAX_ROWS + 1).expect("the bound fits");
    Ok(sqlx::query(&sql).bind(id.as_str().to_owned()).bind(limit).fetch_all(&mut *conn).await?)
}

#[async_trait::async_trait]
impl PersonalData for StoreImpl {
    async fn member_data(&self, id: &MemberId) -> Result<Option<MemberData>> {
        // One transaction, so that every table is read as of one instant (SQLite: the read
        // snapshot taken by the first statement; PostgreSQL: repeatable read).
        let mut tx = self.pool.begin().await?;
        if !SNAPSHOT.is_empty() {
            sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
        }
        let conn = &mut *tx;
        let ids = [id.as_str().to_owned()];
        let Some(record) = load_members_on(&mut *conn, &ids, "", i64::MAX).await?.remove(id) else {
            return Ok(None);
        };
        let rows = member_table(&mut *conn, LOT_COLS, "lots", "lot_no", id).await?;
        let lots = rows.iter().map(|r| lot_row(&One(r)).map(|(_, l)| l)).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, ENTRY_COLS, "entries", "seq", id).await?;
        let entries = rows.iter().map(|r| entry_row(&One(r))).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, HOLD_COLS, "holds", "created_at, hold_id", id).await?;
        let holds = rows.iter().map(|r| hold_row(&One(r)).map(|(_, h)| h)).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, ORDER_COLS, "orders", "paid_at, order_id", id).await?;
        let orders = rows.iter().map(|r| order_row(&One(r))).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, REFUND_COLS, "refunds", "refunded_at, order_id, refund_id", id).await?;
        let refunds = rows.iter().map(|r| refund_row(&One(r))).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, ADJUSTMENT_COLS, "adjustments", "created_at, adjustment_id", id).await?;
        let adjustments = rows.iter().map(adjustment_row).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, GROWTH_COLS, "growth_entries", "seq", id).await?;
        let growth = rows.iter().map(|r| growth_row(&One(r)).map(|(_, g)| g)).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, TIER_EVENT_COLS, "tier_events", "seq", id).await?;
        let tier_events = rows.iter().map(tier_event_row).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, ACTION_COLS, "member_actions", "created_at, kind, action_id", id).await?;
        let actions = rows.iter().map(action_row).collect::<Result<_>>()?;
        let rows = member_table(&mut *conn, AUDIT_COLS, "audit_log", "at, audit_id", id).await?;
        let audit = rows.iter().map(audit_row).collect::<Result<_>>()?;
        tx.commit().await?;
        Ok(Some(MemberData {
            record,
            lots,
            entries,
            holds,
            orders,
            refunds,
            adjustments,
            growth,
            tier_events,
            actions,
            audit,
        }))
    }

    async fn audit_log(&self, id: &MemberId) -> Result<Vec<AuditRecord>> {
        let mut conn = self.pool.acquire().await?;
        let rows = member_table(&mut conn, AUDIT_COLS, "audit_log", "at, audit_id", id).await?;
        rows.iter().map(audit_row).collect()
    }
}
