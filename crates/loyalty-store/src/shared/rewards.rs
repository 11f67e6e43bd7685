//! The points mall and the lottery on this backend: the catalogue, redemptions, lotteries and
//! draws (`Rewards`), the write transaction's load of them and what a batch writes.

use super::dialect::*;
use super::rows::{lot_row, One, LOT_COLS};
use super::write::insert_rows;
use crate::convert::*;
use crate::rewards::*;
use crate::*;
use loyalty_core::coupons::TemplateStatus;
use loyalty_core::ids::*;
use loyalty_core::rewards::{Draw, Lottery, LotteryInput, Redemption, RedemptionStatus, Reward, RewardInput};
use sqlx::Row;

const REWARD_COLS: &str = "reward_id, terms, status, stock, redeemed, created_at, updated_at";
const REDEMPTION_COLS: &str = "member_id, redemption_id, reward_id, quantity, points, cash_minor, item, status, address, tracking, allocations, coupons, draw_id, created_at, updated_at";
const LOTTERY_COLS: &str =
    "lottery_id, terms, status, secret, budget_minor, spent_minor, draws, created_at, updated_at";
const DRAW_COLS: &str = "member_id, draw_id, lottery_id, roll, picked, prize, fell_back, points_spent, free, cost_minor, at, coupon_id, redemption_id";

fn status(t: &'static str, raw: &str) -> Result<TemplateStatus> {
    parse_enum(t, raw, TemplateStatus::parse)
}

fn reward_row(r: &impl Cells) -> Result<Reward> {
    let t = "rewards";
    let mut terms: RewardInput = json(t, &r.text("terms")?)?;
    terms.stock = r.opt_i64("stock")?;
    Ok(Reward {
        id: RewardId::parse(&r.text("reward_id")?).map_err(|e| corrupt(t, e.0))?,
        terms,
        status: status(t, &r.text("status")?)?,
        redeemed: r.i64("redeemed")?,
        created_at: ts(t, r.i64("created_at")?)?,
        updated_at: ts(t, r.i64("updated_at")?)?,
    })
}

fn redemption_row(r: &impl Cells) -> Result<Redemption> {
    let t = "redemptions";
    Ok(Redemption {
        member_id: MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        redemption_id: RedemptionId::parse(&r.text("redemption_id")?).map_err(|e| corrupt(t, e.0))?,
        reward_id: RewardId::parse(&r.text("reward_id")?).map_err(|e| corrupt(t, e.0))?,
        quantity: r.i64("quantity")?,
        points: r.i64("points")?,
        cash_minor: r.i64("cash_minor")?,
        item: json(t, &r.text("item")?)?,
        status: parse_enum(t, &r.text("status")?, RedemptionStatus::parse)?,
        address: r.opt_text("address")?.map(|a| json(t, &a)).transpose()?,
        tracking: r.opt_text("tracking")?,
        allocations: json(t, &r.text("allocations")?)?,
        coupons: json(t, &r.text("coupons")?)?,
        draw: r.opt_text("draw_id")?.map(|d| DrawId::parse(&d).map_err(|e| corrupt(t, e.0))).transpose()?,
        created_at: ts(t, r.i64("created_at")?)?,
        updated_at: ts(t, r.i64("updated_at")?)?,
        dirty: false,
    })
}

fn lottery_row(r: &impl Cells) -> Result<Lottery> {
    let t = "lotteries";
    let mut terms: LotteryInput = json(t, &r.text("terms")?)?;
    terms.budget_minor = r.opt_i64("budget_minor")?;
    let given = vec![0; terms.prizes.len()];
    Ok(Lottery {
        id: LotteryId::parse(&r.text("lottery_id")?).map_err(|e| corrupt(t, e.0))?,
        terms,
        status: status(t, &r.text("status")?)?,
        secret: r.text("secret")?,
        given,
        spent_minor: r.i64("spent_minor")?,
        draws: r.i64("draws")?,
        created_at: ts(t, r.i64("created_at")?)?,
        updated_at: ts(t, r.i64("updated_at")?)?,
    })
}

fn draw_row(r: &impl Cells) -> Result<Draw> {
    let t = "draws";
    Ok(Draw {
        member_id: MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        draw_id: DrawId::parse(&r.text("draw_id")?).map_err(|e| corrupt(t, e.0))?,
        lottery_id: LotteryId::parse(&r.text("lottery_id")?).map_err(|e| corrupt(t, e.0))?,
        roll: r.text("roll")?,
        picked: r.text("picked")?,
        prize: r.text("prize")?,
        fell_back: r.opt_text("fell_back")?,
        points_spent: r.i64("points_spent")?,
        free: r.i64("free")? != 0,
        cost_minor: r.i64("cost_minor")?,
        at: ts(t, r.i64("at")?)?,
        coupon: r.opt_text("coupon_id")?.map(|c| CouponId::parse(&c).map_err(|e| corrupt(t, e.0))).transpose()?,
        redemption: r
            .opt_text("redemption_id")?
            .map(|c| RedemptionId::parse(&c).map_err(|e| corrupt(t, e.0)))
            .transpose()?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("stored values serialise")
}

type Conn = <Db as sqlx::Database>::Connection;

/// Each lottery's prize counts, into the lotteries.
async fn prizes_into(conn: &mut Conn, lotteries: &mut [Lottery]) -> Result<()> {
    for l in lotteries {
        let rows = sqlx::query("SELECT prize_id, given FROM lottery_prizes WHERE lottery_id = $1")
            .bind(l.id.as_str().to_owned())
            .fetch_all(&mut *conn)
            .await?;
        for r in rows {
            let id: String = r.try_get("prize_id")?;
            let i = l
                .terms
                .prizes
                .iter()
                .position(|p| p.id == id)
                .ok_or_else(|| corrupt("lottery_prizes", format!("prize {id} is not one of lottery {}'s", l.id)))?;
            l.given[i] = r.try_get("given")?;
        }
    }
    Ok(())
}

async fn lotteries_where(conn: &mut Conn, sql_tail: &str, binds: &[String], lock: &str) -> Result<Vec<Lottery>> {
    let sql = format!("SELECT {LOTTERY_COLS} FROM lotteries {sql_tail}{lock}");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b.clone());
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out = rows.iter().map(|r| lottery_row(&One(r))).collect::<Result<Vec<_>>>()?;
    prizes_into(conn, &mut out).await?;
    Ok(out)
}

#[async_trait::async_trait]
impl Rewards for StoreImpl {
    async fn insert_reward(&self, r: &Reward) -> Result<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO rewards ({REWARD_COLS}) VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT DO NOTHING"
        ))
        .bind(r.id.as_str().to_owned())
        .bind(to_json(&r.terms))
        .bind(r.status.as_str())
        .bind(r.terms.stock)
        .bind(micros(r.created_at))
        .bind(micros(r.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reward(&self, id: &RewardId) -> Result<Option<Reward>> {
        let row = sqlx::query(&format!("SELECT {REWARD_COLS} FROM rewards WHERE reward_id = $1"))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| reward_row(&One(r))).transpose()
    }

    async fn rewards(&self, after: Option<&str>, limit: i64) -> Result<Vec<Reward>> {
        let rows =
            sqlx::query(&format!("SELECT {REWARD_COLS} FROM rewards WHERE reward_id > $1 ORDER BY reward_id LIMIT $2"))
                .bind(after.unwrap_or("").to_owned())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| reward_row(&One(r))).collect()
    }

    async fn update_reward(&self, r: &Reward) -> Result<bool> {
        // The stock is tested against `redeemed` as it is when this runs, not as it was read.
        let done = sqlx::query(
            "UPDATE rewards SET terms = $2, status = $3, stock = $4, updated_at = $5 \
             WHERE reward_id = $1 AND ($4 IS NULL OR redeemed <= $4)",
        )
        .bind(r.id.as_str().to_owned())
        .bind(to_json(&r.terms))
        .bind(r.status.as_str())
        .bind(r.terms.stock)
        .bind(micros(r.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn member_redemptions(&self, member: &MemberId, limit: i64) -> Result<Vec<Redemption>> {
        let rows = sqlx::query(&format!(
            "SELECT {REDEMPTION_COLS} FROM redemptions WHERE member_id = $1 ORDER BY created_at DESC, redemption_id LIMIT $2"
        ))
        .bind(member.as_str().to_owned())
        .bind(limit.clamp(1, MAX_MEMBER_ROWS))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| redemption_row(&One(r))).collect()
    }

    async fn redemption(&self, member: &MemberId, id: &RedemptionId) -> Result<Option<Redemption>> {
        let row = sqlx::query(&format!(
            "SELECT {REDEMPTION_COLS} FROM redemptions WHERE member_id = $1 AND redemption_id = $2"
        ))
        .bind(member.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| redemption_row(&One(r))).transpose()
    }

    async fn insert_lottery(&self, l: &Lottery) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "INSERT INTO lotteries ({LOTTERY_COLS}) VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7) ON CONFLICT DO NOTHING"
        ))
        .bind(l.id.as_str().to_owned())
        .bind(to_json(&l.terms))
        .bind(l.status.as_str())
        .bind(l.secret.clone())
        .bind(l.terms.budget_minor)
        .bind(micros(l.created_at))
        .bind(micros(l.updated_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for (i, p) in l.terms.prizes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO lottery_prizes (lottery_id, prize_id, position, stock, given) VALUES ($1, $2, $3, $4, 0)",
            )
            .bind(l.id.as_str().to_owned())
            .bind(p.id.clone())
            .bind(i as i64)
            .bind(p.stock)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn lottery(&self, id: &LotteryId) -> Result<Option<Lottery>> {
        let mut conn = self.pool.acquire().await?;
        Ok(lotteries_where(&mut conn, "WHERE lottery_id = $1", &[id.as_str().to_owned()], "").await?.pop())
    }

    async fn lotteries(&self, after: Option<&str>, limit: i64) -> Result<Vec<Lottery>> {
        let mut conn = self.pool.acquire().await?;
        let tail = format!("WHERE lottery_id > $1 ORDER BY lottery_id LIMIT {}", limit.clamp(1, MAX_MEMBER_ROWS));
        lotteries_where(&mut conn, &tail, &[after.unwrap_or("").to_owned()], "").await
    }

    async fn update_lottery(&self, l: &Lottery) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE lotteries SET terms = $2, status = $3, budget_minor = $4, updated_at = $5 \
             WHERE lottery_id = $1 AND ($4 IS NULL OR spent_minor <= $4)",
        )
        .bind(l.id.as_str().to_owned())
        .bind(to_json(&l.terms))
        .bind(l.status.as_str())
        .bind(l.terms.budget_minor)
        .bind(micros(l.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn member_draws(&self, member: &MemberId, lottery: Option<&LotteryId>, limit: i64) -> Result<Vec<Draw>> {
        let filter = if lottery.is_some() { " AND lottery_id = $3" } else { "" };
        let sql =
            format!("SELECT {DRAW_COLS} FROM draws WHERE member_id = $1{filter} ORDER BY at DESC, draw_id LIMIT $2");
        let mut q = sqlx::query(&sql).bind(member.as_str().to_owned()).bind(limit.clamp(1, MAX_MEMBER_ROWS));
        if let Some(l) = lottery {
            q = q.bind(l.as_str().to_owned());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(|r| draw_row(&One(r))).collect()
    }

    async fn draw(&self, member: &MemberId, id: &DrawId) -> Result<Option<Draw>> {
        let row = sqlx::query(&format!("SELECT {DRAW_COLS} FROM draws WHERE member_id = $1 AND draw_id = $2"))
            .bind(member.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| draw_row(&One(r))).transpose()
    }

    async fn reward_report(&self, id: &RewardId) -> Result<RewardReport> {
        super::reward_checks::reward_report(self, id).await
    }

    async fn lottery_report(&self, id: &LotteryId) -> Result<LotteryReport> {
        super::reward_checks::lottery_report(self, id).await
    }

    async fn check_rewards(&self, program: &loyalty_core::Program) -> Result<Vec<String>> {
        super::reward_checks::check(self, program).await
    }
}

/// What a batch's mall and lottery commands need ([`RewardLoad`]): catalogue items and
/// lotteries held for update (PostgreSQL) in id order, then each member's rows.
pub(super) async fn load_rewards_for_write(conn: &mut Conn, wanted: &RewardLoad) -> Result<RewardState> {
    let mut out = RewardState::default();
    let mut ids: Vec<String> = wanted.rewards.iter().map(|r| r.as_str().to_owned()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let row = sqlx::query(&format!("SELECT {REWARD_COLS} FROM rewards WHERE reward_id = $1{FOR_UPDATE}"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(r) = row {
            let r = reward_row(&One(&r))?;
            out.rewards.insert(r.id.clone(), r);
        }
    }
    let mut ids: Vec<String> = wanted.lotteries.iter().map(|r| r.as_str().to_owned()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        for l in lotteries_where(&mut *conn, "WHERE lottery_id = $1", &[id], FOR_UPDATE).await? {
            out.lotteries.insert(l.id.clone(), l);
        }
    }
    for (member, rewards, redemptions) in &wanted.redemptions {
        let list = out.redemptions.entry(member.clone()).or_default();
        let by = [
            ("reward_id", rewards.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>()),
            ("redemption_id", redemptions.iter().map(|r| r.as_str().to_owned()).collect()),
        ];
        for (col, vals) in by {
            for v in vals {
                let rows = sqlx::query(&format!(
                    "SELECT {REDEMPTION_COLS} FROM redemptions WHERE member_id = $1 AND {col} = $2"
                ))
                .bind(member.as_str().to_owned())
                .bind(v)
                .fetch_all(&mut *conn)
                .await?;
                for r in rows {
                    let r = redemption_row(&One(&r))?;
                    if !list.iter().any(|x| x.redemption_id == r.redemption_id) {
                        list.push(r);
                    }
                }
            }
        }
    }
    for (member, lottery, since, draws) in &wanted.draws {
        let list = out.draws.entry(member.clone()).or_default();
        let mut found = sqlx::query(&format!(
            "SELECT {DRAW_COLS} FROM draws WHERE member_id = $1 AND lottery_id = $2 AND at >= $3"
        ))
        .bind(member.as_str().to_owned())
        .bind(lottery.as_str().to_owned())
        .bind(micros(*since))
        .fetch_all(&mut *conn)
        .await?;
        for d in draws {
            found.extend(
                sqlx::query(&format!("SELECT {DRAW_COLS} FROM draws WHERE member_id = $1 AND draw_id = $2"))
                    .bind(member.as_str().to_owned())
                    .bind(d.as_str().to_owned())
                    .fetch_optional(&mut *conn)
                    .await?,
            );
        }
        for r in found {
            let d = draw_row(&One(&r))?;
            if !list.iter().any(|x| x.draw_id == d.draw_id) {
                list.push(d);
            }
        }
    }
    for (member, lots) in &wanted.lots {
        let list = out.lots.entry(member.clone()).or_default();
        for no in lots {
            let row = sqlx::query(&format!("SELECT {LOT_COLS} FROM lots WHERE member_id = $1 AND lot_no = $2"))
                .bind(member.as_str().to_owned())
                .bind(*no)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(r) = row {
                list.push(lot_row(&One(&r))?.1);
            }
        }
    }
    Ok(out)
}

/// Writes a batch's redemptions (their latest state), draws, and the counts they moved.
pub(super) async fn write_rewards(conn: &mut Conn, c: &Changes) -> Result<()> {
    insert_rows(
        conn,
        "redemptions",
        REDEMPTION_COLS,
        " ON CONFLICT (member_id, redemption_id) DO UPDATE SET status = excluded.status, address = excluded.address, tracking = excluded.tracking, updated_at = excluded.updated_at",
        &c.redemptions,
        |s, x| {
            s.push_bind(x.member_id.as_str().to_owned());
            s.push_bind(x.redemption_id.as_str().to_owned());
            s.push_bind(x.reward_id.as_str().to_owned());
            s.push_bind(x.quantity);
            s.push_bind(x.points);
            s.push_bind(x.cash_minor);
            s.push_bind(to_json(&x.item));
            s.push_bind(x.status.as_str());
            s.push_bind(x.address.as_ref().map(to_json));
            s.push_bind(x.tracking.clone());
            s.push_bind(to_json(&x.allocations));
            s.push_bind(to_json(&x.coupons));
            s.push_bind(x.draw.as_ref().map(|d| d.as_str().to_owned()));
            s.push_bind(micros(x.created_at));
            s.push_bind(micros(x.updated_at));
        },
    )
    .await?;
    insert_rows(conn, "draws", DRAW_COLS, "", &c.draws, |s, d| {
        s.push_bind(d.member_id.as_str().to_owned());
        s.push_bind(d.draw_id.as_str().to_owned());
        s.push_bind(d.lottery_id.as_str().to_owned());
        s.push_bind(d.roll.clone());
        s.push_bind(d.picked.clone());
        s.push_bind(d.prize.clone());
        s.push_bind(d.fell_back.clone());
        s.push_bind(d.points_spent);
        s.push_bind(i64::from(d.free));
        s.push_bind(d.cost_minor);
        s.push_bind(micros(d.at));
        s.push_bind(d.coupon.as_ref().map(|x| x.as_str().to_owned()));
        s.push_bind(d.redemption.as_ref().map(|x| x.as_str().to_owned()));
    })
    .await?;
    // An erasure removes the member's shipping addresses with the rest of their personal data.
    for a in c.audit.iter().filter(|a| a.action == "erase") {
        sqlx::query("UPDATE redemptions SET address = NULL WHERE member_id = $1")
            .bind(a.member_id.as_str().to_owned())
            .execute(&mut *conn)
            .await?;
    }
    for (reward, n) in &c.rewards_redeemed {
        sqlx::query("UPDATE rewards SET redeemed = redeemed + $2 WHERE reward_id = $1")
            .bind(reward.as_str().to_owned())
            .bind(*n)
            .execute(&mut *conn)
            .await?;
    }
    for l in &c.lottery_counts {
        sqlx::query("UPDATE lotteries SET draws = draws + $2, spent_minor = spent_minor + $3 WHERE lottery_id = $1")
            .bind(l.lottery.as_str().to_owned())
            .bind(l.draws)
            .bind(l.spent_minor)
            .execute(&mut *conn)
            .await?;
        for (prize, n) in &l.given {
            sqlx::query("UPDATE lottery_prizes SET given = given + $3 WHERE lottery_id = $1 AND prize_id = $2")
                .bind(l.lottery.as_str().to_owned())
                .bind(prize.clone())
                .bind(*n)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
