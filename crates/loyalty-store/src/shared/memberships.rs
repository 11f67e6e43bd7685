//! Paid memberships on this backend: the write transaction's load of them, what a batch
//! writes, and the reads of `Memberships`.

use super::dialect::*;
use super::load::select_in;
use super::write::insert_rows;
use crate::convert::*;
use crate::memberships::*;
use crate::*;
use loyalty_core::config_file::Named;
use loyalty_core::ids::MemberId;
use loyalty_core::membership::{Cover, Event, EventKind, Membership, Term};
use sqlx::Row;

const MEMBERSHIP_COLS: &str = "member_id, plan, renews, trial_used, invitations, noticed_for, grace_noted_for, lapse_noted_for, next_seq, next_due_at, created_at, updated_at";
const TERM_COLS: &str = "member_id, term_id, plan, trial, paid_minor, payment_ref, paid_at, starts_at, ends_at, credit_minor, refunded_minor, refund_id, credited_minor, ended_at, packs_issued, tier, segment, created_at";
const EVENT_COLS: &str = "member_id, seq, at, kind, plan, term_id, amount_minor, detail, recorded_at";

type Conn = <Db as sqlx::Database>::Connection;

fn membership_row(r: &impl Cells) -> Result<(Membership, Option<Timestamp>)> {
    let t = "memberships";
    let m = Membership {
        member_id: MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        plan: r.text("plan")?,
        renews: r.i64("renews")? != 0,
        trial_used: r.i64("trial_used")? != 0,
        invitations: json(t, &r.text("invitations")?)?,
        terms: Vec::new(),
        noticed_for: opt_ts(t, r.opt_i64("noticed_for")?)?,
        grace_noted_for: opt_ts(t, r.opt_i64("grace_noted_for")?)?,
        lapse_noted_for: opt_ts(t, r.opt_i64("lapse_noted_for")?)?,
        next_seq: r.i64("next_seq")?,
        created_at: ts(t, r.i64("created_at")?)?,
        updated_at: ts(t, r.i64("updated_at")?)?,
        new_events: Vec::new(),
        dirty: false,
    };
    Ok((m, opt_ts(t, r.opt_i64("next_due_at")?)?))
}

fn term_row(r: &impl Cells) -> Result<(String, Term)> {
    let t = "membership_terms";
    let term = Term {
        term_id: r.text("term_id")?,
        plan: r.text("plan")?,
        trial: r.i64("trial")? != 0,
        paid_minor: r.i64("paid_minor")?,
        payment_ref: r.text("payment_ref")?,
        paid_at: ts(t, r.i64("paid_at")?)?,
        starts_at: ts(t, r.i64("starts_at")?)?,
        ends_at: ts(t, r.i64("ends_at")?)?,
        credit_minor: r.i64("credit_minor")?,
        refunded_minor: r.i64("refunded_minor")?,
        refund_id: r.opt_text("refund_id")?,
        credited_minor: r.i64("credited_minor")?,
        ended_at: opt_ts(t, r.opt_i64("ended_at")?)?,
        packs_issued: r.i64("packs_issued")?,
        tier: r.text("tier")?,
        segment: r.opt_text("segment")?,
        created_at: ts(t, r.i64("created_at")?)?,
        dirty: false,
    };
    Ok((r.text("member_id")?, term))
}

fn event_row(r: &impl Cells) -> Result<Event> {
    let t = "membership_events";
    Ok(Event {
        member_id: MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        seq: r.i64("seq")?,
        at: ts(t, r.i64("at")?)?,
        kind: parse_enum(t, &r.text("kind")?, EventKind::from_name)?,
        plan: r.text("plan")?,
        term_id: r.opt_text("term_id")?,
        amount_minor: r.i64("amount_minor")?,
        detail: r.text("detail")?,
    })
}

/// The memberships of `ids` with every term (terms by start), and each one's `next_due_at`.
pub(super) async fn load_memberships(
    conn: &mut Conn,
    ids: &[String],
    lock: &str,
) -> Result<HashMap<MemberId, (Membership, Option<Timestamp>)>> {
    let mut out = HashMap::new();
    let head = format!("SELECT {MEMBERSHIP_COLS} FROM memberships WHERE member_id");
    for r in select_in(&mut *conn, MEMBERSHIP_COLS, "memberships", &head, ids, lock, &[]).await?.rows() {
        let (m, due) = membership_row(&r)?;
        out.insert(m.member_id.clone(), (m, due));
    }
    if out.is_empty() {
        return Ok(out);
    }
    let with: Vec<String> = out.keys().map(|m| m.as_str().to_owned()).collect();
    let head = format!("SELECT {TERM_COLS} FROM membership_terms WHERE member_id");
    for r in select_in(&mut *conn, TERM_COLS, "membership_terms", &head, &with, "", &[]).await?.rows() {
        let (member, term) = term_row(&r)?;
        let m = MemberId::parse(&member).map_err(|e| corrupt("membership_terms", e.0))?;
        let (ms, _) =
            out.get_mut(&m).ok_or_else(|| corrupt("membership_terms", format!("{member} has no membership")))?;
        ms.terms.push(term);
    }
    for (m, _) in out.values_mut() {
        m.terms.sort_by_key(|t| t.starts_at);
    }
    Ok(out)
}

/// Σ plan benefit uses of each member since its instant, to now (the batch's refunds).
pub(super) async fn load_savings(conn: &mut Conn, wanted: &[(MemberId, Timestamp)]) -> Result<HashMap<MemberId, i64>> {
    let mut out = HashMap::new();
    for (m, since) in wanted {
        let sum: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(value_minor) AS BIGINT) FROM benefit_uses WHERE member_id = $1 AND plan IS NOT NULL AND used_at >= $2",
        )
        .bind(m.as_str().to_owned())
        .bind(micros(*since))
        .fetch_one(&mut *conn)
        .await?;
        out.insert(m.clone(), sum.unwrap_or(0));
    }
    Ok(out)
}

pub(super) async fn write_memberships(conn: &mut Conn, c: &Changes, recorded_at: i64) -> Result<()> {
    if c.memberships.is_empty() {
        return Ok(());
    }
    insert_rows(conn, "memberships", MEMBERSHIP_COLS,
        " ON CONFLICT (member_id) DO UPDATE SET plan = excluded.plan, renews = excluded.renews, trial_used = excluded.trial_used, invitations = excluded.invitations, noticed_for = excluded.noticed_for, grace_noted_for = excluded.grace_noted_for, lapse_noted_for = excluded.lapse_noted_for, next_seq = excluded.next_seq, next_due_at = excluded.next_due_at, updated_at = excluded.updated_at",
        &c.memberships, |s, (m, due)| {
            s.push_bind(m.member_id.as_str().to_owned());
            s.push_bind(m.plan.clone());
            s.push_bind(i64::from(m.renews));
            s.push_bind(i64::from(m.trial_used));
            s.push_bind(serde_json::to_string(&m.invitations).expect("strings serialise"));
            s.push_bind(m.noticed_for.map(micros));
            s.push_bind(m.grace_noted_for.map(micros));
            s.push_bind(m.lapse_noted_for.map(micros));
            s.push_bind(m.next_seq);
            s.push_bind(due.map(micros));
            s.push_bind(micros(m.created_at));
            s.push_bind(micros(m.updated_at));
        }).await?;
    let terms: Vec<(&MemberId, &Term)> = c
        .memberships
        .iter()
        .flat_map(|(m, _)| m.terms.iter().filter(|t| t.dirty).map(move |t| (&m.member_id, t)))
        .collect();
    insert_rows(conn, "membership_terms", TERM_COLS,
        " ON CONFLICT (member_id, term_id) DO UPDATE SET refunded_minor = excluded.refunded_minor, refund_id = excluded.refund_id, credited_minor = excluded.credited_minor, ended_at = excluded.ended_at, packs_issued = excluded.packs_issued",
        &terms, |s, (m, t)| {
            s.push_bind(m.as_str().to_owned());
            s.push_bind(t.term_id.clone());
            s.push_bind(t.plan.clone());
            s.push_bind(i64::from(t.trial));
            s.push_bind(t.paid_minor);
            s.push_bind(t.payment_ref.clone());
            s.push_bind(micros(t.paid_at));
            s.push_bind(micros(t.starts_at));
            s.push_bind(micros(t.ends_at));
            s.push_bind(t.credit_minor);
            s.push_bind(t.refunded_minor);
            s.push_bind(t.refund_id.clone());
            s.push_bind(t.credited_minor);
            s.push_bind(t.ended_at.map(micros));
            s.push_bind(t.packs_issued);
            s.push_bind(t.tier.clone());
            s.push_bind(t.segment.clone());
            s.push_bind(micros(t.created_at));
        }).await?;
    let events: Vec<&Event> = c.memberships.iter().flat_map(|(m, _)| m.new_events.iter()).collect();
    insert_rows(conn, "membership_events", EVENT_COLS, "", &events, |s, e| {
        s.push_bind(e.member_id.as_str().to_owned());
        s.push_bind(e.seq);
        s.push_bind(micros(e.at));
        s.push_bind(e.kind.name());
        s.push_bind(e.plan.clone());
        s.push_bind(e.term_id.clone());
        s.push_bind(e.amount_minor);
        s.push_bind(e.detail.clone());
        s.push_bind(recorded_at);
    })
    .await
}

#[async_trait::async_trait]
impl Memberships for StoreImpl {
    async fn membership(&self, member: &MemberId) -> Result<Option<Membership>> {
        let mut conn = self.pool.acquire().await?;
        let mut found = load_memberships(&mut conn, &[member.as_str().to_owned()], "").await?;
        Ok(found.remove(member).map(|(m, _)| m))
    }

    async fn membership_events(&self, member: &MemberId, before: Option<i64>, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM membership_events WHERE member_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(member.as_str().to_owned())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, MAX_EVENTS_PAGE))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| event_row(&super::rows::One(r))).collect()
    }

    async fn plan_savings(&self, member: &MemberId, from: Timestamp, to: Timestamp) -> Result<i64> {
        let sum: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(value_minor) AS BIGINT) FROM benefit_uses WHERE member_id = $1 AND plan IS NOT NULL AND used_at >= $2 AND used_at < $3",
        )
        .bind(member.as_str().to_owned())
        .bind(micros(from))
        .bind(micros(to))
        .fetch_one(&self.pool)
        .await?;
        Ok(sum.unwrap_or(0))
    }

    async fn due_memberships(&self, now: Timestamp, limit: i64) -> Result<Vec<MemberId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT member_id FROM memberships WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2",
        )
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|i| MemberId::parse(i).map_err(|e| corrupt("memberships", e.0))).collect()
    }

    async fn membership_page(&self, after: Option<&str>, limit: i64) -> Result<Vec<MembershipAudit>> {
        let mut conn = self.pool.acquire().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT member_id FROM memberships WHERE member_id > $1 ORDER BY member_id LIMIT $2")
                .bind(after.unwrap_or("").to_owned())
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?;
        let mut found = load_memberships(&mut conn, &ids, "").await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let m = MemberId::parse(&id).map_err(|e| corrupt("memberships", e.0))?;
            let (membership, next_due_at) = found.remove(&m).ok_or_else(|| corrupt("memberships", "vanished"))?;
            let row = sqlx::query(
                "SELECT m.plan, m.plan_from, m.plan_until, \
                 (SELECT COUNT(*) FROM membership_events e WHERE e.member_id = m.member_id) AS events, \
                 (SELECT COALESCE(MAX(seq), 0) FROM membership_events e WHERE e.member_id = m.member_id) AS max_seq \
                 FROM members m WHERE m.member_id = $1",
            )
            .bind(id.clone())
            .fetch_optional(&mut *conn)
            .await?;
            let (stored_cover, events, max_seq) = match row {
                None => (None, 0, 0),
                Some(r) => {
                    let t = "members";
                    let plan: Option<String> = r.try_get("plan")?;
                    let from = opt_ts(t, r.try_get("plan_from")?)?;
                    let until = opt_ts(t, r.try_get("plan_until")?)?;
                    let cover = match (plan, from, until) {
                        (Some(plan), Some(from), Some(until)) => Some(Cover { plan, from, until }),
                        _ => None,
                    };
                    (cover, r.try_get::<i64, _>("events")?, r.try_get::<i64, _>("max_seq")?)
                }
            };
            out.push(MembershipAudit { membership, stored_cover, events, max_seq, next_due_at });
        }
        Ok(out)
    }

    async fn term_facts(&self, from: Timestamp, to: Timestamp, plan: Option<&str>) -> Result<Vec<TermFact>> {
        let rows = sqlx::query(
            "SELECT member_id, plan, trial, paid_minor, refunded_minor, starts_at, ends_at, ended_at, tier, segment \
             FROM membership_terms WHERE starts_at < $2 AND ends_at > $1 AND ($3 = '' OR plan = $3) \
             ORDER BY member_id, starts_at",
        )
        .bind(micros(from))
        .bind(micros(to))
        .bind(plan.unwrap_or("").to_owned())
        .fetch_all(&self.pool)
        .await?;
        let t = "membership_terms";
        rows.iter()
            .map(|r| {
                let ends_at = ts(t, r.try_get("ends_at")?)?;
                let ended_at = opt_ts(t, r.try_get("ended_at")?)?;
                Ok(TermFact {
                    member_id: r.try_get("member_id")?,
                    plan: r.try_get("plan")?,
                    trial: r.try_get::<i64, _>("trial")? != 0,
                    paid_minor: r.try_get("paid_minor")?,
                    refunded_minor: r.try_get("refunded_minor")?,
                    starts_at: ts(t, r.try_get("starts_at")?)?,
                    end: ended_at.map_or(ends_at, |e| e.min(ends_at)),
                    tier: r.try_get("tier")?,
                    segment: r.try_get("segment")?,
                })
            })
            .collect()
    }

    async fn plan_benefit_cost(&self, from: Timestamp, to: Timestamp) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT plan, CAST(SUM(value_minor) AS BIGINT) AS cost FROM benefit_uses \
             WHERE used_at >= $1 AND used_at < $2 AND plan IS NOT NULL GROUP BY plan ORDER BY plan",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("plan")?, r.try_get("cost")?))).collect()
    }
}
