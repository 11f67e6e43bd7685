//! Gifts on this backend: the write transaction's load of the members' recent gift keys, what
//! a batch writes, and the reads of `Gifts`.

use super::dialect::*;
use super::load::select_in;
use super::rows::One;
use super::write::insert_rows;
use crate::convert::*;
use crate::gifts::*;
use crate::*;
use loyalty_core::engagement::gifts::{valid_period, Gift, GiftKind};
use loyalty_core::ids::{CouponId, MemberId};
use sqlx::Row;
use std::collections::HashSet;

const COLS: &str = "member_id, kind, period, at, status, coupons, not_given";

type Conn = <Db as sqlx::Database>::Connection;

fn gift_row(r: &impl Cells) -> Result<Gift> {
    let t = "gifts";
    Ok(Gift {
        member_id: MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        kind: GiftKind::parse(&r.text("kind")?).ok_or_else(|| corrupt(t, "kind"))?,
        period: r.text("period")?,
        at: ts(t, r.i64("at")?)?,
        coupons: json(t, &r.text("coupons")?)?,
        not_given: json(t, &r.text("not_given")?)?,
    })
}

/// The gift keys of `ids` recorded at or after `since` (microseconds): every row a gift due
/// now or next could collide with.
pub(super) async fn load_gifts(
    conn: &mut Conn,
    ids: &[String],
    since: i64,
) -> Result<HashMap<MemberId, Vec<(GiftKind, String)>>> {
    let mut out: HashMap<MemberId, Vec<(GiftKind, String)>> = HashMap::new();
    let head = format!("SELECT {COLS} FROM gifts WHERE member_id");
    for r in select_in(&mut *conn, COLS, "gifts", &head, ids, " AND at >= $2", &[since]).await?.rows() {
        let g = gift_row(&r)?;
        out.entry(g.member_id).or_default().push((g.kind, g.period));
    }
    Ok(out)
}

/// New gift rows are inserted: a second row for a member's kind and period is an error that
/// fails the batch, never a second gift.
pub(super) async fn write_gifts(conn: &mut Conn, c: &Changes) -> Result<()> {
    insert_rows(conn, "gifts", COLS, "", &c.gifts, |s, g| {
        s.push_bind(g.member_id.as_str().to_owned());
        s.push_bind(g.kind.as_str());
        s.push_bind(g.period.clone());
        s.push_bind(micros(g.at));
        s.push_bind(g.status());
        s.push_bind(serde_json::to_string(&g.coupons).expect("ids serialise"));
        s.push_bind(serde_json::to_string(&g.not_given).expect("text serialises"));
    })
    .await
}

#[async_trait::async_trait]
impl Gifts for StoreImpl {
    async fn due_gifts(&self, due: &GiftDue, after: Option<&MemberId>, limit: i64) -> Result<Vec<MemberId>> {
        let after = after.map_or_else(String::new, |m| m.as_str().to_owned());
        let rows = match due {
            // `substr(birthday, 6, 5)` is the expression the partial index of 0015 holds.
            GiftDue::Birthday { from, to, period } => {
                sqlx::query(
                    "SELECT m.member_id FROM members m WHERE m.birthday IS NOT NULL \
                     AND substr(m.birthday, 6, 5) BETWEEN $1 AND $2 AND m.status = 'active' AND m.member_id > $3 \
                     AND NOT EXISTS (SELECT 1 FROM gifts g WHERE g.member_id = m.member_id \
                     AND g.kind = 'birthday' AND g.period = $4) ORDER BY m.member_id LIMIT $5",
                )
                .bind(from.clone())
                .bind(to.clone())
                .bind(after)
                .bind(period.clone())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            GiftDue::MemberDay { tiers, period } => {
                let sql = format!(
                    "SELECT m.member_id FROM members m WHERE m.status = 'active' AND ($2 = 1 OR m.tier {IDS}) \
                     AND m.member_id > $3 AND NOT EXISTS (SELECT 1 FROM gifts g WHERE g.member_id = m.member_id \
                     AND g.kind = 'member_day' AND g.period = $4) ORDER BY m.member_id LIMIT $5"
                );
                sqlx::query(&sql)
                    .bind(serde_json::to_string(tiers).expect("codes serialise"))
                    .bind(i64::from(tiers.is_empty()))
                    .bind(after)
                    .bind(period.clone())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| MemberId::parse(&r.try_get::<String, _>("member_id")?).map_err(|e| corrupt("members", e.0)))
            .collect()
    }

    async fn member_gifts(&self, member: &MemberId, before: Option<(&str, &str)>, limit: i64) -> Result<Vec<Gift>> {
        // Periods sort as text (`2026-12` after `2026`), newest first, then the kind.
        let (period, kind) = before.map_or(("9999", "~"), |(k, p)| (p, k));
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM gifts WHERE member_id = $1 AND (period < $2 OR (period = $2 AND kind < $3)) \
             ORDER BY period DESC, kind DESC LIMIT $4"
        ))
        .bind(member.as_str().to_owned())
        .bind(period.to_owned())
        .bind(kind.to_owned())
        .bind(limit.clamp(1, MAX_GIFTS_READ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| gift_row(&One(r))).collect()
    }

    async fn gift_problems(&self, limit: i64) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut after = (String::new(), String::new(), String::new());
        loop {
            let page = sqlx::query(&format!(
                "SELECT {COLS} FROM gifts WHERE (member_id, kind, period) > ($1, $2, $3) \
                 ORDER BY member_id, kind, period LIMIT 1000"
            ))
            .bind(after.0.clone())
            .bind(after.1.clone())
            .bind(after.2.clone())
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = page.last() else { break };
            after = (last.try_get("member_id")?, last.try_get("kind")?, last.try_get("period")?);
            let gifts: Vec<Gift> = page.iter().map(|r| gift_row(&One(r))).collect::<Result<_>>()?;
            let statuses: Vec<String> =
                page.iter().map(|r| r.try_get("status")).collect::<std::result::Result<_, _>>()?;
            let held = coupons_of(&self.pool, &gifts).await?;
            for (g, status) in gifts.iter().zip(statuses) {
                let name = format!("gift {}/{}/{}", g.member_id, g.kind.as_str(), g.period);
                if !valid_period(g.kind, &g.period) {
                    out.push(format!("{name}: period {:?} is not one of its kind", g.period));
                }
                if status != g.status() {
                    out.push(format!("{name}: status {status}, but it holds {} coupons", g.coupons.len()));
                }
                for c in g.coupons.iter().filter(|c| !held.contains(&(g.member_id.clone(), (*c).clone()))) {
                    out.push(format!("{name}: coupon {c} is not a coupon of the member"));
                }
            }
            if out.len() as i64 >= limit {
                break;
            }
        }
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }
}

/// Which of the gifts' coupons exist as coupons of the gift's member: one read per page.
async fn coupons_of(pool: &sqlx::Pool<Db>, gifts: &[Gift]) -> Result<HashSet<(MemberId, CouponId)>> {
    let mut members: Vec<String> = gifts.iter().map(|g| g.member_id.as_str().to_owned()).collect();
    members.dedup();
    let list = serde_json::to_string(&members).expect("ids serialise");
    let rows = sqlx::query(&format!("SELECT member_id, coupon_id FROM coupons WHERE member_id {IDS}"))
        .bind(list)
        .fetch_all(pool)
        .await?;
    let mut out = HashSet::new();
    for r in &rows {
        let m = MemberId::parse(&r.try_get::<String, _>("member_id")?).map_err(|e| corrupt("coupons", e.0))?;
        let c = CouponId::parse(&r.try_get::<String, _>("coupon_id")?).map_err(|e| corrupt("coupons", e.0))?;
        out.insert((m, c));
    }
    Ok(out)
}
