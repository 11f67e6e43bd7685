//! Growth, tier events and member actions: their rows, loads and writes.

use super::dialect::*;
use super::load::*;
use super::rows::*;
use super::write::*;
use crate::convert::*;
use crate::*;
use loyalty_core::ids::*;
use loyalty_core::tiers::{Action, ActionKind, GrowthEntry, GrowthKind, TierEvent, TierEventKind};
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

pub(super) const GROWTH_COLS: &str = "member_id, seq, kind, amount, source_id, at, total_after, recorded_at";
pub(super) const TIER_EVENT_COLS: &str =
    "member_id, seq, kind, from_tier, to_tier, at, growth_in_window, growth_needed, deadline, detail, recorded_at";
pub(super) const ACTION_COLS: &str =
    "member_id, kind, action_id, action_type, occurred_at, reference, growth, points, note, created_at";

pub(super) fn growth_row(r: &impl Cells) -> Result<(String, GrowthEntry)> {
    let t = "growth_entries";
    Ok((
        r.text("member_id")?,
        GrowthEntry {
            seq: r.i64("seq")?,
            kind: parse_enum(t, &r.text("kind")?, GrowthKind::parse)?,
            amount: r.i64("amount")?,
            source_id: r.text("source_id")?,
            at: ts(t, r.i64("at")?)?,
            total_after: r.i64("total_after")?,
        },
    ))
}

pub(super) fn tier_event_row(r: &DbRow) -> Result<TierEvent> {
    let t = "tier_events";
    Ok(TierEvent {
        seq: r.try_get("seq")?,
        kind: parse_enum(t, &r.try_get::<String, _>("kind")?, TierEventKind::parse)?,
        from: r.try_get("from_tier")?,
        to: r.try_get("to_tier")?,
        at: ts(t, r.try_get("at")?)?,
        growth_in_window: r.try_get("growth_in_window")?,
        growth_needed: r.try_get("growth_needed")?,
        deadline: opt_ts(t, r.try_get("deadline")?)?,
        detail: r.try_get("detail")?,
    })
}

pub(super) fn action_row(r: &DbRow) -> Result<Action> {
    let t = "member_actions";
    Ok(Action {
        kind: parse_enum(t, &r.try_get::<String, _>("kind")?, ActionKind::parse)?,
        action_id: r.try_get("action_id")?,
        action_type: r.try_get("action_type")?,
        occurred_at: ts(t, r.try_get("occurred_at")?)?,
        reference: r.try_get("reference")?,
        growth: r.try_get("growth")?,
        points: r.try_get("points")?,
        note: r.try_get("note")?,
        created_at: ts(t, r.try_get("created_at")?)?,
    })
}

/// Growth entries since `since`, into the loaded members.
pub(super) async fn load_growth(
    conn: &mut <Db as sqlx::Database>::Connection,
    out: &mut HashMap<String, MemberRecord>,
    ids: &[String],
    since: i64,
) -> Result<()> {
    let head = format!("SELECT {GROWTH_COLS} FROM growth_entries WHERE member_id");
    for r in select_in(
        &mut *conn,
        GROWTH_COLS,
        "growth_entries",
        &head,
        ids,
        " AND at > $2 ORDER BY member_id, seq",
        &[since],
    )
    .await?
    .rows()
    {
        let (mid, g) = growth_row(&r)?;
        if let Some(m) = out.get_mut(&mid) {
            m.account.load_growth_entry(g);
        }
    }
    Ok(())
}

/// Growth for a write: members asking for the same ranges share their queries (the
/// engine rounds the ranges so that most do). Both the entries and the sums are read
/// through the index on (member_id, at, amount).
pub(super) async fn load_growth_for_write(
    conn: &mut <Db as sqlx::Database>::Connection,
    wanted: &[GrowthLoad],
) -> Result<LoadedGrowth> {
    type Ranges = (i64, Option<(i64, i64)>);
    let mut groups: std::collections::BTreeMap<Ranges, Vec<String>> = std::collections::BTreeMap::new();
    for w in wanted {
        let summed = w.summed.map(|(a, b)| (micros(a), micros(b)));
        groups.entry((micros(w.after), summed)).or_default().push(w.member.as_str().to_owned());
    }
    let (mut entries, mut sums) = (Vec::new(), Vec::new());
    let head = format!("SELECT {GROWTH_COLS} FROM growth_entries WHERE member_id");
    let member = |mid: &str| MemberId::parse(mid).map_err(|e| corrupt("growth_entries", e.0));
    for ((after, summed), ids) in groups {
        let ranges = match summed {
            None => vec![(" AND at > $2", vec![after])],
            Some((a, b)) => vec![(" AND at > $2 AND at <= $3", vec![after, a]), (" AND at > $2", vec![b])],
        };
        for range in ranges {
            for r in select_in(
                &mut *conn,
                GROWTH_COLS,
                "growth_entries",
                &head,
                &ids,
                &format!("{} ORDER BY member_id, seq", range.0),
                &range.1,
            )
            .await?
            .rows()
            {
                let (mid, g) = growth_row(&r)?;
                entries.push((member(&mid)?, g));
            }
        }
        if let Some((a, b)) = summed {
            let head = "SELECT member_id, CAST(SUM(amount) AS BIGINT) AS total FROM growth_entries WHERE member_id";
            for r in select_in(
                &mut *conn,
                "member_id, total",
                "growth_entries",
                head,
                &ids,
                " AND at > $2 AND at <= $3 GROUP BY member_id",
                &[a, b],
            )
            .await?
            .rows()
            {
                let mid = r.text("member_id")?;
                sums.push((member(&mid)?, r.i64("total")?));
            }
        }
    }
    Ok((entries, sums))
}

pub(super) async fn select_actions(
    conn: &mut <Db as sqlx::Database>::Connection,
    member: &MemberId,
    kind: ActionKind,
    since: i64,
    id: Option<&str>,
) -> Result<Vec<Action>> {
    let mut qb: QueryBuilder<Db> =
        QueryBuilder::new(format!("SELECT {ACTION_COLS} FROM member_actions WHERE member_id = "));
    qb.push_bind(member.as_str().to_owned()).push(" AND kind = ").push_bind(kind.as_str());
    match id {
        Some(id) => qb.push(" AND action_id = ").push_bind(id.to_owned()),
        None => qb.push(" AND occurred_at >= ").push_bind(since),
    };
    qb.push(" ORDER BY occurred_at LIMIT 10000");
    qb.build().fetch_all(&mut *conn).await?.iter().map(action_row).collect()
}

pub(super) async fn write_tier_changes(
    conn: &mut <Db as sqlx::Database>::Connection,
    c: &Changes,
    recorded_at: i64,
) -> Result<()> {
    insert_rows(conn, "growth_entries", GROWTH_COLS, "", &c.growth, |s, (m, g)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(g.seq);
        s.push_bind(g.kind.as_str());
        s.push_bind(g.amount);
        s.push_bind(g.source_id.clone());
        s.push_bind(micros(g.at));
        s.push_bind(g.total_after);
        s.push_bind(recorded_at);
    })
    .await?;
    insert_rows(conn, "tier_events", TIER_EVENT_COLS, "", &c.tier_events, |s, (m, e)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(e.seq);
        s.push_bind(e.kind.as_str());
        s.push_bind(e.from.clone());
        s.push_bind(e.to.clone());
        s.push_bind(micros(e.at));
        s.push_bind(e.growth_in_window);
        s.push_bind(e.growth_needed);
        s.push_bind(e.deadline.map(micros));
        s.push_bind(e.detail.clone());
        s.push_bind(recorded_at);
    })
    .await?;
    insert_rows(conn, "member_actions", ACTION_COLS, "", &c.actions, |s, (m, a)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(a.kind.as_str());
        s.push_bind(a.action_id.clone());
        s.push_bind(a.action_type.clone());
        s.push_bind(micros(a.occurred_at));
        s.push_bind(a.reference.clone());
        s.push_bind(a.growth);
        s.push_bind(a.points);
        s.push_bind(a.note.clone());
        s.push_bind(micros(a.created_at));
    })
    .await?;
    write_benefit_uses(conn, c, recorded_at).await
}

/// One `benefit_uses` row per benefit of each order in the batch and per free-sample
/// claim. An order's benefits never change once it is placed, so rows already there
/// (an order written again because a refund changed its totals) are left as they are.
pub(super) async fn write_benefit_uses(
    conn: &mut <Db as sqlx::Database>::Connection,
    c: &Changes,
    recorded_at: i64,
) -> Result<()> {
    // (member, source kind, source id, benefit, tier, used at, value, extra points, plan)
    type UseRow<'a> = (&'a str, &'static str, &'a str, &'a str, &'a str, i64, i64, i64, Option<&'a str>);
    let mut rows: Vec<UseRow<'_>> = Vec::new();
    for o in &c.orders {
        for b in o.benefits.iter().filter(|b| !b.tier.is_empty()) {
            let v = &o.order;
            rows.push((
                v.member_id.as_str(),
                "order",
                v.id.as_str(),
                &b.code,
                &b.tier,
                micros(v.paid_at),
                b.value_minor,
                b.extra_points,
                b.plan.as_deref(),
            ));
        }
    }
    let tiers: HashMap<&str, &str> =
        c.members.iter().map(|m| (m.account.member_id().as_str(), m.account.tier().code.as_str())).collect();
    for (m, a) in c.actions.iter().filter(|(_, a)| a.kind == ActionKind::Claim) {
        let tier = tiers.get(m.as_str()).copied().unwrap_or_default();
        rows.push((
            m.as_str(),
            "claim",
            &a.action_id,
            loyalty_core::usage::FREE_SAMPLE,
            tier,
            micros(a.occurred_at),
            0,
            0,
            None,
        ));
    }
    insert_rows(
        conn,
        "benefit_uses",
        "member_id, source_kind, source_id, benefit, tier, used_at, value_minor, extra_points, plan, recorded_at",
        " ON CONFLICT DO NOTHING",
        &rows,
        |s, r| {
            s.push_bind(r.0.to_owned());
            s.push_bind(r.1);
            s.push_bind(r.2.to_owned());
            s.push_bind(r.3.to_owned());
            s.push_bind(r.4.to_owned());
            s.push_bind(r.5);
            s.push_bind(r.6);
            s.push_bind(r.7);
            s.push_bind(r.8.map(str::to_owned));
            s.push_bind(recorded_at);
        },
    )
    .await
}
