//! Tasks on this backend: definitions, the write transaction's loads of the active tasks and
//! of members' progress, what a batch writes, and the reads of `Tasks`.

use super::dialect::*;
use super::load::select_in;
use super::rows::*;
use super::write::insert_rows;
use crate::convert::*;
use crate::tasks::*;
use crate::*;
use loyalty_core::engagement::{Task, TaskInput, TaskState, TaskStatus};
use loyalty_core::ids::{CouponId, MemberId, TaskId};
use sqlx::Row;
use std::collections::HashSet;

const TASK_COLS: &str = "task_id, terms, status, created_at, updated_at";
const STATE_COLS: &str = "member_id, state";
const DONE_COLS: &str = "member_id, task_id, period, completed_at, points, growth, coupon_id, note";

type Conn = <Db as sqlx::Database>::Connection;

fn task_row(r: &DbRow) -> Result<Task> {
    let t = "tasks";
    let id: String = r.try_get("task_id")?;
    let terms: TaskInput = json(t, &r.try_get::<String, _>("terms")?)?;
    let status: String = r.try_get("status")?;
    Ok(Task {
        id: TaskId::parse(&id).map_err(|e| corrupt(t, e.0))?,
        terms,
        status: TaskStatus::parse(&status).ok_or_else(|| corrupt(t, format!("status {status:?}")))?,
        created_at: ts(t, r.try_get("created_at")?)?,
        updated_at: ts(t, r.try_get("updated_at")?)?,
    })
}

fn completion_row(r: &DbRow) -> Result<Completion> {
    let t = "task_completions";
    let text = |c: &str| r.try_get::<String, _>(c);
    Ok(Completion {
        member_id: MemberId::parse(&text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        task: TaskId::parse(&text("task_id")?).map_err(|e| corrupt(t, e.0))?,
        period: text("period")?,
        completed_at: ts(t, r.try_get("completed_at")?)?,
        points: r.try_get("points")?,
        growth: r.try_get("growth")?,
        coupon: r
            .try_get::<Option<String>, _>("coupon_id")?
            .map(|c| CouponId::parse(&c).map_err(|e| corrupt(t, e.0)))
            .transpose()?,
        note: r.try_get("note")?,
    })
}

/// Every active task (at most `MAX_TASKS` exist): what a batch's events are weighed on.
pub(super) async fn load_active_tasks(conn: &mut Conn) -> Result<Vec<Task>> {
    let rows = sqlx::query(&format!("SELECT {TASK_COLS} FROM tasks WHERE status = 'active' ORDER BY task_id"))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(task_row).collect()
}

/// The progress rows of `ids` (members without one have none).
pub(super) async fn load_states(conn: &mut Conn, ids: &[String]) -> Result<HashMap<MemberId, TaskState>> {
    let mut out = HashMap::new();
    let head = format!("SELECT {STATE_COLS} FROM task_states WHERE member_id");
    for r in select_in(&mut *conn, STATE_COLS, "task_states", &head, ids, "", &[]).await?.rows() {
        let m = MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt("task_states", e.0))?;
        out.insert(m, json("task_states", &r.text("state")?)?);
    }
    Ok(out)
}

/// Which of `ids` have an order on record.
pub(super) async fn members_with_orders(conn: &mut Conn, ids: &[String]) -> Result<HashSet<MemberId>> {
    let mut out = HashSet::new();
    let head = "SELECT DISTINCT member_id FROM orders WHERE member_id";
    for r in select_in(&mut *conn, "member_id", "orders", head, ids, "", &[]).await?.rows() {
        out.insert(MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt("orders", e.0))?);
    }
    Ok(out)
}

/// Progress rows are replaced whole; a completion is inserted (a second one of the same
/// period is an error, never an overwrite).
pub(super) async fn write_tasks(conn: &mut Conn, c: &Changes, recorded_at: i64) -> Result<()> {
    let upsert = " ON CONFLICT (member_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at";
    insert_rows(conn, "task_states", "member_id, state, updated_at", upsert, &c.task_states, |s, (m, st)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(serde_json::to_string(st).expect("progress serialises"));
        s.push_bind(recorded_at);
    })
    .await?;
    insert_rows(conn, "task_completions", DONE_COLS, "", &c.task_completions, |s, d| {
        s.push_bind(d.member_id.as_str().to_owned());
        s.push_bind(d.task.as_str().to_owned());
        s.push_bind(d.period.clone());
        s.push_bind(micros(d.completed_at));
        s.push_bind(d.points);
        s.push_bind(d.growth);
        s.push_bind(d.coupon.as_ref().map(|c| c.as_str().to_owned()));
        s.push_bind(d.note.clone());
    })
    .await
}

#[async_trait::async_trait]
impl Tasks for StoreImpl {
    async fn insert_task(&self, task: &Task) -> Result<bool> {
        let done =
            sqlx::query(&format!("INSERT INTO tasks ({TASK_COLS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"))
                .bind(task.id.as_str().to_owned())
                .bind(serde_json::to_string(&task.terms).expect("terms serialise"))
                .bind(task.status.as_str())
                .bind(micros(task.created_at))
                .bind(micros(task.updated_at))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn task(&self, id: &TaskId) -> Result<Option<Task>> {
        let row = sqlx::query(&format!("SELECT {TASK_COLS} FROM tasks WHERE task_id = $1"))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(task_row).transpose()
    }

    async fn tasks(&self, after: Option<&TaskId>, limit: i64) -> Result<Vec<Task>> {
        let rows = sqlx::query(&format!("SELECT {TASK_COLS} FROM tasks WHERE task_id > $1 ORDER BY task_id LIMIT $2"))
            .bind(after.map_or_else(String::new, |a| a.as_str().to_owned()))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(task_row).collect()
    }

    async fn patch_task(
        &self,
        id: &TaskId,
        name: Option<&str>,
        status: Option<TaskStatus>,
        now: jiff::Timestamp,
    ) -> Result<Option<Task>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("SELECT {TASK_COLS} FROM tasks WHERE task_id = $1{FOR_UPDATE}"))
            .bind(id.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut task) = row.as_ref().map(task_row).transpose()? else { return Ok(None) };
        if let Some(n) = name {
            task.terms.name = n.to_owned();
        }
        task.status = status.unwrap_or(task.status);
        task.updated_at = now;
        sqlx::query("UPDATE tasks SET terms = $1, status = $2, updated_at = $3 WHERE task_id = $4")
            .bind(serde_json::to_string(&task.terms).expect("terms serialise"))
            .bind(task.status.as_str())
            .bind(micros(now))
            .bind(id.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(task))
    }

    async fn task_state(&self, member: &MemberId) -> Result<TaskState> {
        let row = sqlx::query("SELECT state FROM task_states WHERE member_id = $1")
            .bind(member.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => json("task_states", &r.try_get::<String, _>("state")?),
            None => Ok(TaskState::default()),
        }
    }

    async fn task_completions(&self, member: &MemberId) -> Result<Vec<Completion>> {
        let rows = sqlx::query(&format!(
            "SELECT {DONE_COLS} FROM task_completions WHERE member_id = $1 ORDER BY completed_at DESC, task_id LIMIT $2"
        ))
        .bind(member.as_str().to_owned())
        .bind(MAX_COMPLETIONS_READ)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(completion_row).collect()
    }

    async fn task_problems(&self, limit: i64) -> Result<Vec<String>> {
        let mut out = Vec::new();
        // What the completions say they paid against what the ledger credited for tasks.
        let ledger = sqlx::query(&super::ledger::earned_against_ledger("task_completions", "task"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        for r in &ledger {
            out.push(format!(
                "member {}: task completions record {} points paid, the ledger {}",
                r.try_get::<String, _>("member_id")?,
                r.try_get::<i64, _>("recorded")?,
                r.try_get::<i64, _>("ledger")?,
            ));
        }
        // Each progress row by its own rules, in pages.
        let mut after = String::new();
        while (out.len() as i64) < limit {
            let rows = sqlx::query(
                "SELECT member_id, state FROM task_states WHERE member_id > $1 ORDER BY member_id LIMIT 1000",
            )
            .bind(after.clone())
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("member_id")?;
            for r in &rows {
                let state: TaskState = json("task_states", &r.try_get::<String, _>("state")?)?;
                if let Err(e) = state.check() {
                    out.push(format!("member {}: {e}", r.try_get::<String, _>("member_id")?));
                }
            }
        }
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }
}
