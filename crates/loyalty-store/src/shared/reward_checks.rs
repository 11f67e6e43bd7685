//! The mall's and the lottery's invariants for `verify`, and their reports, on this backend.

use super::dialect::*;
use super::rows::DbRow;
use crate::rewards::*;
use crate::*;
use loyalty_core::ids::*;
use loyalty_core::rewards::RedemptionStatus;
use sqlx::Row;

// Sums are cast back to BIGINT: PostgreSQL widens SUM(bigint) to numeric.
fn n(r: &DbRow, c: &str) -> Result<i64> {
    Ok(r.try_get::<i64, _>(c)?)
}

pub(super) async fn reward_report(store: &StoreImpl, id: &RewardId) -> Result<RewardReport> {
    let rows = sqlx::query(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n, CAST(SUM(quantity) AS BIGINT) AS units, \
           CAST(SUM(points) AS BIGINT) AS points, CAST(SUM(cash_minor) AS BIGINT) AS cash \
         FROM redemptions WHERE reward_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(id.as_str().to_owned())
    .fetch_all(&store.pool)
    .await?;
    let mut out = RewardReport::default();
    for r in rows {
        let status: String = r.try_get("status")?;
        let status = RedemptionStatus::parse(&status)
            .ok_or_else(|| crate::convert::corrupt("redemptions", format!("status {status:?}")))?;
        out.redemptions += n(&r, "n")?;
        if status == RedemptionStatus::Cancelled {
            out.cancelled_units += n(&r, "units")?;
        } else {
            out.units += n(&r, "units")?;
            out.points += n(&r, "points")?;
            out.cash_minor += n(&r, "cash")?;
        }
        out.by_status.push((status, n(&r, "n")?));
    }
    out.stock_left = store.reward(id).await?.and_then(|r| r.left());
    Ok(out)
}

pub(super) async fn lottery_report(store: &StoreImpl, id: &LotteryId) -> Result<LotteryReport> {
    let totals = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS draws, CAST(COALESCE(SUM(free), 0) AS BIGINT) AS free_draws, \
           CAST(COUNT(DISTINCT member_id) AS BIGINT) AS members, CAST(COALESCE(SUM(points_spent), 0) AS BIGINT) AS points, \
           CAST(COALESCE(SUM(cost_minor), 0) AS BIGINT) AS spent, \
           CAST(COALESCE(SUM(CASE WHEN fell_back IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS fell_back \
         FROM draws WHERE lottery_id = $1",
    )
    .bind(id.as_str().to_owned())
    .fetch_one(&store.pool)
    .await?;
    let prizes = sqlx::query(
        "SELECT prize, CAST(COUNT(*) AS BIGINT) AS given, CAST(SUM(cost_minor) AS BIGINT) AS cost \
         FROM draws WHERE lottery_id = $1 GROUP BY prize ORDER BY prize",
    )
    .bind(id.as_str().to_owned())
    .fetch_all(&store.pool)
    .await?;
    Ok(LotteryReport {
        draws: n(&totals, "draws")?,
        free_draws: n(&totals, "free_draws")?,
        members: n(&totals, "members")?,
        points: n(&totals, "points")?,
        spent_minor: n(&totals, "spent")?,
        fell_back: n(&totals, "fell_back")?,
        prizes: prizes
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("prize")?, n(r, "given")?, n(r, "cost")?)))
            .collect::<Result<_>>()?,
    })
}

/// The invariants (`Rewards::check_rewards`).
pub(super) async fn check(store: &StoreImpl, program: &loyalty_core::Program) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let checks: [(&str, &str); 7] = [
        (
            "SELECT r.reward_id || ': redeemed ' || CAST(r.redeemed AS TEXT) || ' but its redemptions not cancelled hold ' || CAST(COALESCE(SUM(x.quantity), 0) AS TEXT) \
             FROM rewards r LEFT JOIN redemptions x ON x.reward_id = r.reward_id AND x.status <> 'cancelled' \
             GROUP BY r.reward_id, r.redeemed HAVING COALESCE(SUM(x.quantity), 0) <> r.redeemed",
            "reward",
        ),
        (
            "SELECT reward_id || ': redeemed ' || CAST(redeemed AS TEXT) || ', more than its stock ' || CAST(stock AS TEXT) \
             FROM rewards WHERE stock IS NOT NULL AND redeemed > stock",
            "reward",
        ),
        (
            "SELECT x.member_id || '/' || x.redemption_id || ': of reward ' || x.reward_id || ', which does not exist' \
             FROM redemptions x LEFT JOIN rewards r ON r.reward_id = x.reward_id WHERE r.reward_id IS NULL",
            "redemption",
        ),
        // A redemption's points are one spend entry; a cancelled one's also one restore.
        (
            "SELECT x.member_id || '/' || x.redemption_id || ': ' || x.status || ' for ' || CAST(x.points AS TEXT) || ' points, but the ledger spent ' \
               || CAST(COALESCE(SUM(CASE WHEN e.kind = 'spend' THEN -e.points ELSE 0 END), 0) AS TEXT) || ' and restored ' \
               || CAST(COALESCE(SUM(CASE WHEN e.kind = 'restore' THEN e.points ELSE 0 END), 0) AS TEXT) \
             FROM redemptions x LEFT JOIN entries e ON e.member_id = x.member_id AND e.source_kind = 'redemption' AND e.source_id = x.redemption_id \
             GROUP BY x.member_id, x.redemption_id, x.status, x.points \
             HAVING COALESCE(SUM(CASE WHEN e.kind = 'spend' THEN -e.points ELSE 0 END), 0) <> x.points \
                OR COALESCE(SUM(CASE WHEN e.kind = 'restore' THEN e.points ELSE 0 END), 0) <> (CASE WHEN x.status = 'cancelled' THEN x.points ELSE 0 END)",
            "redemption",
        ),
        (
            "SELECT l.lottery_id || ': ' || CAST(l.draws AS TEXT) || ' draws costing ' || CAST(l.spent_minor AS TEXT) || ', but its draws are ' \
               || CAST(COUNT(d.draw_id) AS TEXT) || ' costing ' || CAST(COALESCE(SUM(d.cost_minor), 0) AS TEXT) \
             FROM lotteries l LEFT JOIN draws d ON d.lottery_id = l.lottery_id \
             GROUP BY l.lottery_id, l.draws, l.spent_minor \
             HAVING COUNT(d.draw_id) <> l.draws OR COALESCE(SUM(d.cost_minor), 0) <> l.spent_minor",
            "lottery",
        ),
        (
            "SELECT p.lottery_id || '/' || p.prize_id || ': given ' || CAST(p.given AS TEXT) || ' but drawn ' || CAST(COUNT(d.draw_id) AS TEXT) \
             FROM lottery_prizes p LEFT JOIN draws d ON d.lottery_id = p.lottery_id AND d.prize = p.prize_id \
             GROUP BY p.lottery_id, p.prize_id, p.given HAVING COUNT(d.draw_id) <> p.given",
            "prize",
        ),
        (
            "SELECT d.member_id || '/' || d.draw_id || ': cost ' || CAST(d.points_spent AS TEXT) || ' points, but the ledger spent ' \
               || CAST(COALESCE(SUM(-e.points), 0) AS TEXT) \
             FROM draws d LEFT JOIN entries e ON e.member_id = d.member_id AND e.source_kind = 'draw' AND e.source_id = d.draw_id AND e.kind = 'spend' \
             GROUP BY d.member_id, d.draw_id, d.points_spent HAVING COALESCE(SUM(-e.points), 0) <> d.points_spent",
            "draw",
        ),
    ];
    for (sql, what) in checks {
        for r in sqlx::query(sql).fetch_all(&store.pool).await? {
            out.push(format!("{what} {}", r.try_get::<String, _>(0)?));
        }
    }
    // Per-member limits: the mall's redemptions not cancelled. A lottery's goods prize is a
    // redemption too (its `draw_id` set), given without the item's limits, so it is left out:
    // what the mall sold under a limit is never more than the limit, whatever the draws gave.
    let mut limited = std::collections::HashMap::new();
    let mut after = String::new();
    loop {
        let page = store.rewards(Some(&after), 500).await?;
        for r in &page {
            if r.terms.limits != loyalty_core::coupons::template::Limits::default() {
                limited.insert(r.id.to_string(), r.terms.limits.clone());
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = last.id.to_string(),
            _ => break,
        }
    }
    let sql = "SELECT member_id, redemption_id AS k, reward_id AS item, created_at AS at, quantity AS units FROM redemptions \
               WHERE (member_id, redemption_id) > ($1, $2) AND status <> 'cancelled' AND draw_id IS NULL \
               ORDER BY member_id, redemption_id LIMIT $3";
    super::coupon_checks::limit_pass(store, program, ("redemptions", sql), &limited, |member, reward, o| {
        let n = o.obtained;
        out.push(match o.from {
            None => format!("redemption {member}/*: {n} units of reward {reward}, over its lifetime limit {}", o.limit),
            Some(from) => format!(
                "redemption {member}/*: {n} units of reward {reward} redeemed in the {} from {}, over its per-{} limit {}",
                o.period,
                loyalty_core::calendar::rfc3339(from, &program.tz),
                o.period,
                o.limit
            ),
        })
    })
    .await?;
    // A lottery's draws per member and local day stay within its `max_draws_per_day`.
    let mut capped = std::collections::HashMap::new();
    let mut after = String::new();
    loop {
        let page = store.lotteries(Some(&after), 100).await?;
        for l in &page {
            if let Some(max) = l.terms.max_draws_per_day {
                let limits = loyalty_core::coupons::template::Limits { per_day: Some(max), ..Default::default() };
                capped.insert(l.id.to_string(), limits);
            }
        }
        match page.last() {
            Some(last) if page.len() == 100 => after = last.id.to_string(),
            _ => break,
        }
    }
    let sql = "SELECT member_id, draw_id AS k, lottery_id AS item, at, CAST(1 AS BIGINT) AS units FROM draws \
               WHERE (member_id, draw_id) > ($1, $2) ORDER BY member_id, draw_id LIMIT $3";
    super::coupon_checks::limit_pass(store, program, ("draws", sql), &capped, |member, lottery, o| {
        let day = o.from.map(|f| loyalty_core::calendar::rfc3339(f, &program.tz)).unwrap_or_default();
        out.push(format!(
            "draw {member}/*: {} draws in lottery {lottery} on the day from {day}, over its max_draws_per_day {}",
            o.obtained, o.limit
        ))
    })
    .await?;
    // Every draw's pick is what its lottery's secret derives (an edited outcome is caught).
    let mut after = String::new();
    loop {
        let page = store.lotteries(Some(&after), 100).await?;
        for l in &page {
            // Keyset pages of the lottery's draws, so a lottery of millions is never read whole.
            let (mut m_after, mut d_after) = (String::new(), String::new());
            loop {
                let rows = sqlx::query(
                    "SELECT member_id, draw_id, roll, picked FROM draws WHERE lottery_id = $1 \
                     AND (member_id > $2 OR (member_id = $2 AND draw_id > $3)) ORDER BY member_id, draw_id LIMIT 5000",
                )
                .bind(l.id.as_str().to_owned())
                .bind(m_after.clone())
                .bind(d_after.clone())
                .fetch_all(&store.pool)
                .await?;
                for r in &rows {
                    let (m, d): (String, String) = (r.try_get("member_id")?, r.try_get("draw_id")?);
                    let (roll, picked): (String, String) = (r.try_get("roll")?, r.try_get("picked")?);
                    let (Ok(member), Ok(draw)) = (MemberId::parse(&m), DrawId::parse(&d)) else {
                        out.push(format!("draw {m}/{d}: ids do not parse"));
                        continue;
                    };
                    let (derived, matches) = l.check_roll((&member, &draw), (&roll, &picked));
                    if !matches {
                        out.push(format!(
                            "draw {m}/{d}: stored pick {picked} is not what lottery {}'s secret derives ({derived})",
                            l.id
                        ));
                    }
                }
                match rows.last() {
                    Some(last) if rows.len() == 5000 => {
                        m_after = last.try_get("member_id")?;
                        d_after = last.try_get("draw_id")?;
                    }
                    _ => break,
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 100 => after = last.id.to_string(),
            _ => break,
        }
    }
    Ok(out)
}
