//! The referral report for operations and `verify`'s referral checks on this backend.

use super::dialect::*;
use crate::referrals::*;
use crate::*;
use sqlx::Row;

type Pool = sqlx::Pool<Db>;

async fn count(pool: &Pool, sql: &str, from: i64, to: i64) -> Result<i64> {
    Ok(sqlx::query(sql).bind(from).bind(to).fetch_one(pool).await?.try_get("n")?)
}

pub(super) async fn report(pool: &Pool, from: i64, to: i64) -> Result<ReferralReport> {
    let mut out = ReferralReport {
        invitations: count(
            pool,
            "SELECT COUNT(*) AS n FROM referrals WHERE created_at >= $1 AND created_at < $2",
            from,
            to,
        )
        .await?,
        conversions: count(
            pool,
            "SELECT COUNT(*) AS n FROM referrals WHERE ordered_at >= $1 AND ordered_at < $2",
            from,
            to,
        )
        .await?,
        ..Default::default()
    };
    // A refusal counts when it was decided: the cap's when the reward would have been paid,
    // the others when the invitation was made.
    let refused = sqlx::query(
        "SELECT reason, COUNT(*) AS n FROM referrals WHERE reason IS NOT NULL \
         AND COALESCE(settled_at, created_at) >= $1 AND COALESCE(settled_at, created_at) < $2 \
         GROUP BY reason ORDER BY reason",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in &refused {
        out.refused.push((r.try_get("reason")?, r.try_get("n")?));
    }
    let paid = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(referrer_points + invitee_points), 0) AS BIGINT) AS points, \
         CAST(COALESCE(SUM(referrer_growth + invitee_growth), 0) AS BIGINT) AS growth, \
         CAST(COALESCE(SUM(CASE WHEN referrer_coupon IS NULL THEN 0 ELSE 1 END \
                         + CASE WHEN invitee_coupon IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS coupons \
         FROM referrals WHERE state = 'rewarded' AND settled_at >= $1 AND settled_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    out.rewarded = paid.try_get("n")?;
    out.cost_points = paid.try_get("points")?;
    out.cost_growth = paid.try_get("growth")?;
    out.cost_coupons = paid.try_get("coupons")?;
    let top = sqlx::query(
        "SELECT referrer_id, COUNT(*) AS n, CAST(SUM(referrer_points + invitee_points) AS BIGINT) AS points \
         FROM referrals WHERE state = 'rewarded' AND settled_at >= $1 AND settled_at < $2 \
         GROUP BY referrer_id ORDER BY n DESC, referrer_id LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(TOP_REFERRERS)
    .fetch_all(pool)
    .await?;
    for r in &top {
        out.top_referrers.push((r.try_get("referrer_id")?, r.try_get("n")?, r.try_get("points")?));
    }
    Ok(out)
}

/// Each sentence names `referral INVITEE/REFERRER` or `referrer ID/MONTH` first, so that
/// `verify` reports the member.
pub(super) async fn problems(pool: &Pool, monthly_cap: i64, limit: i64) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let side = |who: &str| {
        format!(
            "CAST(COALESCE((SELECT SUM(e.points) FROM entries e WHERE e.member_id = r.{who}_id AND e.kind = 'earn' \
             AND e.source_kind = 'referral' AND e.source_id = 'referral/' || r.invitee_id), 0) AS BIGINT)"
        )
    };
    let ledger = sqlx::query(&format!(
        "SELECT * FROM (SELECT r.referrer_id, r.invitee_id, r.referrer_points, r.invitee_points, \
         {} AS referrer_ledger, {} AS invitee_ledger FROM referrals r WHERE r.state = 'rewarded') AS x \
         WHERE referrer_ledger <> referrer_points OR invitee_ledger <> invitee_points \
         ORDER BY invitee_id LIMIT $1",
        side("referrer"),
        side("invitee")
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for r in &ledger {
        out.push(format!(
            "referral {}/{}: rewarded {} and {} points (referrer, invitee), the ledger credited {} and {}",
            r.try_get::<String, _>("invitee_id")?,
            r.try_get::<String, _>("referrer_id")?,
            r.try_get::<i64, _>("referrer_points")?,
            r.try_get::<i64, _>("invitee_points")?,
            r.try_get::<i64, _>("referrer_ledger")?,
            r.try_get::<i64, _>("invitee_ledger")?,
        ));
    }
    if monthly_cap > 0 {
        let over = sqlx::query(
            "SELECT referrer_id, settled_month, COUNT(*) AS n FROM referrals WHERE state = 'rewarded' \
             GROUP BY referrer_id, settled_month HAVING COUNT(*) > $1 ORDER BY referrer_id LIMIT $2",
        )
        .bind(monthly_cap)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        for r in &over {
            let month: Option<i64> = r.try_get("settled_month")?;
            out.push(format!(
                "referrer {}/{}: {} invitees rewarded in the month, over the cap of {monthly_cap}",
                r.try_get::<String, _>("referrer_id")?,
                month.map_or_else(|| "?".to_owned(), loyalty_core::engagement::referral::month_text),
                r.try_get::<i64, _>("n")?,
            ));
        }
    }
    let twice = sqlx::query(
        "SELECT invitee_id, COUNT(*) AS n FROM referrals WHERE state <> 'refused' \
         GROUP BY invitee_id HAVING COUNT(*) > 1 ORDER BY invitee_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    for r in &twice {
        out.push(format!(
            "invitee {}/: {} live referrals, at most one",
            r.try_get::<String, _>("invitee_id")?,
            r.try_get::<i64, _>("n")?
        ));
    }
    out.truncate(limit.max(0) as usize);
    Ok(out)
}
