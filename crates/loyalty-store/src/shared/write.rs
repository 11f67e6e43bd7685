//! What a write transaction writes: every change of a batch as multi-row upserts.

use super::dialect::*;
use super::rows::*;
use super::tiers::*;
use crate::convert::*;
use crate::*;
use sqlx::QueryBuilder;

/// Multi-row `INSERT INTO table (cols) VALUES (…), (…)[ tail]` in chunks that stay
/// under the bind limit. `bind` pushes one value per column, in order. Plain bound rows, one
/// statement per chunk: on SQLite a statement costs more than preparing a new text, and the
/// alternatives BENCHMARKS.md lists were slower or no faster.
pub(super) async fn insert_rows<T, F>(
    conn: &mut <Db as sqlx::Database>::Connection,
    table: &'static str,
    cols: &'static str,
    tail: &str,
    rows: &[T],
    mut bind: F,
) -> Result<()>
where
    F: FnMut(&mut sqlx::query_builder::Separated<'_, '_, Db, &'static str>, &T),
{
    let per = (MAX_BINDS / Packed::names(cols).len()).max(1);
    let head = format!("INSERT INTO {table} ({cols}) VALUES ");
    let mut build = |chunk: &[T]| {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(&head);
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("(");
            {
                let mut sep = qb.separated(", ");
                bind(&mut sep, row);
            }
            qb.push(")");
        }
        qb.push(tail);
        qb
    };
    // The next chunk's statement is built while the database runs this one (the
    // driver runs it on a thread of its own), so building the values and running the
    // statement take two cores instead of one after the other.
    let mut chunks = rows.chunks(per);
    let mut next = chunks.next().map(&mut build);
    while let Some(mut qb) = next.take() {
        let (ran, built) = tokio::join!(qb.build().execute(&mut *conn), async { chunks.next().map(&mut build) });
        ran?;
        next = built;
    }
    Ok(())
}

pub(super) async fn write_changes(
    conn: &mut <Db as sqlx::Database>::Connection,
    c: &Changes,
    recorded_at: i64,
) -> Result<()> {
    insert_rows(conn, "members", MEMBER_COLS,
        " ON CONFLICT (member_id) DO UPDATE SET name = excluded.name, phone = excluded.phone, email = excluded.email, birthday = excluded.birthday, channel = excluded.channel, registered_at = excluded.registered_at, status = excluded.status, pending = excluded.pending, active = excluded.active, held = excluded.held, debt = excluded.debt, next_seq = excluded.next_seq, next_lot_no = excluded.next_lot_no, updated_at = excluded.updated_at, tier = excluded.tier, tier_since = excluded.tier_since, tier_term_end = excluded.tier_term_end, tier_grace_until = excluded.tier_grace_until, tier_warned = excluded.tier_warned, tier_assigned_reason = excluded.tier_assigned_reason, tier_assigned_until = excluded.tier_assigned_until, tier_review_at = excluded.tier_review_at, growth_total = excluded.growth_total, next_growth_seq = excluded.next_growth_seq, next_tier_seq = excluded.next_tier_seq, erased_at = excluded.erased_at, plan = excluded.plan, plan_from = excluded.plan_from, plan_until = excluded.plan_until, birthday_changed_at = excluded.birthday_changed_at",
        &c.members, |s, m| {
            let (p, a) = (&m.profile, &m.account);
            s.push_bind(a.member_id().as_str().to_owned());
            s.push_bind(p.name.clone());
            s.push_bind(p.phone.clone());
            s.push_bind(p.email.clone());
            s.push_bind(p.birthday.map(|b| b.to_string()));
            s.push_bind(p.channel.clone());
            s.push_bind(micros(p.registered_at));
            s.push_bind(a.status().as_str());
            let b = a.buckets();
            s.push_bind(b.pending.get());
            s.push_bind(b.active.get());
            s.push_bind(b.held.get());
            s.push_bind(b.debt.get());
            s.push_bind(a.next_seq());
            s.push_bind(a.next_lot_no());
            s.push_bind(micros(p.created_at));
            s.push_bind(micros(p.updated_at));
            let t = a.tier();
            s.push_bind((!t.code.is_empty()).then(|| t.code.clone()));
            s.push_bind(t.since.map(micros));
            s.push_bind(t.term_end.map(micros));
            s.push_bind(t.grace_until.map(micros));
            s.push_bind(i64::from(t.warned));
            s.push_bind(t.assigned_reason.clone());
            s.push_bind(t.assigned_until.map(micros));
            s.push_bind(a.tier_review_at().map(micros));
            s.push_bind(a.growth_total());
            s.push_bind(a.next_growth_seq());
            s.push_bind(a.next_tier_seq());
            s.push_bind(p.erased_at.map(micros));
            s.push_bind(m.plan.as_ref().map(|c| c.plan.clone()));
            s.push_bind(m.plan.as_ref().map(|c| micros(c.from)));
            s.push_bind(m.plan.as_ref().map(|c| micros(c.until)));
            s.push_bind(p.birthday_changed_at.map(micros));
        }).await?;
    insert_rows(conn, "lots", LOT_COLS,
        " ON CONFLICT (member_id, lot_no) DO UPDATE SET remaining = excluded.remaining, expired = excluded.expired, status = excluded.status",
        &c.lots, |s, (m, l)| {
            s.push_bind(m.as_str().to_owned());
            s.push_bind(l.lot_no);
            s.push_bind(l.source_kind.as_str());
            s.push_bind(l.source_id.clone());
            s.push_bind(l.granted.get());
            s.push_bind(l.remaining.get());
            s.push_bind(l.expired.get());
            s.push_bind(micros(l.activates_at));
            s.push_bind(l.expires_at.map(micros));
            s.push_bind(l.status.as_str());
            s.push_bind(micros(l.created_at));
        }).await?;
    insert_rows(
        conn,
        "holds",
        HOLD_COLS,
        " ON CONFLICT (member_id, hold_id) DO UPDATE SET status = excluded.status, settled_at = excluded.settled_at",
        &c.holds,
        |s, (m, h)| {
            s.push_bind(m.as_str().to_owned());
            s.push_bind(h.hold_id.as_str().to_owned());
            s.push_bind(h.order_id.clone());
            s.push_bind(h.points.get());
            s.push_bind(h.order_amount_minor.get());
            s.push_bind(h.status.as_str());
            s.push_bind(micros(h.created_at));
            s.push_bind(micros(h.expires_at));
            s.push_bind(h.settled_at.map(micros));
            s.push_bind(serde_json::to_string(&h.allocations).expect("allocations serialise"));
        },
    )
    .await?;
    insert_rows(conn, "entries", ENTRY_COLS, "", &c.entries, |s, (m, e)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(e.seq);
        s.push_bind(e.kind.as_str());
        s.push_bind(e.points.get());
        s.push_bind(e.source_kind.as_str());
        s.push_bind(e.source_id.clone());
        s.push_bind(e.lot_no);
        s.push_bind(micros(e.at));
        s.push_bind(e.after.pending.get());
        s.push_bind(e.after.active.get());
        s.push_bind(e.after.held.get());
        s.push_bind(e.after.debt.get());
        s.push_bind(e.note.clone());
        s.push_bind(recorded_at);
    })
    .await?;
    insert_rows(conn, "order_keys", "order_id, member_id", "", &c.new_order_keys, |s, (o, m)| {
        s.push_bind(o.as_str().to_owned());
        s.push_bind(m.as_str().to_owned());
    })
    .await?;
    insert_rows(conn, "orders", ORDER_COLS,
        " ON CONFLICT (member_id, order_id) DO UPDATE SET clawed_back_points = excluded.clawed_back_points, refunded_minor = excluded.refunded_minor, growth_clawed_back = excluded.growth_clawed_back, tasks = excluded.tasks",
        &c.orders, |s, o| {
            let v = &o.order;
            s.push_bind(v.member_id.as_str().to_owned());
            s.push_bind(v.id.as_str().to_owned());
            s.push_bind(micros(v.paid_at));
            s.push_bind(v.currency.clone());
            s.push_bind(v.eligible_minor().get());
            s.push_bind(v.shipping_minor);
            s.push_bind(v.total_minor().get());
            s.push_bind(o.earned_points.get());
            s.push_bind(o.clawed_back_points.get());
            s.push_bind(o.refunded_minor.get());
            s.push_bind(o.lot_no);
            s.push_bind(o.note.clone());
            s.push_bind(serde_json::to_string(&v.lines).expect("lines serialise"));
            s.push_bind(micros(o.created_at));
            s.push_bind(o.growth);
            s.push_bind(o.growth_clawed_back);
            s.push_bind(o.multiplier_milli);
            s.push_bind(serde_json::to_string(&o.benefits).expect("benefits serialise"));
            s.push_bind(v.shipping_waived_minor);
            s.push_bind(serde_json::to_string(&v.coupons).expect("coupon ids serialise"));
            s.push_bind((!o.tasks.is_empty()).then(|| serde_json::to_string(&o.tasks).expect("task marks serialise")));
        }).await?;
    insert_rows(conn, "refunds", REFUND_COLS, "", &c.refunds, |s, (m, r)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(r.order_id.as_str().to_owned());
        s.push_bind(r.refund_id.as_str().to_owned());
        s.push_bind(r.amount_minor.get());
        s.push_bind(serde_json::to_string(&r.lines).expect("lines serialise"));
        s.push_bind(i64::from(r.by_lines));
        s.push_bind(r.clawback_points.get());
        s.push_bind(r.forgiven_points.get());
        s.push_bind(micros(r.refunded_at));
        s.push_bind(micros(r.created_at));
    })
    .await?;
    // Every new order and refund also goes to its member's activity log (what member
    // insight reads), in this transaction: the log can never miss or repeat one.
    let appends = crate::analytics::activity_appends(c);
    insert_rows(conn, "member_activity", "member_id, span, log",
        // A new row is the whole text; a row already there keeps its head (`|id=` and
        // the span, `activity::HEAD_EXTRA` characters besides the id) and gets the
        // records after the new text's head.
        &format!(" ON CONFLICT (member_id, span) DO UPDATE SET log = member_activity.log || substr(excluded.log, length(excluded.member_id) + {})", crate::analytics::HEAD_EXTRA + 1),
        &appends, |s, a| {
            s.push_bind(a.member_id.clone());
            s.push_bind(a.span);
            s.push_bind(a.log.clone());
        }).await?;
    insert_rows(
        conn,
        "adjustments",
        "member_id, adjustment_id, points, reason, actor, created_at",
        "",
        &c.adjustments,
        |s, a| {
            s.push_bind(a.member_id.as_str().to_owned());
            s.push_bind(a.adjustment_id.as_str().to_owned());
            s.push_bind(a.points.get());
            s.push_bind(a.reason.clone());
            s.push_bind(a.actor.clone());
            s.push_bind(micros(a.created_at));
        },
    )
    .await?;
    // The first response kept for a key stays (a retry racing the first attempt).
    insert_rows(
        conn,
        "idempotency",
        "principal, idem_key, request_hash, status, body, created_at",
        " ON CONFLICT (principal, idem_key) DO NOTHING",
        &c.idempotency,
        |s, r| {
            s.push_bind(r.principal.clone());
            s.push_bind(r.key.clone());
            s.push_bind(r.request_hash.clone());
            s.push_bind(i64::from(r.status));
            s.push_bind(r.body.clone());
            s.push_bind(micros(r.created_at));
        },
    )
    .await?;
    super::personal::write_audit(conn, &c.audit).await?;
    super::coupons::write_coupons(conn, c).await?;
    super::rewards::write_rewards(conn, c).await?;
    super::memberships::write_memberships(conn, c, recorded_at).await?;
    super::checkins::write_checkins(conn, c).await?;
    super::tasks::write_tasks(conn, c, recorded_at).await?;
    super::gifts::write_gifts(conn, c).await?;
    super::referrals::write_referrals(conn, c, recorded_at).await?;
    write_tier_changes(conn, c, recorded_at).await?;
    // Last: the event log's counter is locked from here to the commit.
    super::events::write_events(conn, c, recorded_at).await
}
