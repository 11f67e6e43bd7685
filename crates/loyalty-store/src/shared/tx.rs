//! The write transaction ([`crate::Tx`]) on this backend.

use super::dialect::*;
use super::load::*;
use super::rows::*;
use super::tiers::*;
use super::write::*;
use crate::convert::*;
use crate::*;
use loyalty_core::ids::*;
use loyalty_core::ledger::*;
use loyalty_core::order::{Order, Refund};
use loyalty_core::tiers::{Action, ActionKind};
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

#[async_trait::async_trait]
impl Tx for TxImpl {
    async fn load_members(
        &mut self,
        full: &[MemberId],
        partial: &[MemberId],
        due_by: jiff::Timestamp,
    ) -> Result<HashMap<MemberId, MemberRecord>> {
        let strings = |v: &[MemberId]| v.iter().map(|i| i.as_str().to_owned()).collect::<Vec<String>>();
        let out = load_members_for_write(&mut self.tx, &strings(full), &strings(partial), LOCK, micros(due_by)).await?;
        Ok(out.into_values().map(|m| (m.account.member_id().clone(), m)).collect())
    }

    async fn load_growth(&mut self, wanted: &[GrowthLoad]) -> Result<LoadedGrowth> {
        load_growth_for_write(&mut self.tx, wanted).await
    }

    async fn load_actions(
        &mut self,
        member: &MemberId,
        kind: ActionKind,
        since: jiff::Timestamp,
    ) -> Result<Vec<Action>> {
        select_actions(&mut self.tx, member, kind, micros(since), None).await
    }

    async fn find_action(&mut self, member: &MemberId, kind: ActionKind, id: &str) -> Result<Option<Action>> {
        Ok(select_actions(&mut self.tx, member, kind, 0, Some(id)).await?.pop())
    }

    async fn load_orders(&mut self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>> {
        let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        // Orders are keyed by member first; the order id alone is routed through
        // order_keys, so both lookups use a primary key (never a scan of orders).
        let cols = ORDER_COLS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ");
        let head = format!("SELECT {cols} FROM order_keys k JOIN orders o ON o.member_id = k.member_id AND o.order_id = k.order_id WHERE k.order_id");
        let mut out = HashMap::new();
        for r in select_in(&mut self.tx, ORDER_COLS, "orders", &head, &ids, "", &[]).await?.rows() {
            let o = order_row(&r)?;
            out.insert(o.order.id.clone(), o);
        }
        Ok(out)
    }

    async fn load_refunds(&mut self, orders: &[(MemberId, OrderId)]) -> Result<Vec<Refund>> {
        let mut out = Vec::new();
        for (m, o) in orders {
            let rows = sqlx::query(&format!("SELECT {REFUND_COLS} FROM refunds WHERE member_id = $1 AND order_id = $2 ORDER BY created_at, refund_id"))
                .bind(m.as_str().to_owned())
                .bind(o.as_str().to_owned())
                .fetch_all(&mut *self.tx)
                .await?;
            for r in rows {
                out.push(refund_row(&One(&r))?);
            }
        }
        Ok(out)
    }

    async fn load_holds(&mut self, member: &MemberId, hold_ids: &[HoldId], order_ids: &[String]) -> Result<Vec<Hold>> {
        let mut out = Vec::new();
        let ids: Vec<String> = hold_ids.iter().map(|h| h.as_str().to_owned()).collect();
        for (col, vals) in [("hold_id", &ids), ("order_id", &order_ids.to_vec())] {
            for chunk in vals.chunks(IN_CHUNK) {
                let mut qb: QueryBuilder<Db> =
                    QueryBuilder::new(format!("SELECT {HOLD_COLS} FROM holds WHERE member_id = "));
                qb.push_bind(member.as_str().to_owned());
                qb.push(format!(" AND {col} IN ("));
                let mut sep = qb.separated(", ");
                for v in chunk {
                    sep.push_bind(v.clone());
                }
                qb.push(")");
                for r in qb.build().fetch_all(&mut *self.tx).await? {
                    out.push(hold_row(&One(&r))?.1);
                }
            }
        }
        Ok(out)
    }

    async fn load_templates(
        &mut self,
        ids: &[TemplateId],
    ) -> Result<HashMap<TemplateId, loyalty_core::coupons::Template>> {
        super::coupons::load_templates_for_write(&mut self.tx, ids).await
    }

    async fn load_codes(
        &mut self,
        codes: &[String],
    ) -> Result<HashMap<String, loyalty_core::coupons::code::OneTimeCode>> {
        super::coupons::load_codes_for_write(&mut self.tx, codes).await
    }

    async fn load_coupons(
        &mut self,
        wanted: &[(MemberId, CouponLoad)],
    ) -> Result<HashMap<MemberId, Vec<loyalty_core::coupons::Coupon>>> {
        super::coupons::load_coupons_for_write(&mut self.tx, wanted).await
    }

    async fn load_adjustments(&mut self, keys: &[(MemberId, AdjustmentId)]) -> Result<Vec<Adjustment>> {
        let mut out = Vec::new();
        for (m, a) in keys {
            let row = sqlx::query(
                "SELECT points, reason, actor, created_at FROM adjustments WHERE member_id = $1 AND adjustment_id = $2",
            )
            .bind(m.as_str().to_owned())
            .bind(a.as_str().to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
            if let Some(r) = row {
                out.push(Adjustment {
                    member_id: m.clone(),
                    adjustment_id: a.clone(),
                    points: loyalty_core::Points::new(r.try_get("points")?),
                    reason: r.try_get("reason")?,
                    actor: r.try_get("actor")?,
                    created_at: ts("adjustments", r.try_get("created_at")?)?,
                });
            }
        }
        Ok(out)
    }

    async fn load_insight_facts(
        &mut self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, loyalty_core::coupons::InsightFacts>> {
        insight_facts_for_write(&mut self.tx, members).await
    }

    async fn load_rewards(&mut self, wanted: &crate::rewards::RewardLoad) -> Result<crate::rewards::RewardState> {
        super::rewards::load_rewards_for_write(&mut self.tx, wanted).await
    }

    async fn load_memberships(
        &mut self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, (loyalty_core::membership::Membership, Option<jiff::Timestamp>)>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::memberships::load_memberships(&mut self.tx, &ids, LOCK).await
    }

    async fn load_plan_savings(&mut self, wanted: &[(MemberId, jiff::Timestamp)]) -> Result<HashMap<MemberId, i64>> {
        super::memberships::load_savings(&mut self.tx, wanted).await
    }

    async fn load_checkins(
        &mut self,
        members: &[MemberId],
        from: jiff::civil::Date,
    ) -> Result<HashMap<MemberId, Vec<loyalty_core::engagement::Day>>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::checkins::load_checkins(&mut self.tx, &ids, from).await
    }

    async fn load_tasks(&mut self) -> Result<Vec<loyalty_core::engagement::Task>> {
        super::tasks::load_active_tasks(&mut self.tx).await
    }

    async fn load_task_states(
        &mut self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, loyalty_core::engagement::TaskState>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::tasks::load_states(&mut self.tx, &ids).await
    }

    async fn members_with_orders(&mut self, members: &[MemberId]) -> Result<std::collections::HashSet<MemberId>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::tasks::members_with_orders(&mut self.tx, &ids).await
    }

    async fn load_gifts(
        &mut self,
        members: &[MemberId],
        since: jiff::Timestamp,
    ) -> Result<HashMap<MemberId, Vec<(loyalty_core::engagement::gifts::GiftKind, String)>>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::gifts::load_gifts(&mut self.tx, &ids, micros(since)).await
    }

    async fn load_referral_codes(&mut self, codes: &[String]) -> Result<HashMap<String, MemberId>> {
        super::referrals::load_codes(&mut self.tx, codes).await
    }

    async fn load_member_codes(&mut self, members: &[MemberId]) -> Result<HashMap<MemberId, String>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::referrals::load_member_codes(&mut self.tx, &ids).await
    }

    async fn load_referrals(
        &mut self,
        invitees: &[MemberId],
    ) -> Result<Vec<loyalty_core::engagement::referral::Referral>> {
        let ids: Vec<String> = invitees.iter().map(|m| m.as_str().to_owned()).collect();
        super::referrals::load_referrals(&mut self.tx, &ids).await
    }

    async fn load_referrer_month(&mut self, referrers: &[MemberId], month: i64) -> Result<HashMap<MemberId, i64>> {
        let ids: Vec<String> = referrers.iter().map(|m| m.as_str().to_owned()).collect();
        super::referrals::load_referrer_month(&mut self.tx, &ids, month).await
    }

    async fn load_expiry_notices(&mut self, members: &[MemberId]) -> Result<HashMap<MemberId, jiff::civil::Date>> {
        let ids: Vec<String> = members.iter().map(|m| m.as_str().to_owned()).collect();
        super::events::load_notices(&mut self.tx, &ids).await
    }

    async fn write(&mut self, changes: &Changes, recorded_at: jiff::Timestamp) -> Result<()> {
        write_changes(&mut self.tx, changes, micros(recorded_at)).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let log = self.log();
        self.tx.commit().await?;
        super::sync_log_file(log.as_deref()).await
    }

    async fn commit_deferred(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    async fn commit_mark(&mut self) -> Result<Option<(i64, i64)>> {
        self.mark().await
    }
}
