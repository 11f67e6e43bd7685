//! The report's section on coupons, the points mall and the lottery: per coupon template what
//! became of its coupons and what they cost and brought, per catalogue item its redemptions and
//! stock, per lottery its draws and prizes.

use crate::report::table;
use crate::svg;
use loyalty_core::coupons::Template;
use loyalty_core::rewards::{Lottery, Reward};
use loyalty_core::Program;
use loyalty_store::coupons::CouponReport;
use loyalty_store::rewards::{LotteryReport, RewardReport};
use loyalty_store::Store;
use std::fmt::Write;

/// Most templates, items or lotteries the page lists (the first by id).
pub const MAX_LISTED: i64 = 200;

/// What the section shows, read from the store.
#[derive(Default)]
pub struct RewardsData {
    pub coupons: Vec<(Template, CouponReport)>,
    pub rewards: Vec<(Reward, RewardReport)>,
    pub lotteries: Vec<(Lottery, LotteryReport)>,
}

pub async fn gather(store: &dyn Store, now: jiff::Timestamp) -> anyhow::Result<RewardsData> {
    let mut out = RewardsData::default();
    for t in store.templates(None, MAX_LISTED).await? {
        let r = store.coupon_report(&t.id, now).await?;
        out.coupons.push((t, r));
    }
    for r in store.rewards(None, MAX_LISTED).await? {
        let rep = store.reward_report(&r.id).await?;
        out.rewards.push((r, rep));
    }
    for l in store.lotteries(None, MAX_LISTED).await? {
        let rep = store.lottery_report(&l.id).await?;
        out.lotteries.push((l, rep));
    }
    Ok(out)
}

fn pct(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// The section's HTML: a chart of coupon use and three tables.
pub fn render(data: &RewardsData, program: &Program) -> String {
    let money = |minor: i64| format!("{:.2}", minor as f64 / program.minor_per_unit as f64);
    let mut html = String::from("<h2>Coupons, points mall and lottery</h2>");
    if data.coupons.is_empty() && data.rewards.is_empty() && data.lotteries.is_empty() {
        html.push_str("<p>No coupon templates, rewards or lotteries yet.</p>");
        return html;
    }
    if !data.coupons.is_empty() {
        let bars: Vec<(String, f64)> = data
            .coupons
            .iter()
            .map(|(t, r)| {
                (t.terms.name.clone(), if r.issued == 0 { 0.0 } else { 100.0 * r.used as f64 / r.issued as f64 })
            })
            .collect();
        let _ = write!(
            html,
            "<div class=\"grid\"><figure id=\"coupon-use\"><figcaption>Coupon use rate by template (used ÷ issued, %)</figcaption>{}</figure></div>",
            svg::bar_chart("Coupon use rate", &bars, |v| format!("{v:.1}%"))
        );
        let head = [
            "template",
            "name",
            "issued",
            "claimed",
            "used",
            "expired",
            "restored",
            "use rate",
            "discount",
            "orders",
            "goods value",
        ];
        html.push_str(&table(
            &head,
            data.coupons.iter().map(|(t, r)| {
                vec![
                    t.id.to_string(),
                    t.terms.name.clone(),
                    r.issued.to_string(),
                    r.claimed.to_string(),
                    r.used.to_string(),
                    r.expired.to_string(),
                    r.restored.to_string(),
                    pct(r.used, r.issued),
                    money(r.discount_minor),
                    r.orders.to_string(),
                    money(r.goods_minor),
                ]
            }),
        ));
    }
    if !data.rewards.is_empty() {
        html.push_str("<h3>Points mall</h3>");
        let head = [
            "reward",
            "name",
            "kind",
            "price (points)",
            "redemptions",
            "units",
            "cancelled",
            "points consumed",
            "stock left",
        ];
        html.push_str(&table(
            &head,
            data.rewards.iter().map(|(w, r)| {
                vec![
                    w.id.to_string(),
                    w.terms.name.clone(),
                    w.terms.item.kind().to_owned(),
                    w.terms.price_points.to_string(),
                    r.redemptions.to_string(),
                    r.units.to_string(),
                    r.cancelled_units.to_string(),
                    r.points.to_string(),
                    r.stock_left.map_or_else(|| "unlimited".into(), |s| s.to_string()),
                ]
            }),
        ));
    }
    if !data.lotteries.is_empty() {
        html.push_str("<h3>Lotteries</h3>");
        let head = [
            "lottery",
            "name",
            "draws",
            "members",
            "points consumed",
            "prizes given",
            "prize cost",
            "budget",
            "fell back",
        ];
        html.push_str(&table(
            &head,
            data.lotteries.iter().map(|(l, r)| {
                let given: i64 = r.prizes.iter().filter(|(p, _, _)| *p != l.terms.fallback).map(|(_, n, _)| n).sum();
                vec![
                    l.id.to_string(),
                    l.terms.name.clone(),
                    r.draws.to_string(),
                    r.members.to_string(),
                    r.points.to_string(),
                    given.to_string(),
                    money(r.spent_minor),
                    l.terms.budget_minor.map_or_else(|| "none".into(), money),
                    r.fell_back.to_string(),
                ]
            }),
        ));
    }
    html
}
